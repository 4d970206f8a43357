"""Per-run plots: score per group with CIs, the two-axis heatmap, answer flips, audio vs text control."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from biasbench.reports.headline import headline_grouping
from biasbench.reports.plotting import (
    PALETTE,
    SEQUENTIAL_CMAP,
    Plot,
    label,
    new_figure,
    percent_axis,
    save_figure,
    slug,
)
from biasbench.reports.rundata import RunData
from biasbench.reports.sheet import metric_kind

PLOTS_DIR = "plots"
PLOT_PREFIXES = ("groups__", "heatmap__", "flips__", "text_control__")
"""File-name prefixes of the per-run plots (other areas' plots in the same folder are left alone)."""


def _metric_label(metric: str) -> str:
    return f"{metric} (%)" if metric_kind(metric) == "percent" else metric


def _headline_metrics(run: RunData) -> dict[str, str]:
    """task -> headline metric (from the summary's overall rows)."""
    summary = run.table("summary")
    if summary is None or summary.empty:
        return {}
    overall = summary[(summary.grouping == "overall") & (summary.modality == "audio")]
    return {str(t): str(m) for t, m in zip(overall.task, overall.metric)}


def _errors(frame: pd.DataFrame) -> np.ndarray | None:
    if frame[["ci_low", "ci_high"]].isna().all().all():
        return None
    low = (frame.value - frame.ci_low).clip(lower=0).fillna(0).to_numpy()
    high = (frame.ci_high - frame.value).clip(lower=0).fillna(0).to_numpy()
    return np.vstack([low, high])


def _format_axis(ax, metric: str) -> None:
    if metric_kind(metric) == "percent":
        percent_axis(ax)
        ax.set_ylim(bottom=0)


def _title(figure: Any, run: RunData, models: Sequence[str], title: str) -> None:
    """Figure title, with a second line when it shows a demonstration pool or a calibration instrument."""
    lines = [title]
    if run.is_demonstration:
        lines.append("DEMONSTRATION POOL: NOT A BIAS MEASUREMENT")
    calibration = [m for m in models if m in run.calibration_models]
    if calibration:
        lines.append(f"CALIBRATION INSTRUMENT (planted behaviour): {', '.join(calibration)}")
    figure.suptitle("\n".join(lines), fontsize=10)


def planted_values(run: RunData, model: str) -> tuple[str, dict[str, float]]:
    """(axis, group -> planted accuracy) of a calibration instrument's config ('', {} otherwise)."""
    if model not in run.calibration_models:
        return "", {}
    for entry in run.info.config.get("models") or ():
        if entry.get("name") == model:
            params = entry.get("params") or {}
            planted = params.get("planted") or {}
            try:
                return str(params.get("axis") or ""), {str(k): float(v) for k, v in planted.items()}
            except (TypeError, ValueError):
                return "", {}
    return "", {}


def _group_counts(part: pd.DataFrame, group: str) -> str:
    """'4 voices' under a bar (the same voices answer for every model)."""
    rows = part[part.group == group]
    n = rows.n_voices.max() if "n_voices" in rows and not rows.empty else None
    return f"\n{int(n)} voices" if n is not None and pd.notna(n) else ""


def plot_groups(run: RunData, task: str, metric: str) -> Plot | None:
    """Score per group with 95% CI bars: one panel per grouping (each pool axis, then cells), one bar per model."""
    metrics = run.table("group_metrics")
    if metrics is None:
        return None
    data = metrics[(metrics.task == task) & (metrics.modality == "audio") & (metrics.metric == metric)]
    groupings = [g for g in (*run.axes, "cell") if (data.grouping == g).any()]
    if not groupings or (len(run.axes) == 1 and groupings == [run.axes[0], "cell"]):
        groupings = groupings[:1]
    if not groupings:
        return None
    models = sorted(data.model.unique())
    widths = [max(2.5, data[data.grouping == g].group.nunique()) for g in groupings]
    figure = new_figure(min(16, 2.5 + 0.6 * max(1.5, len(models)) * sum(widths)), 4.6)
    axes = figure.subplots(1, len(groupings), squeeze=False, sharey=True, width_ratios=widths)[0]
    bar = 0.8 / max(1, len(models))
    for ax, grouping in zip(axes, groupings):
        part = data[data.grouping == grouping]
        groups = sorted(part.group.unique())
        x = np.arange(len(groups))
        for index, model in enumerate(models):
            rows = part[part.model == model].set_index("group").reindex(groups)
            centres = x + (index - (len(models) - 1) / 2) * bar
            ax.bar(
                centres,
                rows.value.fillna(0),
                bar * 0.95,
                yerr=_errors(rows.reset_index()),
                capsize=3,
                color=PALETTE[index % len(PALETTE)],
                label=model,
                error_kw={"elinewidth": 1, "ecolor": "#333333"},
            )
            axis, planted = planted_values(run, model)
            if axis == grouping and metric == "accuracy":  # the calibration instrument's planted truth
                for centre, group in zip(centres, groups):
                    if group in planted:
                        ax.hlines(planted[group], centre - bar / 2, centre + bar / 2, colors="#000000", linestyles="--", linewidth=1.5,
                                  label="planted (calibration)" if centre == centres[0] else None)
        ax.set_xticks(
            x,
            [label(g) + _group_counts(part, g) for g in groups],
            rotation=30 if grouping == "cell" else 0,
            ha="right" if grouping == "cell" else "center",
        )
        ax.set_xlabel(f"{grouping} group")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(_metric_label(metric))
    _format_axis(axes[0], metric)
    figure.legend(
        *axes[0].get_legend_handles_labels(),
        title="model",
        fontsize=8,
        loc="outside lower center",
        ncols=min(4, len(models)),
    )
    _title(figure, run, models, f"{task}: {metric} per voice group (error bars: 95% CI over items and voices)")
    return Plot(slug("groups", task), figure)


def plot_heatmap(run: RunData, model: str, task: str, metric: str) -> Plot | None:
    """Two-axis heatmap of the metric per intersectional cell (first axis down, second across)."""
    metrics = run.table("group_metrics")
    if metrics is None or len(run.axes) < 2:
        return None
    cells = metrics[
        (metrics.model == model)
        & (metrics.task == task)
        & (metrics.modality == "audio")
        & (metrics.grouping == "cell")
        & (metrics.metric == metric)
    ]
    if cells.empty:
        return None
    parts = cells.group.astype(str).str.split("|", n=1, expand=True)
    cells = cells.assign(_down=parts[0], _across=parts[1] if parts.shape[1] > 1 else "")
    matrix = cells.pivot_table(index="_down", columns="_across", values="value", aggfunc="first")
    values = matrix.to_numpy(dtype=float)
    if values.size == 0 or np.isnan(values).all():  # every cell without a value (errors / invalid only): nothing to draw
        return None
    figure = new_figure(max(6.5, 1.6 + 1.3 * matrix.shape[1]), 1.6 + 0.8 * matrix.shape[0])
    ax = figure.subplots()
    percent = metric_kind(metric) == "percent"
    image = ax.imshow(
        matrix.to_numpy(dtype=float),
        cmap=SEQUENTIAL_CMAP,
        aspect="auto",
        vmin=0 if percent else None,
        vmax=max(1.0, float(np.nanmax(values))) if percent else None,
    )
    for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
        if not np.isnan(value):
            text = f"{100 * value:.1f}%" if percent else f"{value:.3f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color="white" if (value < 0.6 if percent else False) else "black",
                fontsize=9,
            )
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(matrix.shape[0]), [str(r) for r in matrix.index])
    ax.set_xlabel(" × ".join(run.axes[1:]))
    ax.set_ylabel(run.axes[0])
    colorbar = figure.colorbar(image, ax=ax)
    colorbar.set_label(_metric_label(metric))
    if percent:
        percent_axis(colorbar.ax)
    _title(figure, run, [model], f"{model} · {task}: {metric} per cell")
    return Plot(slug("heatmap", model, task), figure)


def plot_flips(run: RunData, task: str) -> Plot | None:
    """Answer-flip rate between two voices of the same group vs of different groups: one panel per grouping
    (each pool axis, then cells), one pair of bars per model, 95% CIs ('no CI' written where there is none)."""
    flips = run.table("flips")
    if flips is None or flips.empty:
        return None
    data = flips[(flips.task == task) & (flips.modality == "audio")]
    models = sorted(data.model.unique())
    groupings = [g for g in (*run.axes, "cell") if (data.grouping == g).any()]
    if not models or not groupings:
        return None
    quantities = (("within_group", "same group"), ("cross_group", "different groups"))
    figure = new_figure(max(6.0, 1.5 + 1.3 * len(models) * len(groupings)), 4.4)
    axes = figure.subplots(1, len(groupings), squeeze=False, sharey=True)[0]
    x = np.arange(len(models))
    for ax, grouping in zip(axes, groupings, strict=True):
        part = data[data.grouping == grouping]
        for index, (quantity, name) in enumerate(quantities):
            rows = part[part.quantity == quantity].set_index("model").reindex(models).reset_index()
            offset = x + (index - 0.5) * 0.38
            ax.bar(
                offset,
                rows.value.fillna(0),
                0.36,
                yerr=_errors(rows),
                capsize=3,
                color=PALETTE[index],
                label=f"two voices from {name}",
            )
            for position, row in zip(offset, rows.itertuples(), strict=True):
                if pd.notna(row.value) and (pd.isna(row.ci_low) or pd.isna(row.ci_high)):
                    ax.annotate(
                        "no CI",
                        (position, row.value),
                        textcoords="offset points",
                        xytext=(0, 3),
                        ha="center",
                        fontsize=7,
                        color="#555555",
                    )
        ax.set_xticks(x, models)
        ax.set_xlabel(f"model ({grouping} groups)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("answer-flip rate (% of voice pairs)")
    percent_axis(axes[0])
    figure.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncols=2)
    _title(figure, run, models, f"{task}: answers that change with the voice (error bars: 95% CI)")
    return Plot(slug("flips", task), figure)


def plot_text_control(run: RunData, task: str, metric: str) -> Plot | None:
    """Audio score per group next to the text-only control of the same items, per model."""
    metrics, summary = run.table("group_metrics"), run.table("summary")
    if metrics is None or summary is None:
        return None
    text = summary[(summary.task == task) & (summary.modality == "text") & (summary.metric == metric)]
    if text.empty:
        return None
    models = sorted(text.model.unique())
    grouping = headline_grouping(run, models[0], task, metric)
    audio = metrics[
        (metrics.task == task)
        & (metrics.modality == "audio")
        & (metrics.grouping == grouping)
        & (metrics.metric == metric)
    ]
    groups = sorted(audio.group.unique())
    if not groups:
        return None
    figure = new_figure(min(16, max(6.5, 3 + 0.5 * len(groups) * len(models))), 4.4)
    axes = figure.subplots(1, len(models), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models):
        rows = audio[audio.model == model].set_index("group").reindex(groups).reset_index()
        x = np.arange(len(groups))
        ax.bar(x, rows.value.fillna(0), 0.7, yerr=_errors(rows), capsize=3, color=PALETTE[0], label="audio (per group)")
        control = text[text.model == model].iloc[0]
        ax.axhline(control.value, color=PALETTE[5], linestyle="--", linewidth=1.5, label="text control (no voice)")
        if pd.notna(control.ci_low) and pd.notna(control.ci_high):
            ax.axhspan(
                control.ci_low, control.ci_high, color=PALETTE[5], alpha=0.12, zorder=0, label="text control 95% CI"
            )
        ax.set_xticks(x, [label(g) for g in groups], rotation=30, ha="right")
        ax.set_xlabel(f"{grouping} group")
        ax.set_title(model, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(_metric_label(metric))
    _format_axis(axes[0], metric)
    figure.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncols=3)
    _title(figure, run, models, f"{task}: audio per voice group vs the text-only control (error bars: 95% CI)")
    return Plot(slug("text_control", task), figure)


def run_plots(run: RunData) -> list[Plot]:
    """Every plot the run's score tables allow, in a stable order."""
    plots: list[Plot | None] = []
    for task, metric in sorted(_headline_metrics(run).items()):
        plots.append(plot_groups(run, task, metric))
        for model in sorted(m for m, t in _model_tasks(run) if t == task):
            plots.append(plot_heatmap(run, model, task, metric))
        plots.append(plot_flips(run, task))
        plots.append(plot_text_control(run, task, metric))
    return [plot for plot in plots if plot is not None]


def write_run_plots(run: RunData) -> tuple[Path, ...]:
    """Draw :func:`run_plots` into run_dir/plots/ (PNG and SVG each)."""
    folder = run.run_dir / PLOTS_DIR
    plots = run_plots(run)
    if folder.is_dir():  # drop this module's plots from an earlier report (e.g. of a model since removed)
        for stale in folder.iterdir():
            if stale.suffix in (".png", ".svg") and stale.name.startswith(PLOT_PREFIXES):
                stale.unlink()
    written: list[Path] = []
    for plot in plots:
        written += save_figure(plot.figure, folder, plot.stem)
    return tuple(written)


def _model_tasks(run: RunData) -> set[tuple[str, str]]:
    summary = run.table("summary")
    if summary is None:
        return set()
    return {(str(m), str(t)) for m, t in zip(summary.model, summary.task)}
