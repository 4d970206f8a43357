"""Read a run directory's tidy results and manifest into what the scorer needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biasbench.core.details import from_json_column, is_detail_column, table_to_frame
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


NUMERIC_COLUMNS = ("score", "permutation", "repeat")
"""Required columns that are numbers; the other required columns are strings (categoricals in memory)."""


def load_run(run_dir: Path, *, scoring: bool = False) -> RunData:
    """Load ``run_dir/results.parquet`` (or results.csv) and ``manifest.json``; one-line errors when unusable.

    ``scoring``: read only what the scorer reads (:func:`scoring_columns`: the required columns and the
    typed detail columns, or the raw details of a table written before those existed, parsed once)."""
    run = open_run_dir(run_dir)
    frame = _read_results(run, scoring)
    return run_data(frame, run.manifest())


def scoring_columns(names: Sequence[str]) -> list[str]:
    """The columns of a results table (``names``) the scorer reads: required ones, typed detail columns,
    and ``details`` only when the table has no typed detail columns (written before they existed)."""
    typed = [n for n in names if is_detail_column(n)]
    return [*REQUIRED_COLUMNS, *typed, *(["details"] if not typed and "details" in names else [])]


def run_data(frame: pd.DataFrame, manifest: Manifest | Mapping[str, Any]) -> RunData:
    """Validate a result table against a manifest (typed, or a dict) and build :class:`RunData`.

    The frame is not copied: required string columns become categoricals with sorted categories (a code per
    row; '' for missing), and a table with ``details`` JSON but no typed detail columns gets them (each
    distinct details string parsed once, see core.details)."""
    if not isinstance(manifest, Manifest):
        manifest = parse_manifest(manifest)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(f"results table lacks columns {', '.join(missing)}", hint="re-run `biasbench run` with this version")
    columns: dict[str, pd.Series] = {name: frame[name] for name in frame.columns}
    for column in REQUIRED_COLUMNS:
        if column not in NUMERIC_COLUMNS:
            columns[column] = _categorical(frame[column])
    columns["permutation"] = _int64(frame["permutation"])
    columns["repeat"] = _int64(frame["repeat"])
    columns["score"] = pd.to_numeric(frame["score"], errors="coerce").astype("float64")
    if "details" in frame.columns and not any(is_detail_column(c) for c in frame.columns):
        columns.update(from_json_column(frame["details"]).items())
    for name in list(columns):
        if is_detail_column(name) and columns[name].dtype == object and _all_strings(columns[name]):
            columns[name] = columns[name].astype("category")
    frame = pd.DataFrame(columns, copy=False)
    unknown = sorted(set(frame["outcome"].cat.categories[frame["outcome"].cat.codes.unique()]) - set(OUTCOMES))
    if unknown:
        raise DataError(f"results table has unknown outcomes {', '.join(unknown)}; expected {', '.join(OUTCOMES)}")
    axes = manifest.axes or _axes_from_rows(frame)
    voices = manifest.voice_labels()
    answer_types = {t.name: t.answer_type for t in manifest.tasks}
    metrics = {t.name: tuple(str(m) for m in t.config.get("metrics") or ()) for t in manifest.tasks}
    calibration = manifest.calibration_models
    planted = {m.name: dict(m.describe.get("config") or {}) for m in manifest.models if m.name in calibration}
    return RunData(frame, axes, manifest.seed, manifest.pool_purpose, voices, answer_types, calibration, metrics, planted)


def _categorical(series: pd.Series) -> pd.Series:
    """The column as a categorical of strings with sorted categories ('' for missing): group-bys and sorts
    then order groups as the strings would, and a row costs a small integer code."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype("category")
    categories = series.cat.categories
    if categories.dtype != object and not pd.api.types.is_string_dtype(categories.dtype):
        series = series.cat.rename_categories([str(c) for c in categories])
    if series.isna().any():
        if "" not in series.cat.categories:
            series = series.cat.add_categories([""])
        series = series.fillna("")
    used = series.cat.remove_unused_categories()
    return used.cat.reorder_categories(sorted(used.cat.categories, key=str))


def _int64(series: pd.Series) -> pd.Series:
    if series.dtype == "int64":
        return series
    return pd.to_numeric(series, errors="raise").astype("int64")


def _all_strings(series: pd.Series) -> bool:
    present = series.dropna()
    return bool(len(present)) and all(isinstance(v, str) for v in pd.unique(present.to_numpy()))


def _axes_from_rows(frame: pd.DataFrame) -> tuple[str, ...]:
    audio = frame[frame["voice_id"] != TEXT_VOICE]
    return tuple(axis for axis in AXES if (audio[axis] != "").any())


def _read_results(run: RunDir, scoring: bool = False) -> pd.DataFrame:
    run_dir, parquet, csv = run.path, run.results_parquet, run.results_csv
    try:
        if parquet.is_file():
            if not scoring:
                return pd.read_parquet(parquet)
            schema = pq.read_schema(parquet)
            names = schema.names
            wanted = [c for c in scoring_columns(names) if c in names]
            strings = [c for c in REQUIRED_COLUMNS if c not in NUMERIC_COLUMNS]
            textual = [c for c in wanted if pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type)]
            dictionary = [c for c in textual if c in strings or is_detail_column(c)]  # never materialise every row's string
            return table_to_frame(pq.read_table(parquet, columns=wanted, read_dictionary=dictionary), categorical=strings)
        if csv.is_file():
            frame = pd.read_csv(csv, keep_default_na=False, na_values={"score": [""]}, dtype={"item_id": str, "voice_id": str})
            return frame[[c for c in scoring_columns(list(frame.columns)) if c in frame.columns]] if scoring else frame
    except Exception as exc:  # pyarrow / parser errors name the problem
        raise DataError(f"cannot read the results table in '{run_dir}': {str(exc).splitlines()[0]}") from None
    raise DataError(f"'{run_dir}' has no results.parquet or results.csv", hint="run `biasbench run` first (or resume it)")
