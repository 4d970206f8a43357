"""Where shipped specs live: the project's top-level ``voice_pools/``, ``tasks/`` and ``configs/``.

In a source checkout (editable install) they sit beside the package; a wheel carries copies in
``biasbench/_shipped/`` (setup.py's build step).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """Folder of shipped specs of ``kind`` ('voice_pools', 'tasks' or 'configs'): the copy inside an
    installed wheel, else the folder of the source checkout the package lives in."""
    packed = PACKAGE_DIR / "_shipped" / kind
    if packed.is_dir():
        return packed
    return PACKAGE_DIR.parent / kind


def shipped_specs(kind: str) -> dict[str, Path]:
    """Spec name (file stem) -> path for every ``*.yaml`` of ``kind``."""
    folder = shipped_dir(kind)
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def resolve_spec(ref: str | Path, kind: str, base_dir: Path | None = None) -> Path | None:
    """A spec path for ``ref``: an existing path (relative to ``base_dir`` or CWD) or a shipped name."""
    text = str(ref)
    candidates = [Path(text)]
    if base_dir is not None:
        candidates.insert(0, base_dir / text)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return shipped_specs(kind).get(Path(text).stem if text.endswith((".yaml", ".yml")) else text)
