"""One Summary row per model × task, FORMATTED from the scoring headline table (scores/headline).

Verdicts, worst groups, gaps, simultaneous CIs and adjusted p-values are decided once by
:mod:`biasbench.scoring.headline`; this module only picks the row to show and words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

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
from biasbench.reports.verdict_text import artifact_qualifier, flagged_groups
from biasbench.scoring.schema import HEADLINE

OVERALL_GROUP = "__all__"
HEADLINE_TABLE = HEADLINE.name
"""The scoring headline table (scores/headline): its name is spelled once, in scoring.schema."""


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
    direction: str
    """The metric's declared direction (scores/headline: 'higher_better', 'lower_better', 'target:<value>')."""
    overall: float | None
    """Metric over all audio voices."""
    overall_ci_low: float | None
    """95% CI lower end."""
    overall_ci_high: float | None
    """95% CI upper end."""
    text_control: float | None
    """Metric on the text-only control (None when the run had no text modality)."""
    grouping: str
    """Axis the gap columns refer to ('cell' = intersectional): the clearest claim, else the largest gap."""
    worst_group: str
    """Group named worse off by a family-wise test ('' when no clear gap)."""
    worst_value: float | None
    """Its metric."""
    max_gap: float | None
    """Gap between the most and least harmed groups (positive = worse for the worst group)."""
    max_gap_ci_low: float | None
    """Simultaneous 95% CI lower end of the gap."""
    max_gap_ci_high: float | None
    """Simultaneous 95% CI upper end of the gap."""
    gap_p_value: float | None
    """Family-wise adjusted p-value (scores/headline p_adjusted)."""
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
    """The axis the Summary row shows: the scoring headline's clearest claim (smallest adjusted p
    among 'clear_gap' rows), else the axis with the largest observed gap, else 'cell' / the first axis."""
    row = _claim_row(run, model, task, metric)
    if row is not None:
        return str(row["axis"])
    return "cell" if len(run.axes) > 1 else (run.axes[0] if run.axes else "cell")


def claim_rows(run: RunData, model: str, task: str, metric: str | None = None) -> pd.DataFrame:
    """The scoring headline's rows (scores/headline) for one model × task (audio), optionally one metric."""
    table = run.table(HEADLINE_TABLE)
    if table is None or table.empty:
        return pd.DataFrame()
    mask = (table["model"] == model) & (table["task"] == task) & (table["modality"] == "audio")
    if metric is not None:
        mask &= (table["metric"] == metric) | (table["metric"].fillna("") == "")
    return table[mask]


def _claim_row(run: RunData, model: str, task: str, metric: str) -> pd.Series | None:
    rows = claim_rows(run, model, task, metric)
    if rows.empty:
        return None
    clear = rows[rows["verdict"] == "clear_gap"]
    if not clear.empty:
        return clear.sort_values(["p_adjusted", "axis"], kind="stable").iloc[0]
    with_gap = rows.dropna(subset=["gap"]) if "gap" in rows.columns else rows.iloc[0:0]
    if not with_gap.empty:
        return with_gap.sort_values(["gap"], ascending=False, kind="stable").iloc[0]
    return rows.iloc[0]


def verdict(metric: str, rows: pd.DataFrame, flagged: Iterable[tuple[str, str]] = ()) -> str:
    """One plain sentence per axis, formatted from the scoring headline's verdicts (never recomputed):
    clear gaps first, each carrying the TTS-artifact qualifier when the voice audit flags its worst group."""
    if rows.empty:
        return "no headline decision was computed: re-run `biasbench score` with this version"
    parts = []
    clear_first = rows.assign(_clear=rows["verdict"] != "clear_gap").sort_values("_clear", kind="stable")
    for _, row in clear_first.iterrows():
        axis, kind = str(row["axis"]), str(row["verdict"])
        gap, low, high = _num(row.get("gap")), _num(row.get("ci_low")), _num(row.get("ci_high"))
        ci = f"simultaneous 95% CI {format_ci(low, high, metric, points=True)}" if low is not None and high is not None else "no CI"
        p = _num(row.get("p_adjusted"))
        p_text = f", adjusted p {p:.3g}" if p is not None else ""
        if kind == "clear_gap":
            qualifier = artifact_qualifier(str(row["worst_group"]), axis, flagged)
            parts.append(f"clear gap on {axis}{qualifier}: {label(str(row['worst_group']))} is worse off, "
                         f"{format_value(gap, metric, points=True)} from {label(str(row['best_group']))} ({ci}{p_text})"
                         + _dominant_clause(row))
        elif kind == "equivalent":
            parts.append(f"{axis}: equivalent (every pair within the margin; {ci})")
        elif kind == "no_clear_gap":
            mde = _num(row.get("mde"))
            missed = f"; gaps below {format_value(mde, metric, points=True)} would likely be missed" if mde is not None else ""
            parts.append(f"no clear gap on {axis}: largest difference {format_value(gap, metric, points=True)} ({ci}{p_text}){missed}")
        else:
            parts.append(f"{axis}: not estimable ({row.get('note') or 'no evidence'})")
    return "; ".join(parts)


DOMINANT_CLAUSES = {
    "understanding": "; mostly understanding: the model did not understand this group's clips as well",
    "treatment": "; mostly treatment: understood clips of this group were answered worse",
    "both": "; both understanding and treatment contribute",
    "unclear": "; whether understanding or treatment dominates is unclear",
}
"""Clause per ``dominant`` value of scores/headline.csv (decided in scoring; formatted here)."""


def _dominant_clause(row: pd.Series) -> str:
    return DOMINANT_CLAUSES.get(str(row.get("dominant", "") or ""), "")


def headlines(run: RunData) -> tuple[list[Headline], list[Qualifier]]:
    """Summary rows (one per model × task with an overall audio score or a headline decision) and every warning found."""
    summary = run.table("summary")
    qualifiers = run_qualifiers(run)
    rows: list[Headline] = []
    pairs: dict[tuple[str, str], pd.Series | None] = {}
    if summary is not None and not summary.empty:
        overall_rows = summary[(summary.grouping == "overall") & (summary.modality == "audio")]
        for _, overall in overall_rows.iterrows():
            pairs[(str(overall.model), str(overall.task))] = overall
    flagged = flagged_groups(run.parity)
    claims = run.table(HEADLINE_TABLE)
    if claims is not None and not claims.empty:
        for (model, task), _ in claims[claims["modality"] == "audio"].groupby(["model", "task"], sort=True):
            pairs.setdefault((str(model), str(task)), None)
    for (model, task) in sorted(pairs):
        overall = pairs[(model, task)]
        metric = str(overall.metric) if overall is not None else ""
        claim = _claim_row(run, model, task, metric) if metric else None
        if claim is None:
            every = claim_rows(run, model, task)
            claim = every.iloc[0] if not every.empty else None
        grouping = str(claim["axis"]) if claim is not None else headline_grouping(run, model, task, metric)
        common = dict(model=model, task=task, grouping=grouping)
        flips = _first(run.table("flips"), modality="audio", quantity="excess", **common)
        text = _first(summary, model=model, task=task, modality="text")
        gap = _first(run.table("gaps"), modality="audio", metric=metric, kind="max_minus_min", **common)
        found = row_qualifiers(run, model, task, metric, grouping, gap)
        qualifiers.extend(found)
        applicable = [
            q.message
            for q in qualifiers
            if q.applies_to(model, task) and q.code not in ("demonstration_pool", "calibration_model")
        ]
        clear = claim is not None and claim["verdict"] == "clear_gap"
        axis_rows = claim_rows(run, model, task, metric if metric else None)
        rows.append(
            Headline(
                notice=notice(run, model),
                model=model,
                task=task,
                task_version=run.task_versions.get(task, ""),
                metric=metric or (str(claim["metric"]) if claim is not None else ""),
                direction=str(claim.get("direction") or "") if claim is not None else "",
                overall=_num(overall.value) if overall is not None else None,
                overall_ci_low=_num(overall.ci_low) if overall is not None else None,
                overall_ci_high=_num(overall.ci_high) if overall is not None else None,
                text_control=_num(text.value) if text is not None else None,
                grouping=grouping,
                worst_group=str(claim["worst_group"]) if clear else "",
                worst_value=_num(claim.get("worst_value")) if clear else None,
                max_gap=_num(claim.get("gap")) if claim is not None else None,
                max_gap_ci_low=_num(claim.get("ci_low")) if claim is not None else None,
                max_gap_ci_high=_num(claim.get("ci_high")) if claim is not None else None,
                gap_p_value=_num(claim.get("p_adjusted")) if claim is not None else None,
                flip_excess=_num(flips.value) if flips is not None else None,
                flip_excess_ci_low=_num(flips.ci_low) if flips is not None else None,
                flip_excess_ci_high=_num(flips.ci_high) if flips is not None else None,
                test="family-wise permutation (scores/headline)" if claim is not None else "",
                test_p_value=_num(claim.get("p_adjusted")) if claim is not None else None,
                invalid_rate=_num(overall.get("invalid_rate")) if overall is not None else None,
                n_items=_int(overall.get("n_items")) if overall is not None else None,
                n_voices=_int(overall.get("n_voices")) if overall is not None else None,
                verdict=verdict(metric, axis_rows, flagged),
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
