"""CLI command: track (log a scored run to MLflow and/or Weights & Biases)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from biasbench.core.errors import ConfigError


def track(
    run_dir: Path = typer.Argument(..., help="A scored run directory."),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help="MLflow tracking URI (a server URL, sqlite:///mlflow.db, file:///path); 'default' uses MLflow's own setting."),
    experiment: str = typer.Option("biasbench", "--experiment", help="MLflow experiment name."),
    wandb: Optional[str] = typer.Option(None, "--wandb", help="Weights & Biases project to log to."),
    wandb_mode: str = typer.Option("offline", "--wandb-mode", help="offline (sync later with `wandb sync`) or online."),
    wandb_dir: Optional[Path] = typer.Option(None, "--wandb-dir", help="Folder for W&B's local files (default: here)."),
) -> None:
    """Log a run's parameters, per-group metrics with CIs, score tables and files to experiment trackers."""
    from biasbench.tracking.summary import summarize_run
    from biasbench.tracking.trackers import log_to_mlflow, log_to_wandb

    if mlflow is None and wandb is None:
        raise ConfigError("nothing to do: give --mlflow URI and/or --wandb PROJECT")
    if wandb_mode not in ("offline", "online"):
        raise ConfigError(f"--wandb-mode must be offline or online, not '{wandb_mode}'")
    summary = summarize_run(run_dir)
    if mlflow is not None:
        run_id = log_to_mlflow(summary, tracking_uri=None if mlflow == "default" else mlflow, experiment=experiment)
        typer.echo(f"MLflow: run {run_id} in experiment '{experiment}' ({len(summary.metrics)} metrics, {len(summary.tables)} tables)")
    if wandb is not None:
        folder = log_to_wandb(summary, project=wandb, mode=wandb_mode, directory=wandb_dir)
        typer.echo(f"W&B ({wandb_mode}): {folder}")


def register(app: typer.Typer) -> None:
    """Add track."""
    app.command()(track)
