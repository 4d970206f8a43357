"""Task-specific scores (BBQ, StereoSet, dream job, ...) per group, computed by the tasks' own pure functions.

The scorer never reimplements a task metric: it asks :func:`task_metric_functions` for the
functions the task kind publishes and calls them on each group's rows.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import pandas as pd

from biasbench.scoring.slices import SliceEstimates, TaskFrame

GROUPINGS = ("overall", "gender", "race", "accent", "age_band", "cell")
"""Groupings task scores are reported for."""

MetricFunction = Callable[[pd.DataFrame], float]
"""A pure task metric: result rows (core.result columns, ``details`` as JSON text) -> one number."""


def task_metric_functions(task: str, kind: str) -> Mapping[str, MetricFunction]:
    """Metric name -> function published by the task kind's module in ``biasbench.tasks.metrics``.

    A module ``biasbench.tasks.metrics.<kind>`` may define ``GROUP_METRICS: dict[str, MetricFunction]``.
    """
    if not kind:
        return {}
    try:
        module = importlib.import_module(f"biasbench.tasks.metrics.{kind}")
    except ImportError:
        return {}
    functions = getattr(module, "GROUP_METRICS", None)
    return dict(functions) if isinstance(functions, Mapping) else {}


def task_score_records(se: SliceEstimates, tf: TaskFrame, kind: str, warn: Callable[[str, str], None]) -> list[dict[str, Any]]:
    """group_metrics rows for the task's own scores (value and counts; CI not computed: status 'no_ci')."""
    functions = task_metric_functions(se.task, kind)
    records = []
    for name, function in sorted(functions.items()):
        for grouping in GROUPINGS:
            if grouping not in se.groupings:
                continue
            column = None if grouping == "overall" else (grouping if grouping != "cell" else "cell")
            parts = [("__all__", se.rows)] if column is None else list(se.rows.groupby(column, sort=True))
            for group, rows in parts:
                record = {"model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping, "group": str(group),
                          "metric": name, "ci_low": None, "ci_high": None, "n_rows": len(rows),
                          "n_items": rows["item_id"].nunique(), "n_voices": rows["voice_id"].nunique()}
                try:
                    value = float(function(rows))
                except Exception as exc:  # a metric undefined for this group (e.g. no ambiguous items)
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    warn("task_metric_failed", f"{se.model} / {se.task}: {name} for {grouping} '{group}' could not be computed: {reason}")
                    records.append({**record, "value": None, "status": "failed", "note": reason})
                    continue
                records.append({**record, "value": value, "status": "no_ci",
                                "note": "task-specific score: point estimate from the task's metric function; no bootstrap CI"})
    return records
