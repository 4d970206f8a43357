"""CLI commands for debiasing: `debias train`, `debias run`, and `export`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

debias_app = typer.Typer(name="debias", help="Finetune (SFT and/or DPO) on voice-balanced spoken data; compare before/after.", no_args_is_help=True)


@debias_app.command("train")
def train(
    config: Path = typer.Argument(..., help="Debias training config (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Training folder (default: the config's `output`)."),
    restart: bool = typer.Option(False, "--restart", help="Discard checkpoints and start from step 0."),
    stop_after: Optional[int] = typer.Option(None, "--stop-after", min=1, help="End this invocation after N steps (resume later)."),
    device: Optional[str] = typer.Option(None, help="Override training.device ('cpu', 'cuda', ...)."),
    dtype: Optional[str] = typer.Option(None, help="Override training.dtype ('auto', 'bf16', 'fp16', 'fp32')."),
) -> None:
    """Render the spoken data (train voices only) and LoRA-finetune Qwen2-Audio (resumable)."""
    from biasbench.debias.train_config import load_train_config
    from biasbench.debias.trainer import train as run_training

    cfg = load_train_config(config, training={"device": device, "dtype": dtype}, output=str(out) if out else None)
    outcome = run_training(cfg, config.parent, resume=not restart, stop_after=stop_after, echo=typer.echo)
    losses = f"loss {outcome.first_loss:.4f} -> {outcome.last_loss:.4f}" if outcome.first_loss is not None else "no steps run"
    typer.echo(f"steps {outcome.steps_done}/{outcome.steps_total} (resumed from {outcome.resumed_from}); {losses}")
    if outcome.preference_accuracy:
        first, last = outcome.preference_accuracy
        typer.echo(f"DPO preference accuracy {first:.3f} (first step) -> {last:.3f} (last step)")
    if outcome.adapter_path is not None:
        typer.echo(f"adapter: {outcome.adapter_path}")


@debias_app.command("run")
def run(
    config: Path = typer.Argument(..., help="Debias evaluation config (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Experiment folder (default: the config's `output`)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Base vs each finetune (SFT, DPO, SFT+DPO) vs mitigation prompt on held-out voices and items: gaps with CIs."""
    from biasbench.debias.experiment import run_debias
    from biasbench.debias.run_config import load_run_config

    cfg = load_run_config(config, output=str(out) if out else None)
    outcome = run_debias(cfg, config.parent, show_progress=not quiet, echo=typer.echo)
    shown = outcome.gaps[["condition", "task", "grouping", "metric", "gap_before", "gap_after", "change", "change_ci_low", "change_ci_high"]]
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if outcome.rates is not None and not outcome.rates.empty:
        typer.echo(outcome.rates[["condition", "task", "modality", "n", "invalid_rate", "refusal_rate"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"report: {outcome.report}")


@debias_app.command("pairs")
def pairs(
    run_dir: Path = typer.Argument(..., help="A finished run directory (the --out of `biasbench run`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the preference dataset (use it as a `kind: preferences` source)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model label of the run whose answers are used (needed when it has several)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the voice picked per cell."),
    base_dir: Optional[Path] = typer.Option(None, "--base-dir", help="Folder the run config's relative paths refer to."),
) -> None:
    """Voice-invariance preference pairs: items whose answers differ across voices, one pair per cell."""
    from biasbench.debias.invariance_pairs import build_invariance_pairs

    build_invariance_pairs(run_dir, out, model=model, seed=seed, base_dir=base_dir, echo=typer.echo)


@debias_app.command("merge")
def merge(
    finetune: Path = typer.Argument(..., help="Output folder of `biasbench debias train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the merged checkpoint."),
) -> None:
    """Merge the LoRA adapter into the base weights (a checkpoint vLLM or any server can load)."""
    from biasbench.debias.merge import merge_adapter

    merge_adapter(finetune, out, echo=typer.echo)


def export(
    run_dir: Path = typer.Argument(..., help="A run directory (the --out of `biasbench run`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the dataset (datasets.save_to_disk) and its card."),
    base_dir: Optional[Path] = typer.Option(None, "--base-dir", help="Folder the run config's relative paths refer to."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", help="Also upload the dataset to this Hub dataset repo, OWNER/NAME (needs the 'hub' extra: huggingface_hub)."),
    public: bool = typer.Option(False, "--public", help="Create the Hub repo public (default: private)."),
) -> None:
    """Export a run's items × voices as a Hugging Face dataset with a dataset card."""
    from biasbench.debias.export import export_run

    summary = export_run(run_dir, out, base_dir=base_dir, echo=typer.echo)
    if summary.synthesized:
        typer.secho(f"note: {summary.synthesized} clip(s) were not in the run's cache and were synthesized again", fg="yellow")
    if push_to_hub:
        from biasbench.tracking.hub import push_dataset

        typer.echo(f"pushed to the Hub: {push_dataset(out, push_to_hub, private=not public)}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.add_typer(debias_app, name="debias")
    app.command("export")(export)
