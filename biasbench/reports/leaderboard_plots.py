"""Leaderboard plots: overall score vs largest gap (one point per model, 95% CIs), and group bars per model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from biasbench.reports.plotting import (
    PALETTE,
    Plot,
    label,
    new_figure,
    percent_axis,
    points_axis,
    save_figure,
    slug,
)
from biasbench.reports.sheet import metric_kind

if TYPE_CHECKING:
    from biasbench.reports.merged import MergedRuns


def model_colours(models) -> dict[str, str]:
    """One colour per model, the same in every plot and on the page: models in name order take the
    palette in turn (so a model keeps its colour when a task or a plot leaves some models out)."""
    names = sorted({str(m) for m in models})
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def _interval(values: pd.Series, low: pd.Series, high: pd.Series) -> np.ndarray | None:
    if low.isna().all() or high.isna().all():
        return None
    return np.vstack([(values - low).clip(lower=0).fillna(0), (high - values).clip(lower=0).fillna(0)])


def plot_scatter(table: pd.DataFrame, task: str, colours: dict[str, str] | None = None) -> Plot | None:
    """Overall score (y) against the largest group gap (x), error bars = 95% CIs; hollow = calibration model."""
    rows = table[table.task == task].dropna(subset=["overall"]).reset_index(drop=True)
    if rows.empty:
        return None
    metric = str(rows.metric.iloc[0])
    percent = metric_kind(metric) == "percent"
    colours = colours or model_colours(table.model)
    figure = new_figure(6.4, 4.6)
    ax = figure.subplots()
    for _, row in rows.iterrows():
        colour = colours[str(row.model)]
        gap = row.max_gap if pd.notna(row.max_gap) else 0.0
        xerr = _interval(pd.Series([gap]), pd.Series([row.max_gap_ci_low]), pd.Series([row.max_gap_ci_high]))
        yerr = _interval(pd.Series([row.overall]), pd.Series([row.overall_ci_low]), pd.Series([row.overall_ci_high]))
        ax.errorbar(
            [gap],
            [row.overall],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            markersize=8,
            capsize=3,
            color=colour,
            markerfacecolor="white" if row.calibration else colour,
            label=str(row.model),
        )
        ax.annotate(str(row.model), (gap, row.overall), textcoords="offset points", xytext=(6, 6), fontsize=8)
    unit = " (percentage points)" if percent else ""
    ax.set_xlabel(f"largest {rows.grouping.iloc[0]} gap in {metric}{unit}: lower is fairer")
    ax.set_ylabel(f"overall {metric}" + (" (%)" if percent else ""))
    if percent:
        points_axis(ax, "x")
        percent_axis(ax, "y")
    ax.axvline(0, color="#999999", linewidth=0.8)
    ax.grid(alpha=0.3)
    figure.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="outside right upper", title="model")
    ax.set_title(
        f"{task}: score vs largest group gap\n(error bars: 95% CI; hollow marker: calibration instrument)", fontsize=10
    )
    return Plot(slug("scatter", task), figure)


def plot_model_groups(groups: pd.DataFrame, model: str, task: str, colour: str | None = None) -> Plot | None:
    """One model's headline metric per group with 95% CIs, in the model's colour, voice and item counts under each bar."""
    rows = groups[(groups.model == model) & (groups.task == task)].sort_values("group").reset_index(drop=True)
    if rows.empty:
        return None
    metric, grouping = str(rows.metric.iloc[0]), str(rows.grouping.iloc[0])
    percent = metric_kind(metric) == "percent"
    figure = new_figure(max(4.0, 1.5 + 0.7 * len(rows)), 3.8)
    ax = figure.subplots()
    x = np.arange(len(rows))
    ax.bar(
        x,
        rows.value.fillna(0),
        0.7,
        yerr=_interval(rows.value, rows.ci_low, rows.ci_high),
        capsize=3,
        color=colour or PALETTE[0],
    )
    ax.set_xticks(
        x,
        [f"{label(g)}\n{_counts(v, i)}" for g, v, i in zip(rows.group, rows.n_voices, rows.n_items)],
        rotation=30 if len(rows) > 3 else 0,
        ha="right" if len(rows) > 3 else "center",
    )
    ax.set_xlabel(f"{grouping} group")
    ax.set_ylabel(f"{metric}" + (" (%)" if percent else ""))
    if percent:
        percent_axis(ax)
        ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{model} · {task}: {metric} per group (95% CI)", fontsize=10)
    return Plot(slug("groups", model, task), figure)


def _counts(n_voices: object, n_items: object) -> str:
    """'4 voices · 20 items' under a bar (blank parts when unknown)."""
    parts = [f"{int(n)} {what}" for n, what in ((n_voices, "voices"), (n_items, "items")) if pd.notna(n)]
    return " · ".join(parts)


def leaderboard_plots(merged: "MergedRuns") -> list[Plot]:
    """The scatter per task and the group bars per model × task (one colour per model throughout)."""
    colours = model_colours(merged.table.model)
    plots = [plot_scatter(merged.table, task, colours) for task in sorted(merged.table.task.unique())]
    if not merged.groups.empty:
        plots += [
            plot_model_groups(merged.groups, model, task, colours.get(str(model)))
            for model, task in sorted(set(zip(merged.groups.model, merged.groups.task)))
        ]
    return [plot for plot in plots if plot is not None]


def write_leaderboard_plots(merged: "MergedRuns", folder: Path) -> list[Path]:
    """Draw :func:`leaderboard_plots` into ``folder`` (PNG and SVG each)."""
    written: list[Path] = []
    for plot in leaderboard_plots(merged):
        written += save_figure(plot.figure, folder, plot.stem)
    return written
