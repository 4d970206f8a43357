"""CLI commands: run, validate, ls."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

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
    shard: Optional[str] = typer.Option(
        None, "--shard", help="Run only shard I of N (e.g. 0/4; items split by a stable hash); combine with `biasbench merge`."
    ),
    limit: Optional[int] = typer.Option(
        None, "--limit", min=1, help="At most N items per task (seeded, stratified by the task's groups); a limited run is its own configuration."
    ),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated model names: run only these of the config's models."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Comma-separated task names: run only these of the config's tasks."),
    sets: list[str] = typer.Option([], "--set", help="Override a config value: path.to.key=value (YAML value; repeatable; validated like the YAML)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print rows, clips, calls, time and cost; write nothing."),
    verify_cache: bool = typer.Option(False, "--verify-cache", help="Re-hash every cached clip (else only its size is checked)."),
    executor: Optional[str] = typer.Option(
        None, "--executor", help="Where local models run: local, or ray (actors on a Ray cluster; sets executor.kind)."
    ),
) -> None:
    """Synthesize the pool, ask every model, score per group and write the report (resumable).

    Exit codes: 0 complete, 3 stopped by max_cost_usd, 4 incomplete (rows missing), 5 failed (no row
    answered), 130 interrupted, 2 bad input. Finished rows are always kept; the same command resumes."""
    import signal

    from biasbench.config import load_config
    from biasbench.pipeline import run_experiment

    overrides = {
        "seed": seed, "concurrency": concurrency, "batch_size": batch_size, "report": False if no_report else None, "limit": limit,
        "verify_cache": True if verify_cache else None,
    }
    if executor is not None:
        sets = [*sets, f"executor.kind={executor}"]
    cfg = load_config(config, sets=sets, models=_names(models), tasks=_names(tasks), **overrides)
    from biasbench.runner.shard import Shard

    part = Shard.parse(shard) if shard is not None else None
    run_dir = out or Path(cfg.output)
    base_dir = config.parent
    if dry_run:
        from biasbench.pipeline import fresh_run_dir
        from biasbench.runner.dry_run import dry_run as plan_dry_run, format_dry_run

        for line in format_dry_run(plan_dry_run(cfg, base_dir, fresh_run_dir(run_dir) if new else run_dir)):
            typer.echo(line)
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM ends like Ctrl-C: invocation recorded, table written
    try:
        outcome = run_experiment(
            cfg, run_dir, base_dir, config_path=str(config), show_progress=not quiet, echo=typer.echo, new=new,
            shard=part,
        )
    except KeyboardInterrupt:  # an interrupt outside the run's own handler (e.g. while planning)
        raise RunInterruptedError("nothing was lost", hint="run the same command again to resume") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    stats = outcome.stats
    if outcome.summary_tables is not None:
        print_summary(outcome.summary_tables)
    elif outcome.summary:
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
    if part is not None:
        typer.echo(f"shard {part}: not scored; run `biasbench merge` on all {part.count} shard directories")
    if outcome.stop is not None:
        raise outcome.stop


def merge(
    shard_dirs: list[Path] = typer.Argument(..., help="The run directories of every `biasbench run --shard I/N`."),
    out: Path = typer.Option(..., "--out", "-o", help="Merged run directory (scored and reported like a run)."),
) -> None:
    """Merge sharded runs into one run directory, then score and report it (idempotent)."""
    from biasbench.pipeline import merge_shards

    outcome = merge_shards(shard_dirs, out)
    if outcome.summary_tables is not None:
        print_summary(outcome.summary_tables)
    elif outcome.summary:
        typer.echo(outcome.summary)
    for warning in outcome.warnings:
        typer.secho(f"warning: {warning}", fg="yellow")
    done = "merged" if outcome.written else "already merged (nothing rewritten)"
    typer.echo(f"{len(shard_dirs)} shards {done}: {outcome.rows} rows — {outcome.status}")
    typer.echo(f"run directory: {outcome.run_dir}")
    if outcome.report_path is not None:
        typer.echo(f"report: {outcome.report_path}")
    if outcome.status != "complete":
        from biasbench.core.errors import RunIncompleteError

        raise RunIncompleteError(f"the merged run is incomplete: {outcome.reason}", hint="resume the incomplete shards, then merge again")


def _names(value: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b'] (None when not given)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigError("expected comma-separated names, got nothing", hint="e.g. --models a,b")
    return names


SUMMARY_GROUPINGS = ("overall", "gender", "race", "accent", "age_band")
"""Groupings the terminal summary shows (the rest are in summary.csv and the report)."""


def fitted_table(rows: list[dict[str, str]], columns: tuple[str, ...], keep_whole: tuple[str, ...],
                 droppable: tuple[str, ...], width: int, title: str = "", more: str = "") -> Any:
    """A rich table of ``rows`` that fits ``width`` columns: ``keep_whole`` columns (names, numbers) are never
    cut nor folded; ``droppable`` ones are left out in that order when needed (said in the caption); the rest wrap."""
    from rich.table import Table

    natural = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    shown = [c for c in columns if any(r[c] for r in rows) or c not in droppable]
    left_out = []
    for column in droppable:
        if sum(natural[c] for c in shown) + len(shown) - 1 <= width:
            break
        if column in shown:
            shown.remove(column)
            left_out.append(column)
    out = Table(title=title or None, title_justify="left", show_edge=False, pad_edge=False, box=None,
                header_style="bold", padding=(0, 1, 0, 0))
    for column in shown:
        whole = column in keep_whole
        out.add_column(column, overflow="fold", no_wrap=whole, min_width=natural[column] if whole else None)
    for row in rows:
        out.add_row(*(row[c] for c in shown))
    notes = ([f"{', '.join(left_out)} left out for width"] if left_out else []) + ([more] if more else [])
    if notes:
        out.caption = "; ".join(notes)
    return out


SUMMARY_GROUPINGS = ("overall", "gender", "race", "accent", "age_band")
"""Groupings the terminal summary shows (the rest are in summary.csv and the report)."""


def _ci(row: Any) -> str:
    import pandas as pd

    return "" if pd.isna(row["ci_low"]) else f"{row['ci_low']:.3f}–{row['ci_high']:.3f}"


def summary_renderables(tables: dict[str, Any], width: int = 80, max_rows: int = 40) -> list[Any]:
    """The run's closing summary (headline metric per model × task × group, the claims, the calibration
    instrument's planted vs recovered values) as rich renderables that fit ``width`` without cutting names."""
    import pandas as pd

    summary = tables["summary"]
    shown = summary[summary["grouping"].isin(SUMMARY_GROUPINGS)]
    if shown.empty:
        return ["no scored rows"]
    rows = [{
        "model": str(r["model"]), "task": str(r["task"]), "mod": str(r["modality"]),
        "group": str(r["group"]) if r["grouping"] == "overall" else f"{r['grouping']} = {r['group']}",
        "metric": str(r["metric"]), "value": "—" if pd.isna(r["value"]) else f"{r['value']:.3f}", "95% CI": _ci(r),
        "n": str(r["n_rows"]), "voices": str(r["n_voices"]), "note": "" if r["status"] == "ok" else str(r["status"]),
    } for _, r in shown.head(max_rows).iterrows()]
    more = f"{len(shown) - max_rows} more rows in scores/summary.csv" if len(shown) > max_rows else ""
    out = [fitted_table(rows, tuple(rows[0]), ("model", "task", "mod", "metric", "value", "95% CI"), ("note", "voices", "n"), width, more=more)]
    claims = tables.get("headline")
    if claims is not None and not claims.empty:
        rows = [{
            "model": str(r["model"]), "task": str(r["task"]), "metric": str(r["metric"]), "axis": str(r["axis"]),
            "verdict": str(r["verdict"]), "worst group": str(r["worst_group"]),
            "gap": "—" if pd.isna(r["gap"]) else f"{r['gap']:.3f}", "simult. 95% CI": _ci(r),
            "p adj": "" if pd.isna(r["p_adjusted"]) else f"{r['p_adjusted']:.3f}",
        } for _, r in claims.head(max_rows).iterrows()]
        more = f"{len(claims) - max_rows} more rows in scores/headline.csv" if len(claims) > max_rows else ""
        out += ["", fitted_table(rows, tuple(rows[0]), ("model", "task", "gap", "simult. 95% CI"), ("p adj", "axis"), width,
                                 title="claims (family-wise error controlled; scores/headline.csv)", more=more)]
    calibration = tables.get("calibration")
    if calibration is not None and not calibration.empty:
        out += ["", "calibration instrument: planted vs recovered accuracy (scores/calibration.csv):"]
        for _, r in calibration.iterrows():
            ci = _ci(r)
            out.append(f"  {r['model']} / {r['task']} / {r['axis']}={r['group']}: planted {r['planted_population']:.3f}, "
                       f"recovered {r['recovered']:.3f} {ci}{'' if r['covered'] else '  (outside the CI)'}")
    return out


def print_summary(tables: Any, console: Any = None) -> None:
    """Print the summary (a dict of score tables, or the summary table alone) to ``console``
    (default: stdout at the terminal's width)."""
    from rich.console import Console

    target: Any = console if console is not None else Console(highlight=False)
    for renderable in summary_renderables(tables if isinstance(tables, dict) else {"summary": tables}, width=target.width):
        target.print(renderable, markup=False) if isinstance(renderable, str) else target.print(renderable)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM ends like Ctrl-C: the SIGINT handler in force runs (asyncio's own included); when SIGINT is
    ignored (a job started in the background of a script, e.g. a Slurm batch file, inherits that), the
    KeyboardInterrupt is raised here, so a scheduler's SIGTERM still stops the run cleanly."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # default_int_handler raises; asyncio's cancels its main task and returns
        return
    raise KeyboardInterrupt


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
    app.command()(merge)
    app.command("ls")(ls)
