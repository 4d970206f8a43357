"""Before/after tables: per metric, the gap between groups before and after a mitigation, the change with a
paired 95% CI, and the capability retained. Both models' rows share one two-way cluster bootstrap
(the scorer's replicate weights over items and voices), so the change's CI is paired."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from biasbench.scoring.bootstrap import bootstrap_p_value, percentile_interval
from biasbench.scoring.estimates import GroupEstimates
from biasbench.scoring.metrics import HIGHER_IS_BETTER
from biasbench.scoring.rundata import run_data
from biasbench.scoring.schema import OVERALL_GROUP
from biasbench.scoring.slices import SliceEstimates, slice_estimates, task_frames


@dataclass(frozen=True)
class Comparison:
    """One mitigation compared with its baseline."""

    condition: str
    """e.g. 'finetune' or 'prompt'."""
    before: str
    """Model label of the baseline rows."""
    after: str
    """Model label of the mitigated rows."""


GAP_COLUMNS = (
    "condition", "task", "modality", "grouping", "metric", "before_model", "after_model",
    "gap_before", "gap_before_ci_low", "gap_before_ci_high", "worst_before", "best_before",
    "gap_after", "gap_after_ci_low", "gap_after_ci_high", "worst_after", "best_after",
    "change", "change_ci_low", "change_ci_high", "change_p_boot", "n_items", "n_voices", "status",
)
CAPABILITY_COLUMNS = (
    "condition", "task", "modality", "metric", "before_model", "after_model",
    "before", "before_ci_low", "before_ci_high", "after", "after_ci_low", "after_ci_high",
    "change", "change_ci_low", "change_ci_high", "retained", "n_items", "n_voices", "status",
)


def before_after(
    frame: pd.DataFrame, manifest: Mapping[str, Any], comparisons: Sequence[Comparison], *, n_boot: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gaps, capability) for every task × modality × comparison found in ``frame`` (result rows of
    every model involved, with the manifest of the run that defines the pool and tasks)."""
    data = run_data(frame, manifest)
    gaps: list[dict[str, Any]] = []
    capability: list[dict[str, Any]] = []
    for tf in task_frames(data.frame, data.axes, n_boot, seed):
        answer_type = data.answer_types.get(tf.task, "multiple_choice")
        for modality in sorted(tf.rows["modality"].unique()):
            present = set(tf.rows.loc[tf.rows["modality"] == modality, "model"])
            cache: dict[str, SliceEstimates] = {}

            def estimates(model: str) -> SliceEstimates:
                if model not in cache:
                    cache[model] = slice_estimates(tf, model, str(modality), answer_type, data.axes, {})
                return cache[model]

            for comparison in comparisons:
                if comparison.before not in present or comparison.after not in present:
                    continue
                before, after = estimates(comparison.before), estimates(comparison.after)
                key = {"condition": comparison.condition, "task": tf.task, "modality": modality,
                       "before_model": comparison.before, "after_model": comparison.after}
                capability.append(_capability(key, before, after))
                for grouping in (*data.axes, "cell"):
                    if grouping in before.groupings and grouping in after.groupings:
                        gaps.append(_gap_change(key, grouping, before, after))
    return pd.DataFrame(gaps, columns=list(GAP_COLUMNS)), pd.DataFrame(capability, columns=list(CAPABILITY_COLUMNS))


def _headline(estimates: SliceEstimates, grouping: str) -> tuple[GroupEstimates, int]:
    est = estimates.groupings[grouping]
    return est, est.metrics.index(estimates.headline)


def _interval(reps: np.ndarray) -> tuple[float | None, float | None]:
    if reps.size == 0 or np.isnan(reps).all():
        return None, None
    low, high = percentile_interval(reps)
    return float(low), float(high)


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _range_gap(est: GroupEstimates, m: int) -> tuple[float, np.ndarray, str, str] | None:
    """Largest minus smallest group (worse-minus-better oriented as the scorer's max_minus_min)."""
    present = [g for g in range(len(est.groups)) if est.den[m, g] > 0]
    if len(present) < 2:
        return None
    values = est.value[m, present]
    higher_better = HIGHER_IS_BETTER.get(est.metrics[m], True)
    worst = present[int(np.argmin(values) if higher_better else np.argmax(values))]
    best = present[int(np.argmax(values) if higher_better else np.argmin(values))]
    high, low = (best, worst) if higher_better else (worst, best)
    reps = est.replicates[:, m, high] - est.replicates[:, m, low] if est.replicates.size else np.empty(0)
    return float(est.value[m, high] - est.value[m, low]), reps, est.groups[worst], est.groups[best]


def _gap_change(key: dict[str, Any], grouping: str, before: SliceEstimates, after: SliceEstimates) -> dict[str, Any]:
    est_b, m_b = _headline(before, grouping)
    est_a, m_a = _headline(after, grouping)
    record: dict[str, Any] = {**key, "grouping": grouping, "metric": before.headline,
                              "n_items": int(est_a.n_items[m_a].max(initial=0)), "n_voices": int(est_a.n_voices[m_a].sum())}
    gap_b, gap_a = _range_gap(est_b, m_b), _range_gap(est_a, m_a)
    if gap_b is None or gap_a is None:
        return {**record, "status": "not_applicable"}
    value_b, reps_b, worst_b, best_b = gap_b
    value_a, reps_a, worst_a, best_a = gap_a
    change_reps = reps_a - reps_b
    record.update(
        gap_before=_number(value_b), worst_before=worst_b, best_before=best_b,
        gap_after=_number(value_a), worst_after=worst_a, best_after=best_a,
        change=_number(value_a - value_b),
    )
    record["gap_before_ci_low"], record["gap_before_ci_high"] = _interval(reps_b)
    record["gap_after_ci_low"], record["gap_after_ci_high"] = _interval(reps_a)
    record["change_ci_low"], record["change_ci_high"] = _interval(change_reps)
    record["change_p_boot"] = _number(float(bootstrap_p_value(change_reps))) if change_reps.size else None
    record["status"] = "ok" if change_reps.size else "no_ci"
    if record["gap_before"] is None or record["gap_after"] is None:
        record["status"] = "undefined"
    return record


def _capability(key: dict[str, Any], before: SliceEstimates, after: SliceEstimates) -> dict[str, Any]:
    est_b, m_b = _headline(before, "overall")
    est_a, m_a = _headline(after, "overall")
    g_b, g_a = est_b.groups.index(OVERALL_GROUP), est_a.groups.index(OVERALL_GROUP)
    value_b, value_a = float(est_b.value[m_b, g_b]), float(est_a.value[m_a, g_a])
    reps_b = est_b.replicates[:, m_b, g_b] if est_b.replicates.size else np.empty(0)
    reps_a = est_a.replicates[:, m_a, g_a] if est_a.replicates.size else np.empty(0)
    record = {**key, "metric": before.headline, "before": _number(value_b), "after": _number(value_a),
              "change": _number(value_a - value_b),
              "retained": _number(value_a / value_b) if value_b else None,
              "n_items": int(est_a.n_items[m_a, g_a]), "n_voices": int(est_a.n_voices[m_a, g_a])}
    record["before_ci_low"], record["before_ci_high"] = _interval(reps_b)
    record["after_ci_low"], record["after_ci_high"] = _interval(reps_a)
    record["change_ci_low"], record["change_ci_high"] = _interval(reps_a - reps_b)
    record["status"] = "ok" if record["before"] is not None and record["after"] is not None else "undefined"
    return record
