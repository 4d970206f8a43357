"""Task-specific scores (BBQ, StereoSet, dream job, ...) per group, computed by the tasks' own pure functions.

The scorer never reimplements a task metric: a task declares its metric functions in its spec
(``metrics: [module:function, ...]``, recorded in the manifest) and the scorer calls each on
every group's rows. A function returns a number, or a dict of named numbers (one metric each).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from biasbench.core.errors import BiasbenchError
from biasbench.core.registry import import_target
from biasbench.scoring.schema import OVERALL_GROUP
from biasbench.scoring.slices import SliceEstimates

GROUPINGS = ("overall", "gender", "race", "accent", "age_band", "cell")
"""Groupings task scores are reported for."""

NOTE = "task-specific score from the task's own metric function; no bootstrap CI"


def task_score_records(se: SliceEstimates, targets: Sequence[str], warn: Callable[[str, str], None]) -> list[dict[str, Any]]:
    """group_metrics rows for the task's own scores (value and counts; status 'no_ci')."""
    records = []
    for target in targets:
        name = target.rpartition(":")[2]
        try:
            function = import_target(target)
        except BiasbenchError as exc:
            warn("task_metric_failed", f"task '{se.task}': metric {target} cannot be loaded: {exc.one_line()}")
            continue
        for grouping in GROUPINGS:
            if grouping not in se.groupings:
                continue
            parts = [(OVERALL_GROUP, se.rows)] if grouping == "overall" else list(se.rows.groupby(grouping, sort=True))
            for group, rows in parts:
                key = {"model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping, "group": str(group),
                       "ci_low": None, "ci_high": None, "n_rows": len(rows), "n_items": int(rows["item_id"].nunique()),
                       "n_voices": int(rows["voice_id"].nunique())}
                try:
                    result = function(rows)
                except Exception as exc:  # a task function that cannot handle this group's rows
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    warn("task_metric_failed", f"{se.model} / {se.task}: {name} for {grouping} '{group}' failed: {reason}")
                    records.append({**key, "metric": name, "value": None, "status": "failed", "note": reason})
                    continue
                values = result.items() if isinstance(result, dict) else [(None, result)]
                for sub, value in values:
                    metric = name if sub is None else f"{name}.{sub}"
                    defined = value is not None and math.isfinite(float(value))
                    records.append({**key, "metric": metric, "value": float(value) if defined else None,
                                    "status": "no_ci" if defined else "not_applicable",
                                    "note": NOTE if defined else "undefined for this group (no rows the metric counts)"})
    return records
