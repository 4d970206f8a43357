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
    """``rows`` with every key of the ``details`` JSON as a column (existing columns win).

    Rows from the scorer carry the details as typed columns (biasbench.core.details, parsed when the
    table was written): those become the key columns, with the values the JSON would give, and are dropped."""
    from biasbench.core.details import expanded, is_detail_column

    typed = [c for c in rows.columns if is_detail_column(c)]
    if typed:
        extra = expanded(rows, typed)
        extra = extra[[c for c in extra.columns if c not in rows.columns]]
        return pd.concat([rows.drop(columns=typed), extra], axis=1)
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


def with_replicates(batched: Callable[[pd.DataFrame, Any], Any]) -> Callable[[Callable], Callable]:
    """Attach a bootstrap form to a metric function: ``batched(rows, weights)`` with ``weights`` a
    (rows, replicates) array of row multiplicities returns, per replicate, what the function returns
    on the rows repeated that many times (an array, or a dict of arrays). The scorer uses it instead
    of calling the function once per replicate and group, after checking that unit weights give the
    function's own value."""

    def mark(function: Callable) -> Callable:
        function.replicates = batched  # type: ignore[attr-defined]
        return function

    return mark


def weighted_ratio(x: Any, d: Any, weights: Any) -> Any:
    """Per replicate sum(w x) / sum(w d) (NaN where the denominator is 0); ``x``/``d`` per row, ``weights`` (rows, replicates)."""
    import numpy as np

    w = np.asarray(weights, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        num, den = w.T @ np.asarray(x, dtype=float), w.T @ np.asarray(d, dtype=float)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return float(numerator) / denominator if denominator else float("nan")


def task_metrics(task: Any) -> dict[str, Callable[[pd.DataFrame], Any]]:
    """The task's declared metric functions (``config.metrics``), keyed by function name."""
    from biasbench.core.registry import import_target

    return {target.rpartition(":")[2]: import_target(target) for target in task.config.metrics}
