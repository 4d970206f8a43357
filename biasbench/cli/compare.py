"""CLI command `biasbench compare RUN_A RUN_B`: agreement of two runs that differ only in the TTS engine or pool."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def compare(
    run_a: Path = typer.Argument(..., help="First run directory (e.g. spoken by espeak)."),
    run_b: Path = typer.Argument(..., help="Second run directory (same tasks and models, another engine or pool)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the CSV tables (default: RUN_B/compare/<RUN_A name>)."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap replicates of the correlation CIs."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
) -> None:
    """Per-group estimates side by side, their correlation and rank agreement, verdict and per-item flip agreement."""
    from biasbench.reports.compare import compare_runs

    result = compare_runs(run_a, run_b, out or run_b / "compare" / run_a.name, n_boot=n_boot, seed=seed)
    typer.echo(result.format())


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(compare)
