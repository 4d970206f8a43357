"""CLI commands for voice pools: validate, build, select, audit."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from biasbench.core.errors import ConfigError

voices_app = typer.Typer(help="Voice pools: validate, build (synthesize), select from a corpus, audit.", no_args_is_help=True)


def _texts(texts: Optional[Path], task: Optional[List[str]]) -> list[str] | None:
    from biasbench.voices.build import texts_from_file, texts_from_tasks

    if texts is not None and task:
        raise ConfigError("give --texts or --task, not both")
    if texts is not None:
        return texts_from_file(texts)
    if task:
        return texts_from_tasks(task)
    return None


def _tts(params: Optional[List[str]]) -> dict[str, dict]:
    """--tts ENGINE.KEY=VALUE (YAML value), repeatable."""
    import yaml

    out: dict[str, dict] = {}
    for assignment in params or []:
        key, sep, value = assignment.partition("=")
        engine, dot, field = key.partition(".")
        if not sep or not dot or not engine or not field:
            raise ConfigError(f"--tts '{assignment}' must look like ENGINE.KEY=VALUE (e.g. espeak.speed=150)")
        out.setdefault(engine, {})[field] = yaml.safe_load(value)
    return out


@voices_app.command("validate")
def validate(
    pool: str = typer.Argument(..., help="Shipped pool name or pool spec path."),
    structure_only: bool = typer.Option(False, "--structure-only", help="Do not require the reference clips to exist nor the engines to be installed (templates)."),
    tts: Optional[List[str]] = typer.Option(None, "--tts", help="Backend parameter ENGINE.KEY=VALUE, as `voices build` takes (repeatable)."),
) -> None:
    """Check a pool spec: schema, labels, engines (installed?), reference clips and balance (every problem at once)."""
    from biasbench.core.errors import SpecProblems
    from biasbench.voices.spec import backend_problems, load_pool

    params = _tts(tts)
    try:
        loaded = load_pool(pool, check_files=not structure_only)
        problems = [] if structure_only else backend_problems(loaded.voices, params)
    except SpecProblems as exc:
        loaded, problems = None, list(exc.problems)
        if not structure_only:  # engines are reported with the spec's own problems: every problem at once
            try:
                problems += backend_problems(load_pool(pool, check_files=False).voices, params)
            except SpecProblems:
                pass  # the structure is broken too: its problems are already listed
    if problems or loaded is None:
        for problem in problems:
            typer.secho(f"error: {problem}", err=True, fg="red")
        raise typer.Exit(2) from None
    cells = loaded.cells()
    typer.echo(
        f"{loaded.source}: valid {loaded.purpose} pool '{loaded.name}' — {len(loaded.voices)} voices, "
        f"{len(cells)} cells × {len(next(iter(cells.values())))} ({' × '.join(loaded.axes)}), "
        f"train {len(loaded.split('train'))} / eval {len(loaded.split('eval'))}"
        + (" (structure only: reference clips not checked)" if structure_only else "")
    )


@voices_app.command("build")
def build(
    pool: str = typer.Argument(..., help="Shipped pool name or pool spec path."),
    texts: Optional[Path] = typer.Option(None, "--texts", help="File with one text per line."),
    task: Optional[List[str]] = typer.Option(None, "--task", help="Task whose spoken items to synthesize (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: results/voices-POOL)."),
    split: str = typer.Option("all", "--split", help="all, train or eval."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel synthesis processes (default: CPU count)."),
    tts: Optional[List[str]] = typer.Option(None, "--tts", help="Backend parameter ENGINE.KEY=VALUE (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling TTS engines."),
    audio_format: str = typer.Option("flac", "--format", help="How new clips are stored: flac (lossless) or wav."),
    verify_cache: bool = typer.Option(False, "--verify-cache", help="Re-hash every cached clip (else only its size is checked)."),
) -> None:
    """Synthesize every text in every voice into a content-addressed cache (cached clips are reused)."""
    from biasbench.voices.build import build_pool
    from biasbench.voices.spec import load_pool

    if split not in ("all", "train", "eval"):
        raise ConfigError(f"--split must be all, train or eval, not '{split}'")
    loaded = load_pool(pool)
    chosen = _texts(texts, task)
    if not chosen:
        raise ConfigError("give --texts FILE or --task NAME")
    folder = out or Path("results") / f"voices-{loaded.name}"
    result = build_pool(loaded, chosen, folder, tts_params=_tts(tts), workers=workers, seed=seed, split=split,
                        audio_format=audio_format, verify_cache=verify_cache)
    for note in result.notes:
        typer.secho(f"note: {note}", fg="yellow")
    typer.echo(f"{len(result.clips)} clips ({result.backend_calls} synthesized, {result.cached} cached) -> {folder}")


@voices_app.command("select")
def select(
    manifest: Path = typer.Option(..., "--manifest", help="Corpus metadata table (.csv, .tsv, .parquet, .jsonl), one row per clip."),
    out: Path = typer.Option(..., "--out", "-o", help="Pool spec to write (YAML)."),
    axes: str = typer.Option("gender,race", "--axes", help="Comma-separated axes to balance."),
    per_cell: int = typer.Option(4, "--per-cell", help="Speakers per cell."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    col_path: str = typer.Option("path", "--col-path", help="Column with the clip path (relative to the table)."),
    col_transcript: str = typer.Option("transcript", "--col-transcript", help="Column with the clip transcript."),
    col_speaker: str = typer.Option("speaker", "--col-speaker", help="Column with the speaker id."),
    col_gender: str = typer.Option("gender", "--col-gender", help="Column with the gender label."),
    col_race: str = typer.Option("race", "--col-race", help="Column with the race/ethnicity label."),
    col_accent: str = typer.Option("accent", "--col-accent", help="Column with the accent label."),
    col_age_band: str = typer.Option("age_band", "--col-age-band", help="Column with the age band."),
    col_duration: str = typer.Option("duration", "--col-duration", help="Column with clip seconds (else read from the files)."),
    col_snr: str = typer.Option("snr", "--col-snr", help="Column with an SNR estimate in dB (optional)."),
    values: Optional[List[str]] = typer.Option(None, "--values", help="AXIS=V1,V2,... values to keep (repeatable)."),
    covariates: str = typer.Option("", "--covariates", help="Comma-separated columns to balance across cells (e.g. age)."),
    min_seconds: float = typer.Option(3.0, "--min-seconds", help="Preferred shortest clip."),
    max_seconds: float = typer.Option(15.0, "--max-seconds", help="Preferred longest clip."),
    train_per_cell: Optional[int] = typer.Option(None, "--train-per-cell", help="Train-split speakers per cell (default: half)."),
    engine: str = typer.Option("maskgct", "--engine", help="TTS backend for the pool."),
    label_source: str = typer.Option("self-reported", "--label-source", help="self-reported, annotated, engine-preset or designed."),
    corpus: str = typer.Option("", "--corpus", help="Corpus name (provenance)."),
    license_: str = typer.Option("", "--license", help="Licence of the corpus audio."),
    name: Optional[str] = typer.Option(None, "--name", help="Pool name (default: the output file stem)."),
) -> None:
    """Pick a balanced pool from a corpus table and write a pool spec with provenance."""
    from biasbench.voices.select import SelectionOptions, read_table, select_pool, table_provenance, write_spec

    axis_list = tuple(a.strip() for a in axes.split(",") if a.strip())
    columns = {"path": col_path, "transcript": col_transcript, "speaker": col_speaker, "gender": col_gender,
               "race": col_race, "accent": col_accent, "age_band": col_age_band, "duration": col_duration, "snr": col_snr}
    kept = {}
    for assignment in values or []:
        axis, sep, listed = assignment.partition("=")
        if not sep or not listed:
            raise ConfigError(f"--values '{assignment}' must look like AXIS=V1,V2")
        kept[axis.strip()] = tuple(v.strip() for v in listed.split(",") if v.strip())
    options = SelectionOptions(
        axes=axis_list, per_cell=per_cell, columns=columns, values=kept,
        covariates=tuple(c.strip() for c in covariates.split(",") if c.strip()), min_seconds=min_seconds,
        max_seconds=max_seconds, train_per_cell=train_per_cell, seed=seed, engine=engine, label_source=label_source,
        corpus=corpus, license=license_,
    )
    table = read_table(manifest)
    from biasbench import __version__

    provenance = {
        "made_by": f"biasbench {__version__} voices select",
        "options": {**options.to_json(), "manifest": str(manifest)},
        **table_provenance(manifest),
    }
    selection = select_pool(table, options, table_dir=manifest.parent, spec_dir=out.parent, name=name or out.stem, provenance=provenance)
    write_spec(selection.spec, out)
    for note in selection.notes:
        typer.secho(f"note: {note}", fg="yellow")
    for row in selection.balance:
        typer.echo("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
    typer.echo(f"{len(selection.spec['voices'])} voices -> {out}")


@voices_app.command("audit")
def audit(
    target: str = typer.Argument(..., help="Run directory, build folder (from `voices build`), or pool name/spec."),
    texts: Optional[Path] = typer.Option(None, "--texts", help="Texts to synthesize when TARGET is a pool."),
    task: Optional[List[str]] = typer.Option(None, "--task", help="Task whose spoken items to use when TARGET is a pool."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Audit folder (default: TARGET/audit)."),
    asr_model: str = typer.Option("default", "--asr-model", help="faster-whisper model: default (bundled tiny.en), a name, or a folder."),
    no_asr: bool = typer.Option(False, "--no-asr", help="Skip the ASR round-trip WER."),
    wer_tolerance: float = typer.Option(0.10, "--wer-tolerance", help="Flag groups whose mean WER exceeds the best by more."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the parity permutation test (voices as the unit)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel synthesis processes when clips are missing."),
) -> None:
    """Measure the voices (duration, rate, loudness, F0, ASR WER, similarity) and check parity across cells."""
    from biasbench.voices.audit import audit_clips
    from biasbench.voices.build import locate_audit_target

    located = locate_audit_target(target, texts=_texts(texts, task), workers=workers)
    params = {"asr": not no_asr, "asr_model": asr_model, "wer_tolerance": wer_tolerance, "alpha": alpha}
    summary = audit_clips(located.clips, located.pool, out or located.out_dir, params)
    if located.backend_calls:
        typer.echo(f"synthesized {located.backend_calls} missing clip(s) first")
    typer.echo(summary.format())


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.add_typer(voices_app, name="voices")
