"""Numbers as text for sentences, Markdown and HTML: percentages, percentage points, decimals."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biasbench.reports.sheet import metric_kind

MISSING = "–"
"""Shown for a missing value."""


def format_value(value: Any, metric: str = "", *, points: bool = False, kind: str | None = None) -> str:
    """'81.2%' (or '12.3 pp' for differences when ``points``) for rates; '0.123' otherwise; '–' when missing.

    ``kind`` ('percent', 'decimal', 'pvalue', 'int') overrides the kind implied by ``metric``.
    """
    if value is None or pd.isna(value):
        return MISSING
    kind = kind or metric_kind(metric)
    if kind == "percent":
        return f"{100 * float(value):.1f}{' pp' if points else '%'}"
    if kind == "int":
        return str(int(value))
    if kind == "pvalue":
        return f"{float(value):.4f}"
    return f"{float(value):.3f}"


def format_ci(low: Any, high: Any, metric: str = "", *, points: bool = False, kind: str | None = None) -> str:
    """'a to b' for a 95% CI, or '' when either end is missing."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    ends = (format_value(end, metric, points=points, kind=kind) for end in (low, high))
    return " to ".join(ends)
