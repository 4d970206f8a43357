"""Report views of the understanding-vs-treatment decomposition (scores/decomposition.csv): a sheet and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biasbench.reports.plotting import PALETTE, Plot, label, new_figure, points_axis, save_figure, slug
from biasbench.reports.sheet import Sheet

PARTS = (("total_gap", "total gap", PALETTE[7]), ("understanding_part", "explained by not-understood rows", PALETTE[1]),
         ("treatment_gap", "treatment gap (understood rows)", PALETTE[0]), ("text_gap", "audio − text control", PALETTE[5]))
"""Bars of the plot: column, legend label, colour."""


def read_decomposition(run_dir: Path) -> pd.DataFrame | None:
    """scores/decomposition.csv, or None when the run has none."""
    path = Path(run_dir) / "scores" / "decomposition.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"group": str, "note": str, "sources": str})
    table[["note", "sources"]] = table[["note", "sources"]].fillna("")
    return table


def decomposition_sheet(run: Any) -> Sheet | None:
    """The Decomposition sheet (None when the run recorded no understanding signal)."""
    description = ("each group's gap vs the rest of its axis split into the part explained by not-understood rows and the "
                   "treatment gap among understood rows, with the audio − text gap beside them (95% cluster-bootstrap CIs)")
    table = read_decomposition(run.run_dir)
    if table is None:
        return None
    if table.empty:
        return Sheet.empty("Decomposition", "no audio rows with group labels", description=description, order=95)
    return Sheet("Decomposition", table, description=description, gap_columns=("total_gap", "understanding_part", "treatment_gap"), order=95)


def plot_decomposition(table: pd.DataFrame, model: str, task: str) -> Plot | None:
    """Per group: total gap, its understanding part, the treatment gap and the audio − text gap, with 95% CIs."""
    rows = table[(table["model"] == model) & (table["task"] == task)]
    if rows.empty:
        return None
    names = [f"{a}={label(g)}" for a, g in zip(rows["axis"], rows["group"])]
    figure = new_figure(min(16, max(6.5, 2 + 1.2 * len(names))), 4.4)
    ax = figure.subplots()
    x = np.arange(len(names))
    width = 0.8 / len(PARTS)
    for index, (column, text, colour) in enumerate(PARTS):
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
        low = pd.to_numeric(rows[f"{column}_ci_low"], errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(rows[f"{column}_ci_high"], errors="coerce").to_numpy(dtype=float)
        errors = np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)])
        ax.bar(x + (index - 1.5) * width, np.nan_to_num(values), width, yerr=errors, capsize=2, color=colour, label=text)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel(f"{rows['metric'].iloc[0]} gap vs the rest (points)")
    points_axis(ax, "y")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    figure.suptitle(f"{model} / {task}: understanding vs treatment (error bars: 95% CI)", fontsize=10)
    return Plot(slug("decomposition", model, task), figure)


def write_decomposition_plots(run_dir: Path) -> tuple[Path, ...]:
    """Draw one decomposition plot per model × task into run_dir/plots/."""
    table = read_decomposition(run_dir)
    if table is None or table.empty:
        return ()
    written: list[Path] = []
    for (model, task), _ in table.groupby(["model", "task"], sort=True):
        plot = plot_decomposition(table, str(model), str(task))
        if plot is not None:
            written += save_figure(plot.figure, Path(run_dir) / "plots", plot.stem)
    return tuple(written)
