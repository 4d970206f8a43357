"""CLI commands for the LLM judge and the divergence test: judge, divergence."""

from __future__ import annotations

from pathlib import Path

import typer


def judge(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    config: Path = typer.Option(..., "--config", "-c", help="Judge config YAML (model, base_url, rubric, repeats ...)."),
) -> None:
    """Score long-form answers with a pinned LLM judge: pointwise, position-swapped pairwise, and reliability."""
    from biasbench.judge.config import load_judge_config
    from biasbench.judge.rubric import load_rubric
    from biasbench.judge.run import judge_run

    settings, base = load_judge_config(config)
    rubric_path = None if settings.rubric is None else (base / settings.rubric if not Path(settings.rubric).is_absolute() else Path(settings.rubric))
    rubric = load_rubric(rubric_path)
    report = judge_run(run_dir, settings, rubric)
    pointwise, pairwise = report.tables["pointwise"], report.tables["pairwise"]
    typer.echo(f"judge {settings.model}, rubric {rubric.name}@{rubric.version} ({rubric.digest()}): "
               f"{len(pointwise)} pointwise and {len(pairwise)} pairwise judgements; {report.judge_calls} judge calls, "
               f"{report.reused} reused; 0 model calls")
    for row in report.tables["reliability"].itertuples(index=False):
        typer.echo(f"  {row.check} [{row.criterion}]: {row.value:.3f} (n={row.n})")
    for note in report.notes:
        typer.echo(f"  note: {note}")
    typer.echo(f"wrote {report.folder}")


def divergence(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    task: str = typer.Option(..., "--task", help="The open-probe task to test."),
    n_perm: int = typer.Option(999, "--n-perm", help="Voice-label permutations."),
    seed: int = typer.Option(0, "--seed", help="Seed of the permutations."),
) -> None:
    """Between-group divergence of answer categories (JS) per model, with a voice-level permutation test and Holm."""
    import pandas as pd

    from biasbench.scoring.divergence import divergence_tests
    from biasbench.scoring.rundata import load_run

    data = load_run(run_dir)
    rows = data.frame[(data.frame["task"] == task) & (data.frame["modality"] == "audio")]
    if rows.empty:
        from biasbench.core.errors import DataError

        raise DataError(f"the run has no audio rows of task '{task}'")
    records = []
    for model, part in rows.groupby("model", sort=True):
        for record in divergence_tests(part, data.axes, n_perm=n_perm, seed=seed):
            records.append({"model": model, "task": task, **record})
            typer.echo(f"{model} / {task} / {record['grouping']}: JS {record['statistic']:.4f} bits, p {record['p_value']:.4f}, "
                       f"Holm p {record['p_holm']:.4f}{' (detected)' if record['detected'] else ''}")
    out = Path(run_dir) / "scores" / f"divergence_{task}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(records).to_csv(out, index=False)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(judge)
    app.command()(divergence)
