"""A report table: a named data frame plus how to show it (number formats, colour scales, why empty)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "text": "@",
        "int": "0",
        "percent": "0.0%",
        "decimal": "0.000",
        "pvalue": "0.0000",
    }
)
"""Column kinds and their Excel number formats."""

BY_METRIC = "by_metric"
"""Column kind resolved per row: percent when the row's ``metric`` is a rate/accuracy/WER (and its ``kind``
is not a ratio), else decimal."""

PERCENT_METRICS = frozenset({"accuracy", "invalid_rate", "refusal_rate", "error_rate", "wer", "flip_rate"})
"""Metrics shown as percentages (their differences are percentage points)."""


def metric_kind(metric: object, gap_kind: object = None) -> str:
    """'percent' for accuracies, rates and WER (and their differences), 'decimal' for other scores and ratios."""
    if gap_kind == "min_over_max":
        return "decimal"
    return "percent" if str(metric) in PERCENT_METRICS else "decimal"


_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_PERCENT_WORDS = ("accuracy", "rate", "gap", "share", "excess", "wer", "agreement", "parity")
_PVALUE_WORDS = ("p_value", "pvalue", "p_adj", "q_value")
_INT_WORDS = ("n", "n_items", "n_voices", "n_rows", "count", "rank", "permutation", "repeat")


def infer_kind(column: str, series: pd.Series | None = None) -> str:
    """A column's kind from its name and dtype: percent for accuracies, rates and gaps; int for counts."""
    name = column.lower()
    if series is not None and not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        return "text"
    if any(word in name for word in _PVALUE_WORDS) or name in ("p", "p_value"):
        return "pvalue"
    if name in _INT_WORDS or name.startswith("n_") or name.endswith("_count") or name.endswith("_n"):
        return "int"
    base = name.removesuffix("_lo").removesuffix("_hi").removesuffix("_low").removesuffix("_high")
    if any(word in base for word in _PERCENT_WORDS):
        return "percent"
    if series is not None and pd.api.types.is_integer_dtype(series):
        return "int"
    return "decimal"


@dataclass(frozen=True)
class Sheet:
    """One table of a report: a worksheet in report.xlsx and a CSV/Parquet file beside it."""

    name: str
    """Worksheet name (at most 31 characters, none of []:*?/\\); also the file stem of its CSV/Parquet."""
    table: pd.DataFrame = field(hash=False, compare=False)
    """The rows, header = column names; written from cell A1 so pandas reads it back unchanged."""
    description: str = ""
    """One plain sentence: what a row is (shown in the Notes sheet)."""
    empty_reason: str = ""
    """Why the table is empty, shown in the sheet instead of rows (required when ``table`` is empty)."""
    formats: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    """Column -> kind in :data:`FORMATS`; columns not named here get :func:`infer_kind`."""
    gap_columns: tuple[str, ...] = ()
    """Columns that get a colour scale (white = no gap, dark = large gap)."""
    notice_columns: tuple[str, ...] = ()
    """Columns whose non-empty cells are highlighted (demonstration pool, calibration model, warnings)."""
    order: int = 500
    """Position among sheets (lower first); built-in sheets use 10..990, extra sheets default to 500."""

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 31 or _INVALID_SHEET_CHARS.search(self.name):
            raise ValueError(f"sheet name '{self.name}' must be 1-31 characters without []:*?/\\")
        if not isinstance(self.table, pd.DataFrame):
            raise TypeError(f"sheet '{self.name}': table must be a pandas DataFrame")
        if self.table.empty and not self.empty_reason:
            raise ValueError(f"sheet '{self.name}' is empty; give an empty_reason")
        unknown = sorted(set(self.formats.values()) - set(FORMATS) - {BY_METRIC})
        if unknown:
            raise ValueError(f"sheet '{self.name}': unknown formats {unknown}; use {', '.join(FORMATS)}")
        missing = [c for c in (*self.formats, *self.gap_columns, *self.notice_columns) if c not in self.table.columns]
        if missing and not self.table.empty:
            raise ValueError(f"sheet '{self.name}': no columns {missing}")
        object.__setattr__(self, "formats", MappingProxyType(dict(self.formats)))

    @property
    def is_empty(self) -> bool:
        return self.table.empty

    def kind(self, column: str) -> str:
        """The display kind of ``column``."""
        return self.formats.get(column) or infer_kind(column, self.table[column] if column in self.table else None)

    def cell_kind(self, column: str, row: Mapping[str, Any]) -> str:
        """The display kind of one cell (resolves :data:`BY_METRIC` with the row's metric)."""
        kind = self.kind(column)
        if kind == BY_METRIC:
            return metric_kind(row.get("metric"), row.get("kind"))
        return kind

    def shown(self) -> pd.DataFrame:
        """What the worksheet holds: the table, or one 'note' row saying why it is empty."""
        if self.is_empty:
            return pd.DataFrame({"note": [self.empty_reason]})
        return self.table

    @classmethod
    def empty(cls, name: str, reason: str, **kwargs: Any) -> "Sheet":
        """A sheet with no rows that says why."""
        return cls(name=name, table=pd.DataFrame(), empty_reason=reason, **kwargs)


VALUE_CI_FORMATS: dict[str, str] = {"value": BY_METRIC, "ci_low": BY_METRIC, "ci_high": BY_METRIC}
"""Formats of a metric value and its CI bounds (the format follows each row's metric)."""
