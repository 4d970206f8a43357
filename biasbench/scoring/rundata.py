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
from biasbench.runner.manifest import require_manifest

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
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory '{run_dir}' does not exist", hint="pass the --out folder of `biasbench run`")
    manifest = require_manifest(run_dir)
    frame = _read_results(run_dir)
    return run_data(frame, manifest)


def run_data(frame: pd.DataFrame, manifest: Mapping[str, Any]) -> RunData:
    """Validate a result table against a manifest dict and build :class:`RunData`."""
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
    pool = manifest.get("pool") or {}
    axes = tuple(pool.get("axes") or _axes_from_rows(frame))
    voices = {
        str(v.get("id")): {axis: str(label.get("value", "")) for axis, label in (v.get("labels") or {}).items()}
        for v in pool.get("voices") or []
    }
    used = _voice_ids(manifest.get("voices_used"))
    if used:
        voices = {v: labels for v, labels in voices.items() if v in used}
    answer_types = {str(t.get("name")): str(t.get("answer_type", "multiple_choice")) for t in manifest.get("tasks") or []}
    metrics = {str(t.get("name")): tuple(str(m) for m in (t.get("config") or {}).get("metrics") or ()) for t in manifest.get("tasks") or []}
    calibration = tuple(
        sorted(str(m.get("name")) for m in manifest.get("models") or [] if (m.get("capabilities") or {}).get("calibration"))
    )
    try:
        seed = int(manifest.get("seed", 0))
    except (TypeError, ValueError):
        raise DataError(f"manifest seed '{manifest.get('seed')}' is not an integer") from None
    planted = {
        str(m.get("name")): dict((m.get("describe") or {}).get("config") or {})
        for m in manifest.get("models") or [] if str(m.get("name")) in calibration
    }
    return RunData(frame, axes, seed, str(pool.get("purpose", "research")), voices, answer_types, calibration, metrics, planted)


def _voice_ids(value: Any) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {str(v.get("id")) if isinstance(v, dict) else str(v) for v in value}


def _axes_from_rows(frame: pd.DataFrame) -> tuple[str, ...]:
    audio = frame[frame["voice_id"] != TEXT_VOICE]
    return tuple(axis for axis in AXES if (audio[axis] != "").any())


def _read_results(run_dir: Path) -> pd.DataFrame:
    parquet, csv = run_dir / "results.parquet", run_dir / "results.csv"
    try:
        if parquet.is_file():
            return pd.read_parquet(parquet)
        if csv.is_file():
            return pd.read_csv(csv, keep_default_na=False, na_values={"score": [""]}, dtype={"item_id": str, "voice_id": str})
    except Exception as exc:  # pyarrow / parser errors name the problem
        raise DataError(f"cannot read the results table in '{run_dir}': {str(exc).splitlines()[0]}") from None
    raise DataError(f"'{run_dir}' has no results.parquet or results.csv", hint="run `biasbench run` first (or resume it)")
