"""Warnings that qualify a reported number: the caveats a reader must see next to it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from biasbench.reports.formatting import format_ci, format_value
from biasbench.reports.plotting import label
from biasbench.reports.rundata import RunData

MIN_VOICES_PER_GROUP = 3
"""Fewer voices than this per group and voice-to-voice variation cannot be told from group differences."""
INVALID_DISPARITY_POINTS = 0.05
"""Invalid-rate spread between groups (absolute) at or above which the disparity is flagged when no CI is given."""
COVERED_SCORER_CODES = frozenset({"calibration", "demonstration_pool"})
"""Scorer warning codes the report already states in its own words (not repeated)."""
RUN_SCOPE = ""
"""``model``/``task`` value of a warning about the whole run."""


@dataclass(frozen=True)
class Qualifier:
    """One warning attached to the run or to a model × task."""

    code: str
    """Machine-readable: 'demonstration_pool', 'calibration_model', 'audit_parity', 'few_voices',
    'invalid_disparity', 'ci_wider_than_gap', or a scorer warning code."""
    message: str
    """One plain sentence."""
    model: str = RUN_SCOPE
    """Model it concerns ('' = every model)."""
    task: str = RUN_SCOPE
    """Task it concerns ('' = every task)."""

    def applies_to(self, model: str, task: str) -> bool:
        return self.model in (RUN_SCOPE, model) and self.task in (RUN_SCOPE, task)


def demonstration_notice(run: RunData) -> str:
    """The sentence shown on every row of a demonstration pool ('' otherwise)."""
    if not run.is_demonstration:
        return ""
    axes = " × ".join(run.axes) or "no axes"
    return (
        f"DEMONSTRATION POOL '{run.pool.get('name', '')}' ({axes}): shows the tool working; "
        "its groups are not race groups and its numbers are not a bias measurement"
    )


def calibration_notice(model: str) -> str:
    """Shown on every row of a calibration model."""
    return f"CALIBRATION INSTRUMENT: '{model}' has planted per-group behaviour; it is not a real model"


def notice(run: RunData, model: str, *, short: bool = False) -> str:
    """Prominent row label: demonstration pool and/or calibration instrument ('' otherwise).

    ``short`` gives a few words for the detail sheets; the Summary carries the full sentences.
    """
    parts = []
    if run.is_demonstration:
        parts.append("DEMONSTRATION POOL (not a bias measurement)" if short else demonstration_notice(run))
    if model in run.calibration_models:
        parts.append("CALIBRATION INSTRUMENT (planted)" if short else calibration_notice(model))
    return "; ".join(parts)


def run_qualifiers(run: RunData) -> list[Qualifier]:
    """Warnings about the whole run: pool purpose, calibration models, audit parity, voices per group, scorer's."""
    found: list[Qualifier] = []
    if run.is_demonstration:
        found.append(Qualifier("demonstration_pool", demonstration_notice(run)))
    for model in run.calibration_models:
        found.append(Qualifier("calibration_model", calibration_notice(model), model=model))
    found.extend(_parity_qualifiers(run))
    few: dict[tuple[str, int], list[str]] = {}
    for (axis, group), count in sorted(run.voices_per_group().items()):
        if count < MIN_VOICES_PER_GROUP:
            few.setdefault((axis, count), []).append(label(group))
    for (axis, count), groups in few.items():
        which = f"{axis} group {groups[0]} has" if len(groups) == 1 else f"{axis} groups {', '.join(groups)} each have"
        found.append(
            Qualifier(
                "few_voices",
                f"{which} {count} voice(s), fewer than {MIN_VOICES_PER_GROUP}: a gap may reflect individual voices "
                "rather than the group",
            )
        )
    for sentence in run.info.understanding.get("skipped", ()):  # the understanding step did not ask a priced adapter
        found.append(Qualifier("understanding_skipped", str(sentence)))
    scorer = run.table("warnings")
    if scorer is not None and not scorer.empty:
        for row in scorer.itertuples(index=False):
            if str(row.code) not in COVERED_SCORER_CODES:
                found.append(Qualifier(str(row.code), str(row.message)))
    return found


def _parity_qualifiers(run: RunData) -> list[Qualifier]:
    parity = run.parity
    if parity is None:
        return []
    sentences = [str(s) for s in parity.get("warnings") or ()]
    flags = parity.get("flags") or {}
    flagged = sorted(k for k, v in flags.items() if v) if isinstance(flags, dict) else [str(f) for f in flags]
    failed = parity.get("passed") is False or parity.get("ok") is False or bool(flagged) or bool(sentences)
    if not failed:
        return []
    if not sentences:
        sentences = [f"voice audit flags: {', '.join(flagged) or 'parity failed'}"]
    return [
        Qualifier("audit_parity", f"voice audit: {s} (a gap may be a TTS artifact, not model bias)") for s in sentences
    ]


def _points(value: object) -> str:
    return format_value(value, points=True, kind="percent")


def row_qualifiers(
    run: RunData, model: str, task: str, metric: str, grouping: str, gap: pd.Series | None
) -> list[Qualifier]:
    """Warnings for one model × task headline: invalid-rate disparity and a CI wider than the gap."""
    found: list[Qualifier] = []
    spread = _invalid_spread(run, model, task, grouping)
    if spread is not None:
        found.append(Qualifier("invalid_disparity", spread, model=model, task=task))
    if gap is not None and pd.notna(gap.get("value")) and pd.notna(gap.get("ci_low")) and pd.notna(gap.get("ci_high")):
        width = float(gap["ci_high"]) - float(gap["ci_low"])
        if width > abs(float(gap["value"])):
            found.append(
                Qualifier(
                    "ci_wider_than_gap",
                    f"the 95% CI of the {grouping} gap in {metric} "
                    f"({format_ci(gap['ci_low'], gap['ci_high'], metric, points=True)}) "
                    f"is wider than the gap itself ({format_value(gap['value'], metric, points=True)}): "
                    "more items or voices are needed to size it",
                    model=model,
                    task=task,
                )
            )
    return found


def _invalid_spread(run: RunData, model: str, task: str, grouping: str) -> str | None:
    gaps = run.table("gaps")
    if gaps is not None and not gaps.empty:
        rows = gaps[
            (gaps.model == model)
            & (gaps.task == task)
            & (gaps.modality == "audio")
            & (gaps.grouping == grouping)
            & (gaps.metric == "invalid_rate")
            & (gaps.kind == "max_minus_min")
        ]
        if not rows.empty:
            row = rows.iloc[0]
            if pd.notna(row.ci_low) and float(row.ci_low) > 0:
                return (
                    f"invalid answers differ between {grouping} groups by {_points(row.value)} "
                    f"(95% CI {format_ci(row.ci_low, row.ci_high, points=True, kind='percent')}; "
                    f"worst: {label(row.group)}): "
                    "unparseable answers are themselves unequal"
                )
            return None
    metrics = run.table("group_metrics")
    if metrics is None or metrics.empty:
        return None
    rows = metrics[
        (metrics.model == model)
        & (metrics.task == task)
        & (metrics.modality == "audio")
        & (metrics.grouping == grouping)
        & (metrics.metric == "invalid_rate")
    ].dropna(subset=["value"])
    if len(rows) < 2:
        return None
    spread = float(rows.value.max() - rows.value.min())
    if spread < INVALID_DISPARITY_POINTS:
        return None
    worst = rows.loc[rows.value.idxmax(), "group"]
    return (
        f"invalid answers differ between {grouping} groups by {_points(spread)} (highest: {label(worst)}): "
        "unparseable answers are themselves unequal"
    )
