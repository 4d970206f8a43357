"""One headline per model × task: overall score, worst group, largest gap with CI, flips, test, verdict."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from biasbench.reports.formatting import format_ci, format_value
from biasbench.reports.plotting import label
from biasbench.reports.qualifiers import (
    Qualifier,
    notice,
    row_qualifiers,
    run_qualifiers,
)
from biasbench.reports.rundata import RunData
from biasbench.reports.sheet import BY_METRIC

OVERALL_GROUP = "__all__"
LOWER_IS_WORSE = frozenset({"accuracy", "mean_score"})
"""Metrics where a lower value is worse (for the others, e.g. WER and rates, higher is worse)."""
TEST_PREFERENCE = ("permutation", "gee", "cochran_q")
"""Which significance test's p-value the Summary shows, first available."""


@dataclass(frozen=True)
class Headline:
    """The Summary row of one model × task (audio modality)."""

    notice: str
    """Demonstration-pool / calibration-instrument label ('' when neither)."""
    model: str
    """Model label."""
    task: str
    """Task name."""
    task_version: str
    """Task spec version."""
    metric: str
    """Headline metric ('accuracy', 'wer', 'mean_score')."""
    overall: float | None
    """Metric over all audio voices."""
    overall_ci_low: float | None
    """95% CI lower end."""
    overall_ci_high: float | None
    """95% CI upper end."""
    text_control: float | None
    """Metric on the text-only control (None when the run had no text modality)."""
    grouping: str
    """Grouping the gap columns refer to ('cell' = intersectional, else one axis)."""
    worst_group: str
    """Group with the worst metric."""
    worst_value: float | None
    """Its metric."""
    max_gap: float | None
    """Largest − smallest group value."""
    max_gap_ci_low: float | None
    """95% CI lower end of the gap."""
    max_gap_ci_high: float | None
    """95% CI upper end of the gap."""
    gap_p_value: float | None
    """Bootstrap p-value for 'no gap'."""
    flip_excess: float | None
    """Cross-group minus within-group answer-flip rate."""
    flip_excess_ci_low: float | None
    """95% CI lower end."""
    flip_excess_ci_high: float | None
    """95% CI upper end."""
    test: str
    """Significance test shown."""
    test_p_value: float | None
    """Its p-value."""
    invalid_rate: float | None
    """Invalid answers / answered rows, all audio voices."""
    n_items: int | None
    """Items."""
    n_voices: int | None
    """Voices."""
    verdict: str
    """One plain sentence."""
    warnings: str
    """Warnings that qualify these numbers, '; '-joined."""


def _num(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _first(frame: pd.DataFrame | None, **equals: object) -> pd.Series | None:
    if frame is None or frame.empty:
        return None
    mask = pd.Series(True, index=frame.index)
    for column, value in equals.items():
        if column not in frame.columns:
            return None
        mask &= frame[column] == value
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0]


def headline_grouping(run: RunData, model: str, task: str, metric: str) -> str:
    """'cell' when gaps exist for the intersectional cells, else the first pool axis that has gaps."""
    gaps = run.table("gaps")
    for grouping in ("cell", *run.axes):
        if (
            _first(
                gaps, model=model, task=task, modality="audio", grouping=grouping, metric=metric, kind="max_minus_min"
            )
            is not None
        ):
            return grouping
    return "cell" if len(run.axes) > 1 else (run.axes[0] if run.axes else "cell")


def verdict(metric: str, grouping: str, worst: str, gap: pd.Series | None, mde: float | None) -> str:
    """A plain sentence on the largest gap and how sure we are."""
    if gap is None:
        return f"no {grouping} gap was computed (see the scoring status)"
    if gap.get("status", "ok") not in ("ok", "one_voice") or pd.isna(gap.get("value")):
        return f"no {grouping} gap estimate: {gap.get('note') or gap.get('status')}"
    value, low, high = _num(gap["value"]), _num(gap.get("ci_low")), _num(gap.get("ci_high"))
    direction = "lowest" if metric in LOWER_IS_WORSE else "highest"
    ci = f"95% CI {format_ci(low, high, metric, points=True)}" if low is not None and high is not None else "no CI"
    if low is not None and low > 0:
        return (
            f"clear gap: {label(worst)} has the {direction} {metric}, "
            f"{format_value(value, metric, points=True)} from the best {grouping} "
            f"group ({ci})"
        )
    missed = (
        f"; true gaps below {format_value(mde, metric, points=True)} would likely be missed" if mde is not None else ""
    )
    size = format_value(value, metric, points=True)
    return f"no clear gap: largest {grouping} difference {size} ({ci}) is within noise{missed}"


def headlines(run: RunData) -> tuple[list[Headline], list[Qualifier]]:
    """Summary rows (one per model × task with an overall audio score) and every warning found."""
    summary = run.table("summary")
    qualifiers = run_qualifiers(run)
    rows: list[Headline] = []
    if summary is None or summary.empty:
        return rows, qualifiers
    overall_rows = summary[(summary.grouping == "overall") & (summary.modality == "audio")]
    for _, overall in overall_rows.sort_values(["model", "task"]).iterrows():
        model, task, metric = str(overall.model), str(overall.task), str(overall.metric)
        grouping = headline_grouping(run, model, task, metric)
        common = dict(model=model, task=task, grouping=grouping)
        gap = _first(run.table("gaps"), modality="audio", metric=metric, kind="max_minus_min", **common)
        worst = _first(run.table("gaps"), modality="audio", metric=metric, kind="worst_group", **common)
        flips = _first(run.table("flips"), modality="audio", quantity="excess", **common)
        test_row, test_name = None, ""
        for name in TEST_PREFERENCE:
            test_row = _first(run.table("significance"), modality="audio", test=name, **common)
            if test_row is not None:
                test_name = name
                break
        text = _first(summary, model=model, task=task, modality="text")
        power = run.table("power")
        mde = None
        if power is not None and not power.empty:
            sel = power[
                (power.model == model) & (power.task == task) & (power.grouping == grouping) & (power.metric == metric)
            ].dropna(subset=["mde"])
            mde = float(sel.mde.max()) if not sel.empty else None
        worst_group = str(worst.group) if worst is not None else (str(gap.group) if gap is not None else "")
        found = row_qualifiers(run, model, task, metric, grouping, gap)
        qualifiers.extend(found)
        applicable = [
            q.message
            for q in qualifiers
            if q.applies_to(model, task) and q.code not in ("demonstration_pool", "calibration_model")
        ]
        rows.append(
            Headline(
                notice=notice(run, model),
                model=model,
                task=task,
                task_version=run.task_versions.get(task, ""),
                metric=metric,
                overall=_num(overall.value),
                overall_ci_low=_num(overall.ci_low),
                overall_ci_high=_num(overall.ci_high),
                text_control=_num(text.value) if text is not None else None,
                grouping=grouping,
                worst_group=worst_group,
                worst_value=_num(worst.value) if worst is not None else None,
                max_gap=_num(gap.value) if gap is not None else None,
                max_gap_ci_low=_num(gap.ci_low) if gap is not None else None,
                max_gap_ci_high=_num(gap.ci_high) if gap is not None else None,
                gap_p_value=_num(gap.get("p_boot")) if gap is not None else None,
                flip_excess=_num(flips.value) if flips is not None else None,
                flip_excess_ci_low=_num(flips.ci_low) if flips is not None else None,
                flip_excess_ci_high=_num(flips.ci_high) if flips is not None else None,
                test=test_name,
                test_p_value=_num(test_row.p_value) if test_row is not None else None,
                invalid_rate=_num(overall.get("invalid_rate")),
                n_items=_int(overall.get("n_items")),
                n_voices=_int(overall.get("n_voices")),
                verdict=verdict(metric, grouping, worst_group, gap, mde),
                warnings="; ".join(applicable),
            )
        )
    return rows, qualifiers


HEADLINE_FORMATS: dict[str, str] = {
    **{
        column: BY_METRIC
        for column in (
            "overall", "overall_ci_low", "overall_ci_high", "text_control",
            "worst_value", "max_gap", "max_gap_ci_low", "max_gap_ci_high",
        )
    },
    "flip_excess": "percent",
    "flip_excess_ci_low": "percent",
    "flip_excess_ci_high": "percent",
    "invalid_rate": "percent",
    "gap_p_value": "pvalue",
    "test_p_value": "pvalue",
    "n_items": "int",
    "n_voices": "int",
    "rank_worst_group": "int",
    "rank_max_gap": "int",
    "task_version": "text",
}
"""Number formats of the headline columns (run Summary sheet and leaderboard)."""


def headline_formats(frame: pd.DataFrame) -> dict[str, str]:
    """:data:`HEADLINE_FORMATS` restricted to the columns ``frame`` has."""
    return {column: kind for column, kind in HEADLINE_FORMATS.items() if column in frame.columns}
