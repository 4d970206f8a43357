"""`biasbench debias run`: base vs each finetune (e.g. SFT, DPO, SFT then DPO) and vs base + mitigation prompt
on the pool's *eval* voices and on items / BBQ categories never trained on; before/after tables with paired
CIs, invalid/refusal rates, the scorer's verdicts when present, plots and the report's "Debias" sheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

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
    rates: pd.DataFrame | None = None
    """Per condition × task × modality: invalid, refusal and error rates."""


def eval_run_configs(config: DebiasRunConfig, adapter_paths: Path | Mapping[str, Path]) -> dict[str, RunConfig]:
    """The runs of the experiment: base + every finetune (``adapter_paths``: label -> adapter folder; a single
    path is the one 'finetuned' adapter), and base with the mitigation prompt."""
    if not isinstance(adapter_paths, Mapping):
        adapter_paths = {FINETUNED: Path(adapter_paths)}
    base = ModelRef(name=BASE, adapter=config.model.adapter, params=dict(config.model.params), generation=config.model.generation)
    tuned: list[ModelRef] = []
    if config.finetuned_model is not None:
        tuned.append(config.finetuned_model.model_copy(update={"name": FINETUNED}))
    else:
        from biasbench.core import registry

        if "lora_path" not in registry.adapters.get(config.model.adapter).Config.model_fields:
            raise ConfigError(
                f"adapter '{config.model.adapter}' cannot load a LoRA adapter (no lora_path parameter)",
                hint="use adapter qwen2-audio, or set finetuned_model (a vLLM LoRA module or a merged folder)",
            )
        for label, adapter_path in adapter_paths.items():
            tuned.append(ModelRef(
                name=label, adapter=config.model.adapter, params={**config.model.params, "lora_path": str(adapter_path)},
                generation=config.model.generation,
            ))
    common = dict(
        pool=config.pool, voice_split="eval", tasks=config.tasks, modalities=config.modalities, seed=config.seed,
        generation=config.generation, batch_size=config.batch_size, cache_dir=config.cache_dir, tts=config.tts,
        tts_workers=config.tts_workers, report=False,
    )
    runs = {FINETUNE_RUN: RunConfig(name=f"{config.name}-{FINETUNE_RUN}", models=[base, *tuned], **common)}
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


@dataclass(frozen=True)
class TrainedOn:
    """What the compared finetunes saw: evaluation on any of it is refused (or, for items, left out)."""

    voices: frozenset[str]
    """Voice ids that spoke training data."""
    items: Mapping[str, frozenset[str]]
    """Task name -> item ids of preference data."""
    categories: Mapping[str, frozenset[str]]
    """BBQ task name -> categories of preference data."""

    @staticmethod
    def of(manifests: Mapping[str, Mapping[str, Any]]) -> "TrainedOn":
        voices: set[str] = set()
        items: dict[str, set[str]] = {}
        categories: dict[str, set[str]] = {}
        for manifest in manifests.values():
            voices.update(manifest.get("train_voices", []))
            for task, ids in (manifest.get("train_items") or {}).items():
                items.setdefault(task, set()).update(ids)
            for task, cats in (manifest.get("train_categories") or {}).items():
                categories.setdefault(task, set()).update(cats)
        return TrainedOn(frozenset(voices), {t: frozenset(v) for t, v in items.items()}, {t: frozenset(v) for t, v in categories.items()})


def check_held_out(tasks: Sequence[Any], trained: TrainedOn, *, drop_items: bool) -> dict[str, set[str]]:
    """Refuse (one line) eval tasks that share BBQ categories, or items unless ``drop_items``, with the
    preference data; returns task -> eval item ids that were trained on (left out when ``drop_items``)."""
    overlapping: dict[str, set[str]] = {}
    for task in tasks:
        groups = {task.item_group(item) for item in task.items()} | set(getattr(task.config, "categories", None) or ())
        shared = sorted(groups & trained.categories.get(task.name, frozenset()))
        if shared:
            raise ConfigError(
                f"eval task '{task.name}' uses BBQ categories the finetune trained on ({', '.join(shared)}): evaluate held-out categories",
                hint="set the eval task's categories to ones absent from the preference data (see training.json train_categories)",
            )
        items = {item.id for item in task.items()} & trained.items.get(task.name, frozenset())
        if items:
            overlapping[task.name] = items
    if overlapping and not drop_items:
        task, ids = next(iter(sorted(overlapping.items())))
        raise ConfigError(
            f"eval task '{task}' shares {len(ids)} item(s) with the preference data (e.g. {sorted(ids)[0]}): evaluate held-out items",
            hint="set drop_trained_items: true to leave them out of the comparison, or use other items",
        )
    return overlapping


def run_debias(config: DebiasRunConfig, base_dir: Path, *, show_progress: bool = True, echo: Callable[[str], None] = print) -> DebiasOutcome:
    """Run the experiment (resumable: each run keeps its response log) and write tables, plots and the report."""
    from biasbench.runner.manifest import read_manifest
    from biasbench.pipeline import run_experiment
    from biasbench.tasks.loading import load_task
    from biasbench.voices.spec import load_pool

    folders = {label: Path(folder) for label, folder in config.finetune_folders().items()}
    manifests = {label: read_training_manifest(folder) for label, folder in folders.items()}
    adapter_paths = {label: folders[label] / manifest.get("adapter", ADAPTER_DIR) for label, manifest in manifests.items()}
    trained = TrainedOn.of(manifests)
    pool = load_pool(config.pool, base_dir=base_dir)
    eval_voices = {voice.id for voice in pool.split("eval")}
    if not eval_voices:
        raise ConfigError(f"pool '{pool.name}' has no eval voices; mark some voices 'split: eval'")
    check_disjoint(set(trained.voices), eval_voices)
    tasks = [load_task(ref.name, ref.params, base_dir) for ref in config.tasks]
    dropped_items = check_held_out(tasks, trained, drop_items=config.drop_trained_items)

    output = Path(config.output)
    runs = eval_run_configs(config, adapter_paths)
    frames = []
    manifest = None
    for label, run_config in runs.items():
        echo(f"debias run: {label} ({', '.join(m.name for m in run_config.models)}) on {len(eval_voices)} eval voices")
        outcome = run_experiment(run_config, output / label, base_dir, show_progress=show_progress, echo=echo)
        if outcome.stop is not None:  # an incomplete run is not compared (finished rows kept; rerun resumes)
            raise outcome.stop
        used = set(outcome.results.loc[outcome.results["modality"] == "audio", "voice_id"])
        check_disjoint(set(trained.voices), used)
        frame = outcome.results.copy()
        if label == PROMPT_RUN:
            frame["model"] = frame["model"].replace({BASE: PROMPTED})
        frames.append(frame)
        if label == FINETUNE_RUN:
            manifest = read_manifest(output / label)
    combined = pd.concat(frames, ignore_index=True)
    if dropped_items:
        trained_rows = pd.Series([item in dropped_items.get(task, ()) for task, item in zip(combined["task"], combined["item_id"])], index=combined.index)
        echo(f"left out {int(trained_rows.sum())} rows of {sum(map(len, dropped_items.values()))} trained-on item(s) (drop_trained_items)")
        combined = combined[~trained_rows]
    labels = [m.name for m in runs[FINETUNE_RUN].models if m.name != BASE]
    comparisons = [Comparison("finetune" if label == FINETUNED else label, BASE, label) for label in labels]
    comparisons.append(Comparison("prompt", BASE, PROMPTED))
    gaps, capability = before_after(combined, manifest or {}, comparisons, n_boot=config.n_boot, seed=config.seed)
    rates = answer_rates(combined, {c.after: c.condition for c in comparisons} | {BASE: BASE})
    verdicts = headline_verdicts(output, runs)
    gaps = with_verdicts(gaps, verdicts)
    from biasbench.debias.report import write_debias_outputs

    training = {"train_voices": sorted(trained.voices), "base_model": next(iter(manifests.values())).get("base_model"),
                "finetunes": {label: str(folder) for label, folder in folders.items()},
                "train_items": {t: sorted(v) for t, v in trained.items.items()},
                "train_categories": {t: sorted(v) for t, v in trained.categories.items()},
                "dropped_items": {t: sorted(v) for t, v in dropped_items.items()}}
    report, plots = write_debias_outputs(output, output / FINETUNE_RUN, gaps, capability, training, config, rates=rates, verdicts=verdicts)
    echo(f"before/after tables in {output / TABLES_DIR}; report {report}")
    return DebiasOutcome(output, gaps, capability, report, plots, rates)


RATE_COLUMNS = ("condition", "model", "task", "modality", "n", "invalid_rate", "refusal_rate", "error_rate", "answered_rate")


def answer_rates(frame: pd.DataFrame, conditions: Mapping[str, str]) -> pd.DataFrame:
    """Invalid, refusal and error shares per model × task × modality: a model that learns to refuse or to
    answer off-format must not look debiased (its gap is computed on fewer valid answers)."""
    records = []
    for (model, task, modality), rows in frame.groupby(["model", "task", "modality"], sort=True):
        n = len(rows)
        counts = rows["outcome"].value_counts()
        records.append({
            "condition": conditions.get(str(model), str(model)), "model": model, "task": task, "modality": modality, "n": n,
            "invalid_rate": counts.get("invalid", 0) / n, "refusal_rate": counts.get("refusal", 0) / n,
            "error_rate": counts.get("error", 0) / n,
            "answered_rate": 1 - (counts.get("invalid", 0) + counts.get("refusal", 0) + counts.get("error", 0)) / n,
        })
    return pd.DataFrame(records, columns=list(RATE_COLUMNS))


HEADLINE_FILE = ("scores", "headline.csv")
"""Where the scorer's verdict table lies in a run directory (when the scorer writes it)."""


def headline_verdicts(output: Path, runs: Mapping[str, RunConfig]) -> pd.DataFrame:
    """The scorer's headline rows (model × task × modality × axis with verdict) of every run that has them,
    the prompt run's base relabelled 'base+prompt'; empty when no run has the table."""
    frames = []
    for label in runs:
        path = output.joinpath(label, *HEADLINE_FILE)
        if path.is_file():
            table = pd.read_csv(path)
            if label == PROMPT_RUN and "model" in table:
                table["model"] = table["model"].replace({BASE: PROMPTED})
            frames.append(table.assign(run=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def with_verdicts(gaps: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """``gaps`` plus the scorer's verdict for the before and the after model (per task, modality, axis)."""
    needed = {"model", "task", "modality", "axis", "verdict"}
    if verdicts.empty or not needed <= set(verdicts.columns) or gaps.empty:
        return gaps.assign(verdict_before=None, verdict_after=None)
    lookup = {(str(r.model), str(r.task), str(r.modality), str(r.axis)): str(r.verdict) for r in verdicts.itertuples(index=False)}
    before = [lookup.get((str(r.before_model), str(r.task), str(r.modality), str(r.grouping))) for r in gaps.itertuples(index=False)]
    after = [lookup.get((str(r.after_model), str(r.task), str(r.modality), str(r.grouping))) for r in gaps.itertuples(index=False)]
    return gaps.assign(verdict_before=before, verdict_after=after)
