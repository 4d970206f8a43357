"""CLI commands for reports: report, leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def report(
    run_dir: Path = typer.Argument(..., help="Run directory (the --out folder of `biasbench run`)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Also draw plots/ (PNG + SVG)."),
) -> None:
    """Write report.xlsx, report/*.csv|parquet, summary.md and plots/ from a scored run."""
    from biasbench.pipeline import check_report_inputs
    from biasbench.reports import write_run_report

    check_report_inputs(run_dir)
    paths = write_run_report(run_dir, plots=plots)
    typer.echo(paths.summary_md.read_text(encoding="utf-8"))
    typer.echo(f"report: {paths.workbook}")
    typer.echo(
        f"tables: {paths.workbook.parent / 'report'}  summary: {paths.summary_md}"
        + (f"  plots: {len(paths.plots)} files in {paths.workbook.parent / 'plots'}" if paths.plots else "")
    )


def leaderboard(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories to merge (one or more)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for leaderboard.csv, .xlsx, .html and plots."),
    title: str = typer.Option("biasbench leaderboard", help="Page title."),
) -> None:
    """Merge runs into a ranked leaderboard (CSV, Excel, plots, a self-contained HTML page)."""
    from biasbench.reports.leaderboard import write_leaderboard

    paths = write_leaderboard(run_dirs, out, title=title)
    typer.echo(f"leaderboard: {paths.html}")
    typer.echo(f"tables: {paths.csv}  {paths.workbook}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command("report")(report)
    app.command("leaderboard")(leaderboard)
