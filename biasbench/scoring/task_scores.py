"""Task-specific scores (BBQ, StereoSet, dream job, ...) per group, computed by the tasks' own pure functions.

The scorer never reimplements a task metric: a task declares its metric functions in its spec
(``metrics: [module:function, ...]``, recorded in the manifest) and the scorer calls each on
every group's rows. A function returns a number, or a dict of named numbers (one metric each).

CIs come from the same two-way bootstrap as every other metric, by calling the function on
materialised replicates (each row repeated item count × voice draw count times). That is exact
for the scale-free statistics tasks publish (rates, ratios, means) when every cell has the same
number of voices; otherwise, or when the work would exceed :data:`ROW_BUDGET`, the value is
reported without a CI (status 'no_ci', with the reason).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from biasbench.core.errors import BiasbenchError
from biasbench.core.registry import import_target
from biasbench.core.result import TEXT_VOICE
from biasbench.scoring.bootstrap import bootstrap_p_value, percentile_interval
from biasbench.scoring.contrasts import MAX_PAIR_GROUPS
from biasbench.scoring.schema import OVERALL_GROUP
from biasbench.scoring.slices import SliceEstimates, TaskFrame

GROUPINGS = ("overall", "gender", "race", "accent", "age_band", "cell")
"""Groupings task scores are reported for."""

TASK_BOOT = 200
"""Replicates used for task-score CIs (the first of the run's replicates)."""

ROW_BUDGET = 4_000_000
"""Largest rows × replicates a task-score CI may materialise."""

MAX_UNDEFINED = 0.05
"""A CI needs the score defined in at least 95% of the replicates."""


def _values(result: Any, name: str) -> list[tuple[str, float | None]]:
    items = result.items() if isinstance(result, dict) else [(None, result)]
    out = []
    for sub, value in items:
        number = None if value is None else float(value)
        out.append((name if sub is None else f"{name}.{sub}", number if number is not None and math.isfinite(number) else None))
    return out


def _groups(rows: pd.DataFrame, grouping: str) -> list[tuple[str, pd.DataFrame]]:
    if grouping == "overall":
        return [(OVERALL_GROUP, rows)]
    return [(str(g), part) for g, part in rows.groupby(grouping, sort=True)]


def task_score_records(
    se: SliceEstimates, tf: TaskFrame, targets: Sequence[str], warn: Callable[[str, str], None],
    found: Callable[[str, Callable, dict, dict], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(group_metrics rows, gaps rows) for the task's own scores: values per group with bootstrap CIs
    where possible, and the difference between every pair of groups (kind 'pair').

    ``found(name, function, point, replicates)`` receives each metric function's group values and
    bootstrap replicates (for the headline's decisions)."""
    records: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    groupings = [g for g in GROUPINGS if g in se.groupings]
    for target in targets:
        name = target.rpartition(":")[2]
        try:
            function = import_target(target)
        except BiasbenchError as exc:
            warn("task_metric_failed", f"task '{se.task}': metric {target} cannot be loaded: {exc.one_line()}")
            continue
        point: dict[tuple[str, str], list[tuple[str, float | None]]] = {}
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for grouping in groupings:
            for group, rows in _groups(se.rows, grouping):
                counts[(grouping, group)] = {"n_rows": len(rows), "n_items": int(rows["item_id"].nunique()),
                                             "n_voices": int(rows["voice_id"].nunique())}
                try:
                    point[(grouping, group)] = _values(function(rows), name)
                except Exception as exc:  # a task function that cannot handle this group's rows
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    warn("task_metric_failed", f"{se.model} / {se.task}: {name} for {grouping} '{group}' failed: {reason}")
                    point[(grouping, group)] = [(name, None)]
                    counts[(grouping, group)]["failed"] = reason  # type: ignore[assignment]
        intervals, replicates, reason = _intervals(se, tf, function, name, groupings, point)
        if found is not None:
            found(name, function, point, replicates)
        gaps.extend(_pair_gaps(se, point, replicates))
        for (grouping, group), values in point.items():
            info = dict(counts[(grouping, group)])
            failed = info.pop("failed", None)
            for metric, value in values:
                key = {"model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping, "group": group,
                       "metric": metric, "value": value, **info}
                ci = intervals.get((grouping, group, metric)) if intervals else None
                if failed is not None:
                    records.append({**key, "ci_low": None, "ci_high": None, "status": "failed", "note": str(failed)})
                elif value is None:
                    records.append({**key, "ci_low": None, "ci_high": None, "status": "not_applicable",
                                    "note": "undefined for this group (no rows the metric counts)"})
                elif ci is None:
                    records.append({**key, "ci_low": None, "ci_high": None, "status": "no_ci", "note": reason or "undefined in too many replicates"})
                else:
                    records.append({**key, "ci_low": ci[0], "ci_high": ci[1], "status": "ok",
                                    "note": f"task metric; CI from {ci[2]} two-way bootstrap replicates"})
    return records, gaps


def _pair_gaps(se: SliceEstimates, point: dict, replicates: dict) -> list[dict[str, Any]]:
    """'pair' gap rows (group a − group b) for every grouping with 2..MAX_PAIR_GROUPS groups."""
    rows = []
    for grouping in dict.fromkeys(g for g, _ in point):
        groups = [group for g, group in point if g == grouping]
        if grouping == "overall" or not 2 <= len(groups) <= MAX_PAIR_GROUPS:
            continue
        for a, b in combinations(groups, 2):
            values_b = dict(point[(grouping, b)])
            for metric, value_a in point[(grouping, a)]:
                value_b = values_b.get(metric)
                key = {"model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping, "metric": metric,
                       "kind": "pair", "group": a, "reference": b}
                if value_a is None or value_b is None:
                    rows.append({**key, "value": None, "ci_low": None, "ci_high": None, "p_boot": None,
                                 "status": "not_applicable", "note": "the metric is undefined for a group"})
                    continue
                reps_a, reps_b = replicates.get((grouping, a, metric)), replicates.get((grouping, b, metric))
                diff = None if reps_a is None or reps_b is None else reps_a - reps_b
                if diff is None or np.mean(np.isnan(diff)) > MAX_UNDEFINED:
                    rows.append({**key, "value": value_a - value_b, "ci_low": None, "ci_high": None, "p_boot": None,
                                 "status": "no_ci", "note": "no bootstrap CI for this task metric (see group_metrics)"})
                    continue
                low, high = percentile_interval(diff)
                rows.append({**key, "value": value_a - value_b, "ci_low": float(low), "ci_high": float(high),
                             "p_boot": float(bootstrap_p_value(diff)), "status": "ok", "note": "task metric"})
    return rows


def _intervals(se, tf, function, name, groupings, point) -> tuple[dict | None, dict, str]:
    """((grouping, group, metric) -> (low, high, n replicates), the replicate arrays, why a CI is missing)."""
    weights = tf.weights
    if weights is None:
        return None, {}, "bootstrap disabled (n_boot = 0)"
    n_boot = min(TASK_BOOT, weights.n_boot)
    rows = se.rows
    if len(rows) * n_boot > ROW_BUDGET:
        return None, {}, f"no CI: {len(rows):,} rows × {n_boot} replicates exceeds the task-score budget ({ROW_BUDGET:,})"
    voice_codes = pd.Index(tf.voices).get_indexer(rows["voice_id"])
    draws, reason = _voice_draws(tf, se.modality)
    if draws is None:
        return None, {}, reason
    from biasbench.tasks.metrics import expand_details  # the tasks' own parser of the details JSON

    parsed = expand_details(rows).drop(columns=["details"], errors="ignore")
    for (grouping, group), values in point.items():  # the pre-parsed rows must reproduce the point values
        again = _values(function(parsed if grouping == "overall" else parsed[parsed[grouping] == group]), name)
        if again != values:
            return None, {}, "no CI: the metric does not reproduce on pre-parsed rows"
    item_codes = pd.Index(tf.items).get_indexer(rows["item_id"])
    groups_of = {grouping: [group for g, group in point if g == grouping] for grouping in groupings}
    batched = _batched_replicates(function, name, parsed, point, weights.items[item_codes, :n_boot] * draws[:n_boot, voice_codes].T)
    if batched is not None:
        return _summarise(batched, n_boot)
    replicates: dict[tuple[str, str, str], list[float]] = {}
    for b in range(n_boot):
        multiplicity = (weights.items[item_codes, b] * draws[b, voice_codes]).astype(np.int64)
        sample = parsed.iloc[np.repeat(np.arange(len(parsed)), multiplicity)]
        for grouping in groupings:
            present = dict(_groups(sample, grouping))
            for group in groups_of[grouping]:
                got = dict(_safe_values(function, present.get(group), name))
                for metric, _ in point[(grouping, group)]:
                    value = got.get(metric)
                    replicates.setdefault((grouping, group, metric), []).append(np.nan if value is None else value)
    return _summarise({key: np.asarray(values, dtype=float) for key, values in replicates.items()}, n_boot)


def _summarise(arrays: dict[tuple[str, str, str], np.ndarray], n_boot: int) -> tuple[dict, dict, str]:
    intervals = {}
    for key, reps in arrays.items():
        if np.mean(np.isnan(reps)) > MAX_UNDEFINED:
            continue
        low, high = percentile_interval(reps)
        intervals[key] = (float(low), float(high), n_boot)
    return intervals, arrays, "undefined in more than 5% of the replicates"


def _batched_replicates(function: Callable, name: str, parsed: pd.DataFrame, point: dict,
                        multiplicity: np.ndarray) -> dict[tuple[str, str, str], np.ndarray] | None:
    """Every group's replicates from the function's bootstrap form (``function.replicates``, see
    biasbench.tasks.metrics.with_replicates) in one call per group; None when the function has none,
    fails, or does not give the function's own values with unit weights (then the scorer materialises
    each replicate instead)."""
    batched = getattr(function, "replicates", None)
    if batched is None:
        return None
    out: dict[tuple[str, str, str], np.ndarray] = {}
    try:
        for (grouping, group), values in point.items():
            mask = np.ones(len(parsed), dtype=bool) if grouping == "overall" else (parsed[grouping] == group).to_numpy()
            rows = parsed[mask]
            unit = {k: float(v[0]) for k, v in _named(batched(rows, np.ones((len(rows), 1))), name).items()}
            if not _same_values(unit, values):
                return None
            reps = _named(batched(rows, multiplicity[mask]), name)
            for metric, _ in values:
                if metric not in reps:
                    return None
                out[(grouping, group, metric)] = np.where(np.isfinite(reps[metric]), reps[metric], np.nan)
    except Exception:  # the bootstrap form cannot handle these rows: fall back to materialised replicates
        return None
    return out


def _named(result: Any, name: str) -> dict[str, np.ndarray]:
    """A bootstrap form's result keyed like :func:`_values` names the function's own result."""
    if isinstance(result, dict):
        return {f"{name}.{k}": np.atleast_1d(np.asarray(v, dtype=float)) for k, v in result.items()}
    return {name: np.atleast_1d(np.asarray(result, dtype=float))}


def _same_values(unit: dict[str, float], want: list[tuple[str, float | None]]) -> bool:
    """Whether the bootstrap form with unit weights gives the function's own values (NaN for undefined)."""
    for key, value in want:
        if key not in unit:
            return False
        other = unit[key] if math.isfinite(unit[key]) else None
        if (value is None) != (other is None) or (value is not None and not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9)):
            return False
    return True


def _safe_values(function: Callable, rows: pd.DataFrame | None, name: str) -> list[tuple[str, float | None]]:
    """The metric on one replicate's group rows; [] when the group is absent or the metric undefined."""
    if rows is None or rows.empty:
        return []
    try:
        return _values(function(rows), name)
    except Exception:  # undefined in this replicate (e.g. no rows of a condition drawn)
        return []


def _voice_draws(tf: TaskFrame, modality: str) -> tuple[np.ndarray | None, str]:
    """(n_boot, voices) integer voice draw counts (Rao–Wu weights without their n/(n−1) scale)."""
    weights = tf.weights
    if modality != "audio":
        return np.ones((weights.n_boot, len(tf.voices)), dtype=np.int64), ""
    cells = [tf.voice_labels[v]["cell"] for v in tf.voices if v != TEXT_VOICE]
    sizes = {cell: cells.count(cell) for cell in cells}
    if len(set(sizes.values())) > 1:
        return None, "no CI: cells have different numbers of voices (materialised replicates would weight them unequally)"
    n = next(iter(sizes.values()), 1)
    if n < 2:
        return None, "no CI: cells have a single voice"
    return np.rint(weights.voices * (n - 1) / n).astype(np.int64), ""
