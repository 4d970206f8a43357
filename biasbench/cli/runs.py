"""CLI commands: run, validate, ls."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from biasbench.core.errors import ConfigError, RunInterruptedError

def run(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: the config's `output`)."),
    seed: Optional[int] = typer.Option(None, help="Override the config's seed."),
    concurrency: Optional[int] = typer.Option(None, help="Requests in flight for API adapters."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Requests per call for batching adapters."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.xlsx and plots."),
    new: bool = typer.Option(False, "--new", help="Start a fresh run directory (OUT-2, OUT-3, ...) instead of resuming OUT."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    verify_cache: bool = typer.Option(False, "--verify-cache", help="Re-hash every cached clip (else only its size is checked)."),
) -> None:
    """Synthesize the pool, ask every model, score per group and write the report (resumable).

    Exit codes: 0 complete, 3 stopped by max_cost_usd, 4 incomplete (rows missing), 5 failed (no row
    answered), 130 interrupted, 2 bad input. Finished rows are always kept; the same command resumes."""
    import signal

    from biasbench.config import load_config
    from biasbench.pipeline import run_experiment

    overrides = {"seed": seed, "concurrency": concurrency, "batch_size": batch_size, "report": False if no_report else None}
    overrides["verify_cache"] = True if verify_cache else None
    cfg = load_config(config, **overrides)
    run_dir = out or Path(cfg.output)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM ends like Ctrl-C: invocation recorded, table written
    try:
        outcome = run_experiment(
            cfg, run_dir, config.parent, config_path=str(config), show_progress=not quiet, echo=typer.echo, new=new
        )
    except KeyboardInterrupt:  # an interrupt outside the run's own handler (e.g. while planning)
        raise RunInterruptedError("nothing was lost", hint="run the same command again to resume") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    stats = outcome.stats
    if outcome.summary:
        typer.echo(outcome.summary)
    for warning in outcome.warnings:
        typer.secho(f"warning: {warning}", fg="yellow")
    missing = f", {stats.rows_unanswered} missing" if stats.rows_unanswered else ""
    typer.echo(
        f"{stats.rows_total} rows ({stats.rows_from_log} from earlier invocations{missing}), "
        f"{stats.tts_calls} TTS calls, {stats.model_calls} model calls, {stats.wall_s:.1f} s — {stats.status}"
    )
    typer.echo(f"run directory: {outcome.run_dir}")
    if outcome.report_path is not None:
        typer.echo(f"report: {outcome.report_path}")
    if outcome.stop is not None:
        raise outcome.stop


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM → SIGINT: the same clean stop as Ctrl-C (asyncio's own SIGINT handling included)."""
    import signal

    signal.raise_signal(signal.SIGINT)


def validate(config: Path = typer.Argument(..., help="Run config (YAML).")) -> None:
    """Check a config without running it; every problem is listed at once."""
    from biasbench.config import config_problems, load_config

    cfg = load_config(config)
    problems = config_problems(cfg, config.parent)
    if problems:
        for problem in problems:
            typer.secho(f"error: {problem}", err=True, fg="red")
        raise typer.Exit(2)
    typer.echo(f"{config}: valid ({len(cfg.tasks)} task(s), {len(cfg.models)} model(s), pool '{cfg.pool}')")


def _registry_rows(kind: str) -> list[tuple[str, str, str]]:
    from biasbench.core import registry

    chosen = registry.adapters if kind == "adapters" else registry.tts_backends
    return [(entry.name, entry.origin, entry.target) for entry in chosen.entries()]


def _spec_rows(kind: str) -> list[tuple[str, str, str]]:
    if kind == "tasks":
        from biasbench.tasks.loading import available_tasks as available
    else:
        from biasbench.voices.spec import available_pools as available
    return [(name, "", description) for name, description in available()]


LISTINGS = {"adapters": _registry_rows, "tts": _registry_rows, "tasks": _spec_rows, "pools": _spec_rows}
"""What `biasbench ls` can list, and how."""


def ls(what: Optional[str] = typer.Argument(None, help=f"One of: {', '.join(LISTINGS)} (default: all).")) -> None:
    """List registered adapters, TTS backends, tasks and shipped voice pools."""
    from biasbench.core.registry import did_you_mean

    if what is not None and what not in LISTINGS:
        raise ConfigError(f"cannot list '{what}'{did_you_mean(what, list(LISTINGS))}", hint=f"choose one of {', '.join(LISTINGS)}")
    for kind in LISTINGS if what is None else (what,):
        typer.secho(kind, bold=True)
        rows = LISTINGS[kind](kind)
        width = max((len(row[0]) for row in rows), default=0)
        for name, origin, detail in rows:
            origin_text = f"[{origin}] " if origin and origin != "builtin" else ""
            typer.echo(f"  {name:<{width}}  {origin_text}{detail}")


def register(app: typer.Typer) -> None:
    """Add run, validate and ls."""
    app.command()(run)
    app.command()(validate)
    app.command("ls")(ls)
