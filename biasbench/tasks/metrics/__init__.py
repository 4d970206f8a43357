"""Task-specific metrics as pure functions of result rows (core.result columns + parsed ``details``).

Each function takes a DataFrame of rows (one group's rows when called per group) and returns
plain numbers; NaN when a denominator is zero. Only answered rows (outcome correct / incorrect /
scored) enter a metric; invalid, refusal and error rows are counted separately by the scorer.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pandas as pd

ANSWERED = ("correct", "incorrect", "scored")
"""Outcomes that carry a parsed answer."""


def expand_details(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with every key of the ``details`` JSON as a column (existing columns win)."""
    if "details" not in rows.columns:
        return rows
    parsed = [_as_dict(value) for value in rows["details"]]
    extra = pd.DataFrame(parsed, index=rows.index)
    extra = extra[[c for c in extra.columns if c not in rows.columns]]
    return pd.concat([rows, extra], axis=1)


def answered(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a parsed answer, details expanded."""
    return expand_details(rows[rows["outcome"].isin(ANSWERED)])


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        return json.loads(value)
    return {}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return float(numerator) / denominator if denominator else float("nan")


def task_metrics(task: Any) -> dict[str, Callable[[pd.DataFrame], Any]]:
    """The task's declared metric functions (``config.metrics``), keyed by function name."""
    from biasbench.core.registry import import_target

    return {target.rpartition(":")[2]: import_target(target) for target in task.config.metrics}
