"""What the leaderboard page links to travels with it: each run's manifest is copied beside the page.

Links to a run directory elsewhere on disk break once the leaderboard folder is published; a copy under
``manifests/`` keeps every link working wherever the folder goes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from biasbench.core.errors import DataError
from biasbench.core.hashing import stable_hash

if TYPE_CHECKING:
    from biasbench.reports.rundata import RunData

MANIFESTS_DIR = "manifests"
"""Folder (inside the leaderboard's output) that holds the copied manifests."""


def copy_manifest(run: "RunData", out: Path) -> str:
    """Copy the run's manifest.json to ``out/manifests/<run>-<hash>/manifest.json``; returns that path
    relative to ``out`` (POSIX). The hash of the run directory keeps two runs named alike apart."""
    source = Path(run.run_dir) / "manifest.json"
    folder = f"{run.run_id}-{stable_hash(str(Path(run.run_dir).resolve()))[:8]}"
    target = Path(out) / MANIFESTS_DIR / folder / "manifest.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        raise DataError(f"cannot copy {source} beside the leaderboard: {exc.strerror or exc}") from None
    return f"{MANIFESTS_DIR}/{folder}/manifest.json"
