"""CLI commands for model helpers: estimate-cost."""

from __future__ import annotations

from pathlib import Path

import typer


def estimate_cost(config: Path = typer.Argument(..., help="Run config (YAML).")) -> None:
    """Upper-bound API cost of a run, per model, before running it (nothing is called)."""
    from biasbench.runner.cost_estimate import estimate_run
    from biasbench.config import load_config

    cfg = load_config(config)
    estimates = estimate_run(cfg, config.parent)
    width = max(len(e.model) for e in estimates)
    typer.echo(f"{'model':<{width}}  {'adapter':<18} {'requests':>8} {'audio min':>9} {'USD (upper bound)':>17}")
    for e in estimates:
        typer.echo(f"{e.model:<{width}}  {e.adapter:<18} {e.requests:>8} {e.audio_seconds / 60:>9.1f} {e.usd:>17.2f}")
    total = sum(e.usd for e in estimates)
    typer.echo(f"total: {total:.2f} USD (assumes every answer uses max_new_tokens; clip length from word counts)")
    if cfg.max_cost_usd is not None and total > cfg.max_cost_usd:
        typer.secho(f"warning: the estimate exceeds max_cost_usd={cfg.max_cost_usd}; the run will stop there (finished rows kept)", fg="yellow")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command("estimate-cost")(estimate_cost)
