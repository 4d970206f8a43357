"""CLI commands for scoring: score, validate-scorer."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def score(
    run_dir: Path = typer.Argument(..., help="Run directory (the --out of `biasbench run`)."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap replicates (0: no CIs)."),
    seed: Optional[int] = typer.Option(None, help="Seed of the bootstrap and permutations (default: the run's seed)."),
    delta: float = typer.Option(0.05, help="Equivalence margin for the TOST certificate."),
    n_perm: int = typer.Option(2000, "--n-perm", help="Permutations of the voice-level permutation test."),
) -> None:
    """Score a run: group metrics with CIs, gaps, flips, tests -> DIR/scores/ and DIR/summary.csv."""
    from biasbench.scoring.score import SCORES_DIR, format_terminal_summary, score_run

    result = score_run(run_dir, n_boot=n_boot, seed=seed, delta=delta, n_perm=n_perm)
    typer.echo(format_terminal_summary(result))
    for warning in result.warnings:
        typer.secho(f"warning: {warning}", fg="yellow")
    typer.echo(f"score tables: {run_dir / SCORES_DIR} ({len(result.tables)} tables, CSV + Parquet)")


def validate_scorer(
    full: bool = typer.Option(False, "--full", help="The full suite: 2×3×3 and 2×3×5 pools, 400 null runs each, power curves."),
    null_runs: Optional[int] = typer.Option(None, "--null-runs", help="Null runs per pool (default: 120 fast, 400 full)."),
    seed: int = typer.Option(0, help="Seed of the simulations."),
) -> None:
    """Validate the headline's decisions on simulated pools: false alarms, power, CI coverage."""
    from dataclasses import replace

    from biasbench.scoring.validation import FAST_SETTINGS, FULL_SETTINGS, report_lines, validate_divergence_check
    from biasbench.scoring.validation import validate_scorer as run_validation

    settings = FULL_SETTINGS if full else FAST_SETTINGS
    if null_runs is not None:
        settings = replace(settings, null_runs=null_runs)
    typer.echo(f"pools 2 × 3 × {settings.pools}; null runs {settings.null_runs} (items 100–1,500, voice SD 0.03–0.08); "
               f"power runs {settings.power_runs}; bootstrap {settings.n_boot}; permutations {settings.n_perm}")
    reports = run_validation(settings, seed=seed)
    typer.echo(f"open-probe divergence: {settings.divergence_null_runs} null runs, {settings.divergence_planted_runs} planted runs, "
               f"permutations {settings.divergence_n_perm}")
    divergence = validate_divergence_check(settings, seed=seed)
    for line in report_lines(reports, divergence):
        typer.echo(line)
    if not all(r.passed for r in reports) or (divergence is not None and not divergence.passed):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(score)
    app.command("validate-scorer")(validate_scorer)
