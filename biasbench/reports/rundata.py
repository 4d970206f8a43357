"""Everything a report reads from a run directory, loaded once: manifest, score tables, exclusions, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from biasbench.core.errors import DataError
from biasbench.core.jsonio import read_json_object
from biasbench.core.rundir import Manifest, RunDir, open_run_dir, parse_manifest

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
    """manifest.json as JSON (the typed view is :attr:`info`)."""
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

    @cached_property
    def info(self) -> Manifest:
        """The typed manifest."""
        return parse_manifest(self.manifest, f"{self.run_dir}/manifest.json")

    @property
    def git_sha(self) -> str:
        """The commit the run was made from ('' when unknown)."""
        return self.info.git_sha

    @property
    def pool(self) -> Mapping[str, Any]:
        return self.info.pool

    @property
    def axes(self) -> tuple[str, ...]:
        """The pool's demographic axes, e.g. ('gender', 'race')."""
        return self.info.axes

    @property
    def is_demonstration(self) -> bool:
        return self.info.pool_purpose == "demonstration"

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return tuple(ModelInfo(m.name, m.adapter, m.fingerprint, m.calibration) for m in self.info.models)

    @property
    def calibration_models(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models if m.calibration)

    @property
    def task_versions(self) -> dict[str, str]:
        """Task name -> spec version, from the manifest."""
        return {t.name: t.version for t in self.info.tasks}

    @property
    def task_digests(self) -> dict[str, str]:
        """Task name -> content digest (item ids, prompts, rotations, parser version); '' for older runs."""
        return {t.name: t.content_digest for t in self.info.tasks}

    def voices_per_group(self) -> dict[tuple[str, str], int]:
        """(axis or 'cell', group) -> number of voices that spoke, from the manifest's pool and voices_used."""
        counts: dict[tuple[str, str], int] = {}
        for voice in self.info.spoken_voices():
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
    run = open_run_dir(run_dir)
    manifest = run.manifest()
    scores: dict[str, pd.DataFrame] = {}
    if run.scores_dir.is_dir():
        stems = sorted({p.stem for p in run.scores_dir.iterdir() if p.suffix in (".csv", ".parquet")})
        for stem in stems:
            frame = read_table(run.scores_dir, stem)
            if frame is not None:
                scores[stem] = frame
    if "summary" not in scores:
        summary = read_table(run.path, "summary")
        if summary is not None:
            scores["summary"] = summary
    audit = {name: t for name in AUDIT_TABLES if (t := read_table(run.audit_dir, name)) is not None}
    return RunData(
        run_dir=run.path,
        manifest=manifest.to_json(),
        scores=scores,
        exclusions=read_table(run.path, Path(RunDir.EXCLUSIONS_CSV).stem),
        audit=audit,
        parity=read_json_object(run.parity_json),
    )
