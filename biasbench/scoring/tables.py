"""Typed score tables: records -> DataFrame in the schema's column order and dtypes; byte-stable files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from biasbench.core.files import atomic_write
from biasbench.scoring.schema import TABLES, TableSpec

_PANDAS_DTYPES = {"string": "object", "float64": "float64", "int64": "int64", "bool": "bool"}


def to_frame(spec: TableSpec, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with exactly the spec's columns and dtypes (float nulls as NaN)."""
    frame = pd.DataFrame(list(records), columns=list(spec.column_names))
    for column in spec.columns:
        if column.dtype == "float64":
            frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce").astype("float64")
        elif column.dtype == "int64":
            frame[column.name] = frame[column.name].fillna(0).astype("int64")
        elif column.dtype == "bool":
            frame[column.name] = frame[column.name].fillna(False).astype(bool)
        else:
            values = frame[column.name].astype(object)
            frame[column.name] = values.where(values.notna(), "").astype(str).astype(object)
    return frame


def write_table(folder: Path, name: str, frame: pd.DataFrame) -> None:
    """Write ``name.csv`` and ``name.parquet`` atomically; floats printed with full precision."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / f"{name}.csv", lambda path: frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n"))
    _atomic(folder / f"{name}.parquet", lambda path: frame.to_parquet(path, index=False))


def _atomic(path: Path, write) -> None:
    atomic_write(path, write)


def empty(name: str) -> pd.DataFrame:
    """An empty table of ``name`` with its columns."""
    return to_frame(TABLES[name], [])


def round_floats(frame: pd.DataFrame, digits: int = 12) -> pd.DataFrame:
    """Round float columns so that tiny summation-order differences never reach the files."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == np.float64:
            out[column] = out[column].round(digits)
    return out
