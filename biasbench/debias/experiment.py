"""`biasbench debias run`: base vs finetuned (and base vs base + mitigation prompt) on the pool's *eval*
voices with the same tasks; before/after tables, plots and the report's "Debias" sheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from biasbench.config import ModelRef, RunConfig
from biasbench.core.errors import ConfigError
from biasbench.debias.compare import Comparison, before_after
from biasbench.debias.run_config import DebiasRunConfig
from biasbench.debias.trainer import ADAPTER_DIR, read_training_manifest

BASE, FINETUNED, PROMPTED = "base", "finetuned", "base+prompt"
"""Model labels in the before/after tables."""
FINETUNE_RUN, PROMPT_RUN, TABLES_DIR = "finetune", "prompt", "debias"


@dataclass(frozen=True)
class DebiasOutcome:
    """Where `debias run` wrote its results."""

    output: Path
    """The experiment folder."""
    gaps: pd.DataFrame
    """Per condition × task × modality × grouping: gap before, after, change with CI."""
    capability: pd.DataFrame
    """Per condition × task × modality: overall metric before, after, change with CI, retained."""
    report: Path
    """report.xlsx of the finetune run, with the Debias sheet."""
    plots: tuple[Path, ...]
    """Before/after figures."""


def eval_run_configs(config: DebiasRunConfig, adapter_path: Path) -> dict[str, RunConfig]:
    """The runs of the experiment: base + finetuned, and base with the mitigation prompt."""
    base = ModelRef(name=BASE, adapter=config.model.adapter, params=dict(config.model.params), generation=config.model.generation)
    if config.finetuned_model is not None:
        tuned = config.finetuned_model.model_copy(update={"name": FINETUNED})
    else:
        from biasbench.core import registry

        if "lora_path" not in registry.adapters.get(config.model.adapter).Config.model_fields:
            raise ConfigError(
                f"adapter '{config.model.adapter}' cannot load a LoRA adapter (no lora_path parameter)",
                hint="use adapter qwen2-audio, or set finetuned_model (a vLLM LoRA module or a merged folder)",
            )
        tuned = ModelRef(
            name=FINETUNED, adapter=config.model.adapter, params={**config.model.params, "lora_path": str(adapter_path)},
            generation=config.model.generation,
        )
    common = dict(
        pool=config.pool, voice_split="eval", tasks=config.tasks, modalities=config.modalities, seed=config.seed,
        generation=config.generation, batch_size=config.batch_size, cache_dir=config.cache_dir, tts=config.tts,
        tts_workers=config.tts_workers, report=False,
    )
    runs = {FINETUNE_RUN: RunConfig(name=f"{config.name}-{FINETUNE_RUN}", models=[base, tuned], **common)}
    if config.mitigation_prompt:
        runs[PROMPT_RUN] = RunConfig(name=f"{config.name}-{PROMPT_RUN}", models=[base], system_prompt=config.mitigation_prompt, **common)
    return runs


def check_disjoint(train_voices: set[str], eval_voices: set[str]) -> None:
    """Raise :class:`ConfigError` when a training voice would also be evaluated."""
    shared = sorted(train_voices & eval_voices)
    if shared:
        raise ConfigError(
            f"train and eval voices overlap ({', '.join(shared)}): the before/after must use voices never seen in training",
            hint="mark them split: train or split: eval in the pool spec, not both",
        )


def run_debias(config: DebiasRunConfig, base_dir: Path, *, show_progress: bool = True, echo: Callable[[str], None] = print) -> DebiasOutcome:
    """Run the experiment (resumable: each run keeps its response log) and write tables, plots and the report."""
    from biasbench.runner.manifest import read_manifest
    from biasbench.pipeline import run_experiment
    from biasbench.voices.spec import load_pool

    finetune_dir = Path(config.finetune)
    training = read_training_manifest(finetune_dir)
    adapter_path = finetune_dir / training.get("adapter", ADAPTER_DIR)
    pool = load_pool(config.pool, base_dir=base_dir)
    eval_voices = {voice.id for voice in pool.split("eval")}
    if not eval_voices:
        raise ConfigError(f"pool '{pool.name}' has no eval voices; mark some voices 'split: eval'")
    check_disjoint(set(training.get("train_voices", [])), eval_voices)

    output = Path(config.output)
    runs = eval_run_configs(config, adapter_path)
    frames = []
    manifest = None
    for label, run_config in runs.items():
        echo(f"debias run: {label} ({', '.join(m.name for m in run_config.models)}) on {len(eval_voices)} eval voices")
        outcome = run_experiment(run_config, output / label, base_dir, show_progress=show_progress, echo=echo)
        if outcome.stop is not None:  # an incomplete run is not compared (finished rows kept; rerun resumes)
            raise outcome.stop
        used = set(outcome.results.loc[outcome.results["modality"] == "audio", "voice_id"])
        check_disjoint(set(training.get("train_voices", [])), used)
        frame = outcome.results.copy()
        if label == PROMPT_RUN:
            frame["model"] = frame["model"].replace({BASE: PROMPTED})
        frames.append(frame)
        if label == FINETUNE_RUN:
            manifest = read_manifest(output / label)
    comparisons = [Comparison("finetune", BASE, FINETUNED), Comparison("prompt", BASE, PROMPTED)]
    combined = pd.concat(frames, ignore_index=True)
    gaps, capability = before_after(combined, manifest or {}, comparisons, n_boot=config.n_boot, seed=config.seed)
    from biasbench.debias.report import write_debias_outputs

    report, plots = write_debias_outputs(output, output / FINETUNE_RUN, gaps, capability, training, config)
    echo(f"before/after tables in {output / TABLES_DIR}; report {report}")
    return DebiasOutcome(output, gaps, capability, report, plots)
