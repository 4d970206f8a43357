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
    experiments: Optional[int] = typer.Option(None, help="Experiments per condition (default: 150 fast, 200 with --full)."),
    full: bool = typer.Option(False, "--full", help="The full suite: 200 experiments, 200 items, 1000 replicates."),
    seed: int = typer.Option(0, help="Seed of the simulations."),
    engine: str = typer.Option("numpy", help="'numpy' (fast draw of the adapter's model) or 'adapter' (the simulated adapter answers)."),
) -> None:
    """Check the scorer on planted bias: gap recovery, CI coverage, permutation-test size, naive bootstrap."""
    from biasbench.scoring.simulation import PlantedDesign
    from biasbench.scoring.validation import FAST, fast_design, validate_scorer as run_validation

    if full:
        settings, design = {"n_experiments": 200, "n_boot": 1000, "n_perm": 1000}, PlantedDesign()
    else:
        settings, design = dict(FAST), fast_design()
    if experiments is not None:
        settings["n_experiments"] = experiments
    typer.echo(f"design: {dict(design.levels)}, {design.voices_per_cell} voices per cell, {design.n_items} items, "
               f"planted {dict(design.planted)} on {design.axis}, voice_sd {design.voice_sd}, item_sd {design.item_sd}")
    report = run_validation(design=design, seed=seed, engine=engine, **settings)
    for line in report.lines():
        typer.echo(line)
    if not report.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(score)
    app.command("validate-scorer")(validate_scorer)
