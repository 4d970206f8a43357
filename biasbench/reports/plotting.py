"""Shared plot style: colour-blind-safe palette, percent axes, PNG + SVG output, safe file names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biasbench.core.errors import DataError

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe–Ito colours (distinguishable with the common colour-vision deficiencies)."""
SEQUENTIAL_CMAP = "viridis"
"""Perceptually uniform, colour-blind-safe colour map for heatmaps."""
DPI = 150
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Plot:
    """A drawn figure and the file stem it is saved under (``stem.png`` and ``stem.svg``)."""

    stem: str
    """File stem, e.g. 'groups__demo_mc'."""
    figure: Any
    """A matplotlib Figure."""


def slug(*parts: str) -> str:
    """A file-name-safe stem from ``parts`` ('model-b', 'demo_mc' -> 'model-b__demo_mc')."""
    return "__".join(_SLUG.sub("-", str(p)).strip("-") or "x" for p in parts)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure not tied to pyplot (no global state, no display needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def percent_axis(axis: Any, which: str = "y") -> None:
    """Show a 0..1 axis as percentages."""
    from matplotlib.ticker import PercentFormatter

    (axis.yaxis if which == "y" else axis.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def points_axis(axis: Any, which: str = "x") -> None:
    """Show a difference of two 0..1 values in percentage points (0.1 -> '10')."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: f"{100 * value:.0f}")
    (axis.yaxis if which == "y" else axis.xaxis).set_major_formatter(formatter)


def save_figure(figure: Any, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.png`` and ``stem.svg`` (SVG text stays editable text; no dates in metadata)."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    try:
        figure.savefig(png, dpi=DPI, metadata={"Software": None})
        figure.set_layout_engine("none")  # keep the layout the PNG computed: the SVG does not lay it out again
        with matplotlib.rc_context({"svg.hashsalt": stem, "svg.fonttype": "none"}):
            figure.savefig(svg, metadata={"Date": None, "Creator": None})
    except OSError as exc:
        raise DataError(f"cannot write plot {png}: {exc.strerror or exc}") from None
    return png, svg


def label(group: str) -> str:
    """A group label for axes: cells 'female|Black' become 'female × Black'."""
    return str(group).replace("|", " × ")
