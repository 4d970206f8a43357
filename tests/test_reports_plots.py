"""Plots for a fixture run and a fixture leaderboard: files exist, are valid PNG/SVG, and every axis is labelled."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.reports import load_run, write_run_report  # noqa: E402
from biasbench.reports.leaderboard import merge_runs  # noqa: E402
from biasbench.reports.leaderboard_plots import leaderboard_plots  # noqa: E402
from biasbench.reports.plotting import PALETTE  # noqa: E402
from biasbench.reports.run_plots import run_plots  # noqa: E402

RUN_STEMS = {
    "groups__demo_mc",
    "heatmap__model-b__demo_mc",
    "heatmap__planted-sim__demo_mc",
    "flips__demo_mc",
    "text_control__demo_mc",
}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("plots") / "run")


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def test_run_plots_are_valid_png_and_svg(run_dir: Path) -> None:
    paths = write_run_report(run_dir).plots
    assert {p.stem for p in paths} == RUN_STEMS
    assert {p.suffix for p in paths} == {".png", ".svg"} and len(paths) == 2 * len(RUN_STEMS)
    for path in paths:
        assert path.parent == run_dir / "plots" and path.stat().st_size > 1000
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            image = matplotlib.image.imread(path)
            assert image.shape[0] > 200 and image.shape[1] > 200
            assert image[..., :3].std() > 0.05  # something is drawn
        else:
            texts = _svg_texts(path)
            assert any("%" in t for t in texts) or "heatmap" not in path.stem, path


def test_every_axis_is_labelled(run_dir: Path) -> None:
    plots = run_plots(load_run(run_dir))
    assert {p.stem for p in plots} == RUN_STEMS
    for plot in plots:
        main_axes = [ax for ax in plot.figure.axes if ax.get_label() != "<colorbar>"]
        assert main_axes, plot.stem
        for ax in main_axes:
            assert ax.get_xlabel(), (plot.stem, "x")
            shares_y = ax is not main_axes[0] and ax.get_shared_y_axes().joined(ax, main_axes[0])
            assert ax.get_ylabel() or shares_y, (plot.stem, "y")
        colorbars = [ax for ax in plot.figure.axes if ax.get_label() == "<colorbar>"]
        assert all(ax.get_ylabel() for ax in colorbars), plot.stem
    by_stem = {p.stem: p.figure for p in plots}
    assert by_stem["groups__demo_mc"].axes[0].get_ylabel() == "accuracy (%)"
    heatmap = by_stem["heatmap__planted-sim__demo_mc"].axes[0]
    assert (heatmap.get_ylabel(), heatmap.get_xlabel()) == ("gender", "race")
    assert "flip rate" in by_stem["flips__demo_mc"].axes[0].get_ylabel()


def test_bars_use_the_colour_blind_safe_palette(run_dir: Path) -> None:
    from matplotlib.colors import to_hex

    figure = {p.stem: p.figure for p in run_plots(load_run(run_dir))}["groups__demo_mc"]
    colours = {to_hex(patch.get_facecolor()).upper() for patch in figure.axes[0].patches}
    assert colours and colours <= {c.upper() for c in PALETTE}


def test_heatmap_cells_show_the_cell_metrics(run_dir: Path) -> None:
    run = load_run(run_dir)
    figure = {p.stem: p.figure for p in run_plots(run)}["heatmap__planted-sim__demo_mc"]
    metrics = run.table("group_metrics")
    cells = metrics[
        (metrics.model == "planted-sim")
        & (metrics.grouping == "cell")
        & (metrics.metric == "accuracy")
        & (metrics.modality == "audio")
    ]
    shown = sorted(t.get_text() for t in figure.axes[0].texts)
    assert shown == sorted(f"{100 * v:.1f}%" for v in cells.value)


def test_leaderboard_plots(run_dir: Path, tmp_path: Path) -> None:
    merged = merge_runs([run_dir], tmp_path)
    plots = {p.stem: p.figure for p in leaderboard_plots(merged)}
    assert set(plots) == {"scatter__demo_mc", "groups__model-b__demo_mc", "groups__planted-sim__demo_mc"}
    scatter = plots["scatter__demo_mc"].axes[0]
    assert "gap" in scatter.get_xlabel() and "percentage points" in scatter.get_xlabel()
    assert scatter.get_ylabel() == "overall accuracy (%)"
    assert len(scatter.containers) == 2  # one error-bar point per model
    for name, figure in plots.items():
        assert figure.axes[0].get_xlabel() and figure.axes[0].get_ylabel(), name
