"""Everything a report reads from a run directory, loaded once: manifest, score tables, exclusions, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from biasbench.core.errors import DataError
from biasbench.core.jsonio import read_json_object
from biasbench.runner.manifest import require_manifest

AUDIT_TABLES = ("voice_audit", "voice_audit_voices", "voice_audit_cells")
"""Voice-audit tables under ``run_dir/audit/`` (CSV)."""


def read_table(folder: Path, stem: str) -> pd.DataFrame | None:
    """``folder/stem.parquet`` (preferred) or ``.csv``; None when neither exists; unreadable → DataError."""
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", _read_csv)):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            try:
                return reader(path)
            except Exception as exc:  # pyarrow and the csv parser raise many types
                raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


@dataclass(frozen=True)
class ModelInfo:
    """One evaluated model as the manifest records it."""

    name: str
    """Model label from the config."""
    adapter: str
    """Adapter registry name."""
    fingerprint: str
    """Adapter fingerprint."""
    calibration: bool
    """True for a calibration instrument (planted behaviour, not a real model)."""


@dataclass(frozen=True)
class RunData:
    """A run directory's report inputs. Tables absent from the directory are simply not in ``scores``."""

    run_dir: Path
    """The run directory."""
    manifest: Mapping[str, Any] = field(hash=False)
    """manifest.json."""
    scores: Mapping[str, pd.DataFrame] = field(hash=False)
    """Score tables by name (scores/<name>.parquet|csv)."""
    exclusions: pd.DataFrame | None = field(default=None, hash=False)
    """exclusions.csv (None when the run wrote none)."""
    audit: Mapping[str, pd.DataFrame] = field(default_factory=dict, hash=False)
    """Voice-audit tables by name (see :data:`AUDIT_TABLES`)."""
    parity: Mapping[str, Any] | None = field(default=None, hash=False)
    """audit/parity.json (None when the audit did not run)."""

    def __post_init__(self) -> None:
        for name in ("manifest", "scores", "audit"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def git_sha(self) -> str:
        """The commit the run was made from ('' when unknown)."""
        git = self.manifest.get("git")
        return str(self.manifest.get("git_sha") or (git.get("sha", "") if isinstance(git, Mapping) else ""))

    @property
    def pool(self) -> Mapping[str, Any]:
        return self.manifest.get("pool") or {}

    @property
    def axes(self) -> tuple[str, ...]:
        """The pool's demographic axes, e.g. ('gender', 'race')."""
        return tuple(self.pool.get("axes") or ())

    @property
    def is_demonstration(self) -> bool:
        return self.pool.get("purpose") == "demonstration"

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        out = []
        for entry in self.manifest.get("models") or ():
            capabilities = entry.get("capabilities") or {}
            out.append(
                ModelInfo(
                    name=str(entry.get("name", "")),
                    adapter=str(entry.get("adapter", "")),
                    fingerprint=str(entry.get("fingerprint", "")),
                    calibration=bool(capabilities.get("calibration", False)),
                )
            )
        return tuple(out)

    @property
    def calibration_models(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models if m.calibration)

    @property
    def task_versions(self) -> dict[str, str]:
        """Task name -> spec version, from the manifest."""
        return {str(t.get("name")): str(t.get("version", "")) for t in self.manifest.get("tasks") or ()}

    def voices_per_group(self) -> dict[tuple[str, str], int]:
        """(axis or 'cell', group) -> number of voices that spoke, from the manifest's pool and voices_used."""
        used = set(self.manifest.get("voices_used") or ())
        voices = [v for v in self.pool.get("voices") or () if not used or v.get("id") in used]
        counts: dict[tuple[str, str], int] = {}
        for voice in voices:
            labels = voice.get("labels") or {}
            values = []
            for axis in self.axes:
                value = str((labels.get(axis) or {}).get("value", ""))
                values.append(value)
                counts[(axis, value)] = counts.get((axis, value), 0) + 1
            cell = "|".join(values)
            counts[("cell", cell)] = counts.get(("cell", cell), 0) + 1
        return counts

    def table(self, name: str) -> pd.DataFrame | None:
        """Score table ``name`` or None."""
        return self.scores.get(name)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory; a missing manifest.json means it is not a run directory (DataError)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory not found: {run_dir}")
    manifest = require_manifest(run_dir)
    scores: dict[str, pd.DataFrame] = {}
    score_dir = run_dir / "scores"
    if score_dir.is_dir():
        stems = sorted({p.stem for p in score_dir.iterdir() if p.suffix in (".csv", ".parquet")})
        for stem in stems:
            frame = read_table(score_dir, stem)
            if frame is not None:
                scores[stem] = frame
    if "summary" not in scores:
        summary = read_table(run_dir, "summary")
        if summary is not None:
            scores["summary"] = summary
    audit_dir = run_dir / "audit"
    audit = {name: t for name in AUDIT_TABLES if (t := read_table(audit_dir, name)) is not None}
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        scores=scores,
        exclusions=read_table(run_dir, "exclusions"),
        audit=audit,
        parity=read_json_object(audit_dir / "parity.json"),
    )
