"""Read a run directory's tidy results and manifest into what the scorer needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from biasbench.core.errors import DataError
from biasbench.core.result import OUTCOMES, TEXT_VOICE
from biasbench.core.voice import AXES
from biasbench.core.rundir import Manifest, RunDir, open_run_dir, parse_manifest

REQUIRED_COLUMNS = (
    "model", "task", "modality", "item_id", "item_group", "voice_id", "cell", "permutation", "repeat",
    "parsed", "target", "outcome", "score", *AXES,
)
"""Result columns the scorer reads (a subset of core.result.RESULT_COLUMNS)."""


@dataclass(frozen=True)
class RunData:
    """The scorer's view of one run."""

    frame: pd.DataFrame
    """Result rows (the columns of :data:`REQUIRED_COLUMNS`, plus any others present)."""
    axes: tuple[str, ...]
    """Axes the voice pool is balanced over (manifest pool.axes)."""
    seed: int
    """The run's seed (manifest seed)."""
    pool_purpose: str = "research"
    """'research' or 'demonstration'."""
    pool_voices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """voice id -> {axis: value} for every voice of the pool (to spot empty groups)."""
    answer_types: Mapping[str, str] = field(default_factory=dict)
    """task name -> 'multiple_choice', 'open_ended' or 'transcription'."""
    calibration_models: tuple[str, ...] = ()
    """Models run by a calibration adapter (planted behaviour)."""
    task_metrics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """task name -> its task-specific metric functions as 'module:function' (manifest tasks[].config.metrics)."""
    planted: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """calibration model -> its recorded configuration (manifest models[].describe.config: axis, planted, offsets)."""

    def __post_init__(self) -> None:
        for name in ("pool_voices", "answer_types", "task_metrics", "planted"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


def load_run(run_dir: Path) -> RunData:
    """Load ``run_dir/results.parquet`` (or results.csv) and ``manifest.json``; one-line errors when unusable."""
    run = open_run_dir(run_dir)
    frame = _read_results(run)
    return run_data(frame, run.manifest())


def run_data(frame: pd.DataFrame, manifest: Manifest | Mapping[str, Any]) -> RunData:
    """Validate a result table against a manifest (typed, or a dict) and build :class:`RunData`."""
    if not isinstance(manifest, Manifest):
        manifest = parse_manifest(manifest)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(f"results table lacks columns {', '.join(missing)}", hint="re-run `biasbench run` with this version")
    frame = frame.copy()
    for column in REQUIRED_COLUMNS:
        if column not in ("score", "permutation", "repeat"):
            frame[column] = frame[column].fillna("").astype(str)
    frame["permutation"] = pd.to_numeric(frame["permutation"], errors="raise").astype("int64")
    frame["repeat"] = pd.to_numeric(frame["repeat"], errors="raise").astype("int64")
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce").astype("float64")
    unknown = sorted(set(frame["outcome"]) - set(OUTCOMES))
    if unknown:
        raise DataError(f"results table has unknown outcomes {', '.join(unknown)}; expected {', '.join(OUTCOMES)}")
    axes = manifest.axes or _axes_from_rows(frame)
    voices = manifest.voice_labels()
    answer_types = {t.name: t.answer_type for t in manifest.tasks}
    metrics = {t.name: tuple(str(m) for m in t.config.get("metrics") or ()) for t in manifest.tasks}
    calibration = manifest.calibration_models
    planted = {m.name: dict(m.describe.get("config") or {}) for m in manifest.models if m.name in calibration}
    return RunData(frame, axes, manifest.seed, manifest.pool_purpose, voices, answer_types, calibration, metrics, planted)


def _axes_from_rows(frame: pd.DataFrame) -> tuple[str, ...]:
    audio = frame[frame["voice_id"] != TEXT_VOICE]
    return tuple(axis for axis in AXES if (audio[axis] != "").any())


def _read_results(run: RunDir) -> pd.DataFrame:
    run_dir, parquet, csv = run.path, run.results_parquet, run.results_csv
    try:
        if parquet.is_file():
            return pd.read_parquet(parquet)
        if csv.is_file():
            return pd.read_csv(csv, keep_default_na=False, na_values={"score": [""]}, dtype={"item_id": str, "voice_id": str})
    except Exception as exc:  # pyarrow / parser errors name the problem
        raise DataError(f"cannot read the results table in '{run_dir}': {str(exc).splitlines()[0]}") from None
    raise DataError(f"'{run_dir}' has no results.parquet or results.csv", hint="run `biasbench run` first (or resume it)")
