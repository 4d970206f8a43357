"""`biasbench debias train`: spoken data → LoRA (and optional encoder/projector) finetune with
answer-only loss (SFT) or direct preference optimisation (DPO), gradient accumulation, mixed precision,
checkpoints, resume and TensorBoard logs.

DPO is written here on top of the SFT loop rather than with TRL's ``DPOTrainer``: TRL tokenizes
prompt/chosen/rejected text (images for vision models) through its own collator, which has no path for
Qwen2-Audio's ``input_features``/``feature_attention_mask``, and its reference model would be a second
copy of the 8B model; here both answers share the audio prompt encoding of ``features.encode_example`` and
the reference is the same weights with the LoRA adapter disabled."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from biasbench.core.deps import require
from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import stable_hash
from biasbench.debias.consistency import consistency_loss, count_pairs
from biasbench.debias.dpo import dpo_statistics, sequence_logprobs
from biasbench.debias.features import answer_losses, collate, encode_example
from biasbench.debias.hf_audio import decode_clip
from biasbench.debias.model import attach_lora, load_base, resolve_precision, set_trainable
from biasbench.debias.schedule import Step, plan_steps
from biasbench.debias.spoken_data import build_spoken_dataset, load_spoken_dataset
from biasbench.debias.train_config import DebiasTrainConfig

ADAPTER_DIR = "adapter"
"""Final adapter folder (peft format): the ``lora_path`` of the qwen2-audio adapter."""
TRAINING_MANIFEST = "training.json"
TRAIN_LOG = "train_log.jsonl"
CHECKPOINTS = "checkpoints"
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class TrainOutcome:
    """What a training invocation did."""

    output: Path
    """The training folder."""
    adapter_path: Path | None
    """Final adapter (None when the invocation stopped early; resume to finish)."""
    steps_total: int
    """Planned optimizer steps."""
    steps_done: int
    """Steps completed so far (including earlier invocations)."""
    resumed_from: int
    """Step of the checkpoint this invocation started from (0 = fresh)."""
    first_loss: float | None
    """Answer-token loss of the first step of this invocation."""
    last_loss: float | None
    """Answer-token loss of the last step of this invocation."""
    frozen_changed: tuple[str, ...] | None = None
    """Frozen weights whose bytes changed during this invocation (None when not verified)."""
    preference_accuracy: tuple[float, float] | None = None
    """DPO preference accuracy of the first and last DPO step in the log (None without DPO steps)."""


def prepare_data(config: DebiasTrainConfig, base_dir: Path, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Build (or reuse) the spoken dataset of every curriculum dataset (instructions: SpokenDataSummary;
    preferences: PreferenceDataSummary). Pool and data paths are relative to ``base_dir`` (the config's
    folder); ``output`` and ``cache_dir`` to the working directory."""
    from biasbench.debias.preferences import require_preference_summary
    from biasbench.debias.probe_pairs import build_probe_preferences
    from biasbench.voices.spec import load_pool

    pool = load_pool(config.pool, base_dir=base_dir)
    output = Path(config.output)
    cache_root = Path(config.cache_dir) if config.cache_dir else output / "audio-cache"
    summaries: dict[str, Any] = {}
    for source in config.datasets:
        common = dict(data=config.data, tts=config.tts, cache_root=cache_root, seed=config.training.seed, base_dir=base_dir, echo=echo)
        if source.kind == "instructions":
            summaries[source.name] = build_spoken_dataset(source, pool, output / "data" / source.name, **common)
        elif source.probes is not None:
            summaries[source.name] = build_probe_preferences(source, pool, output / "data" / source.name, **common)
        else:
            folder = Path(str(source.source))
            if not folder.is_absolute() and (base_dir / folder).exists():
                folder = base_dir / folder
            summaries[source.name] = require_preference_summary(folder)
    return summaries


def train(
    config: DebiasTrainConfig,
    base_dir: Path,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    echo: Callable[[str], None] = print,
) -> TrainOutcome:
    """Run (or resume) the finetune of ``config``. ``stop_after`` ends this invocation after that many
    steps (a checkpoint is written); running again continues from it."""
    from biasbench.runner.lock import RunLock

    torch = require("torch", "finetune", purpose="finetuning")
    output = Path(config.output)
    with RunLock(output):
        summaries = prepare_data(config, base_dir, echo)
        datasets = {name: load_spoken_dataset(summary) for name, summary in summaries.items()}
        steps = plan_steps(config, {name: ds["instruction_id"] for name, ds in datasets.items()})
        plan_key = stable_hash(_plan_identity(config), {n: s.fingerprint for n, s in summaries.items()})
        precision = resolve_precision(config.training)
        torch.manual_seed(config.training.seed)
        processor, base = load_base(config, precision)
        model = attach_lora(base, config)
        if config.training.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        frozen_before = frozen_digests(model) if config.training.verify_frozen else None
        checkpoint = _latest_checkpoint(output, plan_key) if resume else None
        if not resume:
            _clear(output)
        start = 0 if checkpoint is None else _restore_weights(model, checkpoint)
        if start:
            echo(f"resuming from {checkpoint} (step {start} of {len(steps)})")
        _truncate_log(output / TRAIN_LOG, start)
        writer = _tensorboard(output / TENSORBOARD_DIR)
        runner = _StepRunner(config, model, processor, datasets, precision, writer, output / TRAIN_LOG)
        optimizer, optimizer_stage = None, -1
        losses: list[float] = []
        try:
            for step in steps[start:]:
                if step.stage != optimizer_stage:
                    optimizer = runner.start_stage(step.stage)
                    if checkpoint is not None and step.index == start + 1:
                        _restore_optimizer(optimizer, checkpoint, step.stage)
                    optimizer_stage = step.stage
                losses.append(runner.run(step, optimizer, _lr(config, steps, step)))
                done = step.index == len(steps)
                stopping = stop_after is not None and step.index - start >= stop_after
                if done or stopping or step.index % config.training.save_every == 0:
                    _save_checkpoint(output, model, optimizer, step, plan_key, config.training.keep_checkpoints)
                if stopping and not done:
                    echo(f"stopped after step {step.index} of {len(steps)}; run again to resume")
                    changed = _changed(frozen_before, model)
                    return TrainOutcome(output, None, len(steps), step.index, start, _first(losses), _last(losses), changed,
                                        _preference_accuracy(output / TRAIN_LOG))
        finally:
            writer.close()
        changed = _changed(frozen_before, model)
        if changed:
            echo(f"warning: {len(changed)} frozen weight tensor(s) changed during training, e.g. {changed[0]}")
        adapter_path = output / ADAPTER_DIR
        model.save_pretrained(str(adapter_path))
        _write_manifest(output, config, summaries, len(steps), precision, base_dir, changed)
        echo(f"adapter saved to {adapter_path} ({len(steps)} steps)")
        return TrainOutcome(output, adapter_path, len(steps), len(steps), start, _first(losses), _last(losses), changed,
                            _preference_accuracy(output / TRAIN_LOG))


def frozen_digests(model: Any) -> dict[str, str]:
    """sha256 of the bytes of every weight no stage trains (not LoRA, not a modules_to_save copy)."""
    import hashlib

    import torch

    digests = {}
    for name, parameter in model.named_parameters():
        if "lora_" in name or "modules_to_save" in name:
            continue
        raw = parameter.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes()
        digests[name] = hashlib.sha256(raw).hexdigest()
    return digests


def _changed(before: dict[str, str] | None, model: Any) -> tuple[str, ...] | None:
    if before is None:
        return None
    after = frozen_digests(model)
    return tuple(sorted(name for name, digest in before.items() if after.get(name) != digest))


RUNTIME_FIELDS = ("device", "dtype", "save_every", "keep_checkpoints", "log_every", "verify_frozen")
"""Training settings that may change between invocations without invalidating checkpoints."""


def _plan_identity(config: DebiasTrainConfig) -> dict[str, Any]:
    """What checkpoints depend on: the config minus output locations and runtime-only settings."""
    identity = config.model_dump(mode="json", exclude={"output", "cache_dir"})
    identity["training"] = {k: v for k, v in identity["training"].items() if k not in RUNTIME_FIELDS}
    return identity


class _StepRunner:
    """Forward/backward for one optimizer step, with logging."""

    def __init__(self, config: DebiasTrainConfig, model: Any, processor: Any, datasets: dict[str, Any], precision: Any, writer: Any, log_path: Path) -> None:
        self.config, self.model, self.processor, self.datasets = config, model, processor, datasets
        self.precision, self.writer, self.log_path = precision, writer, log_path
        self.pad_id = processor.tokenizer.pad_token_id if processor.tokenizer.pad_token_id is not None else 0
        self.scaler = None

    def start_stage(self, stage_index: int) -> Any:
        import torch

        stage = self.config.stages[stage_index]
        set_trainable(self.model, stage.train)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        for parameter in parameters:
            parameter.data = parameter.data.float()
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.dtype_name == "fp16" else None
        return torch.optim.AdamW(parameters, lr=stage.learning_rate, weight_decay=self.config.training.weight_decay)

    def run(self, step: Step, optimizer: Any, lr: float) -> float:
        if self.config.stages[step.stage].method == "dpo":
            return self._run_dpo(step, optimizer, lr)
        return self._run_sft(step, optimizer, lr)

    def _run_dpo(self, step: Step, optimizer: Any, lr: float) -> float:
        """One DPO step: per micro-batch, chosen and rejected answers of every row in one forward pass of the
        policy and one (no-grad) of the reference = the same model with the adapter disabled."""
        import torch

        started = time.perf_counter()
        stage = self.config.stages[step.stage]
        self.model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr
        n_micro = len(step.micro_batches)
        totals = {"dpo_loss": 0.0, "reward_chosen": 0.0, "reward_rejected": 0.0, "reward_margin": 0.0,
                  "preference_accuracy": 0.0, "pairs": 0, "answer_tokens": 0, "truncated": 0}
        for micro in step.micro_batches:
            rows = [self.datasets[micro.dataset][index] for index in micro.rows]
            examples = []
            for answer_key in ("chosen", "rejected"):
                for row in rows:
                    examples.append(encode_example(self.processor, decode_clip(row["audio"]).samples, row["prompt"],
                                                   row[answer_key], self.config.data.max_answer_tokens))
            batch = {k: v.to(self.precision.device) for k, v in collate(examples, self.pad_id).items()}
            labels = batch.pop("labels")
            autocast = dict(device_type=self.precision.device.split(":")[0], dtype=self.precision.torch_dtype, enabled=self.precision.autocast)
            with torch.autocast(**autocast):
                policy = sequence_logprobs(self.model(**batch).logits, labels)
            with torch.no_grad(), self.model.disable_adapter(), torch.autocast(**autocast):
                reference = sequence_logprobs(self.model(**batch).logits, labels)
            n = len(rows)
            stats = dpo_statistics(policy[:n], policy[n:], reference[:n], reference[n:], stage.beta)
            scaled = stats.loss / n_micro
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            for key in ("reward_chosen", "reward_rejected", "reward_margin", "preference_accuracy"):
                totals[key] += float(getattr(stats, key)) / n_micro
            totals["dpo_loss"] += float(stats.loss.detach()) / n_micro
            totals["pairs"] += n
            totals["answer_tokens"] += int((labels[:, 1:] != -100).sum())
            totals["truncated"] += sum(example.truncated for example in examples)
        grad_norm = self._update(optimizer)
        if not math.isfinite(totals["dpo_loss"]):
            raise DataError(f"DPO loss is not finite at step {step.index}; lower the learning rate or beta, or use bf16/fp32")
        record = {"step": step.index, "stage": stage.name, "method": "dpo", "loss": totals["dpo_loss"], **totals,
                  "beta": stage.beta, "lr": lr, "grad_norm": grad_norm, "seconds": round(time.perf_counter() - started, 4)}
        self._log(step, record, ("loss", "reward_chosen", "reward_rejected", "reward_margin", "preference_accuracy", "lr", "grad_norm", "answer_tokens"))
        return totals["dpo_loss"]

    def _update(self, optimizer: Any) -> float:
        """Clip, step (with the fp16 scaler when there is one) and zero the gradients; the gradient norm."""
        import torch

        parameters = [p for p in self.model.parameters() if p.requires_grad]
        if self.scaler:
            self.scaler.unscale_(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, self.config.training.max_grad_norm))
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _log(self, step: Step, record: dict[str, Any], scalars: tuple[str, ...]) -> None:
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if step.index % self.config.training.log_every == 0:
            for key in scalars:
                self.writer.add_scalar(f"train/{key}", record[key], step.index)
            self.writer.flush()

    def _run_sft(self, step: Step, optimizer: Any, lr: float) -> float:
        import torch

        started = time.perf_counter()
        training = self.config.training
        self.model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr
        totals = {"ce": 0.0, "consistency": 0.0, "pairs": 0, "answer_tokens": 0, "truncated": 0}
        for micro in step.micro_batches:
            rows = [self.datasets[micro.dataset][index] for index in micro.rows]
            examples = [
                encode_example(self.processor, decode_clip(row["audio"]).samples, row["prompt"], row["target"], self.config.data.max_answer_tokens)
                for row in rows
            ]
            batch = {k: v.to(self.precision.device) for k, v in collate(examples, self.pad_id).items()}
            labels = batch.pop("labels")
            with torch.autocast(device_type=self.precision.device.split(":")[0], dtype=self.precision.torch_dtype, enabled=self.precision.autocast):
                logits = self.model(**batch).logits
            ce, answer_logits = answer_losses(logits, labels)
            loss = ce
            instruction_ids = [row["instruction_id"] for row in rows]
            cells = [row["cell"] for row in rows]
            if training.consistency_weight > 0:
                consistency = consistency_loss(answer_logits, instruction_ids, cells)
                loss = loss + training.consistency_weight * consistency
                totals["consistency"] += float(consistency.detach()) / len(step.micro_batches)
            scaled = loss / len(step.micro_batches)
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            totals["ce"] += float(ce.detach()) / len(step.micro_batches)
            totals["pairs"] += count_pairs(instruction_ids, cells)
            totals["answer_tokens"] += int((labels[:, 1:] != -100).sum())
            totals["truncated"] += sum(example.truncated for example in examples)
        grad_norm = self._update(optimizer)
        if not math.isfinite(totals["ce"]):
            raise DataError(f"training loss is not finite at step {step.index}; lower the learning rate or use bf16/fp32")
        record = {
            "step": step.index, "stage": self.config.stages[step.stage].name, "method": "sft",
            "loss": totals["ce"] + training.consistency_weight * totals["consistency"],
            **totals, "lr": lr, "grad_norm": grad_norm, "seconds": round(time.perf_counter() - started, 4),
        }
        self._log(step, record, ("loss", "ce", "consistency", "lr", "grad_norm", "answer_tokens"))
        return totals["ce"]


def _lr(config: DebiasTrainConfig, steps: list[Step], step: Step) -> float:
    """Linear warm-up then linear decay to zero within the step's stage."""
    stage = config.stages[step.stage]
    in_stage = [s.index for s in steps if s.stage == step.stage]
    position, total = in_stage.index(step.index), len(in_stage)
    warmup = config.training.warmup_steps
    if position < warmup:
        return stage.learning_rate * (position + 1) / (warmup + 1)
    return stage.learning_rate * max(0.0, (total - position) / max(1, total - warmup))


def _tensorboard(folder: Path) -> Any:
    tensorboard = require("torch.utils.tensorboard", "finetune", purpose="TensorBoard training logs", package="tensorboard")
    return tensorboard.SummaryWriter(log_dir=str(folder))


def _checkpoint_dir(output: Path, step: int) -> Path:
    return output / CHECKPOINTS / f"step-{step:07d}"


def _save_checkpoint(output: Path, model: Any, optimizer: Any, step: Step, plan_key: str, keep: int) -> None:
    import torch

    folder = _checkpoint_dir(output, step.index)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial / ADAPTER_DIR))
    torch.save({"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()}, partial / "optimizer.pt")
    (partial / "state.json").write_text(json.dumps({"step": step.index, "stage": step.stage, "plan_key": plan_key}), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    finished = sorted(p for p in (output / CHECKPOINTS).glob("step-*") if not p.name.endswith(".partial"))
    for old in finished[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _latest_checkpoint(output: Path, plan_key: str) -> Path | None:
    folders = sorted(p for p in (output / CHECKPOINTS).glob("step-*") if (p / "state.json").is_file() and not p.name.endswith(".partial"))
    if not folders:
        return None
    state = json.loads((folders[-1] / "state.json").read_text(encoding="utf-8"))
    if state.get("plan_key") != plan_key:
        raise ConfigError(
            f"checkpoints in {output / CHECKPOINTS} come from a different config or data",
            hint="use a new output folder, or --restart to discard them",
        )
    return folders[-1]


def _restore_weights(model: Any, checkpoint: Path) -> int:
    peft = require("peft", "finetune", purpose="resuming a LoRA finetune")
    safetensors = require("safetensors.torch", "finetune", purpose="resuming a LoRA finetune", package="safetensors")
    weights = safetensors.load_file(str(checkpoint / ADAPTER_DIR / "adapter_model.safetensors"))
    peft.set_peft_model_state_dict(model, weights)
    return int(json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))["step"])


def _restore_optimizer(optimizer: Any, checkpoint: Path, stage: int) -> None:
    """Optimizer moments and RNG of the checkpoint, when it ended inside ``stage``."""
    import torch

    if json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))["stage"] != stage:
        return
    state = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines after ``step`` (written after the checkpoint a resume starts from)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _clear(output: Path) -> None:
    for name in (CHECKPOINTS, TENSORBOARD_DIR, ADAPTER_DIR, TRAIN_LOG, TRAINING_MANIFEST):
        target = output / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _write_manifest(
    output: Path, config: DebiasTrainConfig, summaries: dict[str, Any], steps: int, precision: Any,
    base_dir: Path, frozen_changed: tuple[str, ...] | None,
) -> None:
    from biasbench.runner.manifest import git_state, now_iso, package_versions, platform_info

    manifest = {
        "config": config.model_dump(mode="json"),
        "base_model": config.base_model,
        "revision": config.revision,
        "adapter": ADAPTER_DIR,
        "train_voices": sorted({voice for summary in summaries.values() for voice in summary.voices}),
        "train_items": _merged(summaries, "train_items"),
        "train_categories": _merged(summaries, "train_categories"),
        "methods": sorted({stage.method for stage in config.stages}),
        "data": {name: asdict(summary) for name, summary in summaries.items()},
        "steps": steps,
        "device": precision.device,
        "dtype": precision.dtype_name,
        "frozen_changed": None if frozen_changed is None else list(frozen_changed),
        "finished": now_iso(),
        "git": git_state(base_dir),
        "packages": package_versions(),
        "platform": platform_info(),
    }
    (output / TRAINING_MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")


def _merged(summaries: dict[str, Any], field: str) -> dict[str, list[str]]:
    """Union over the preference datasets of a task -> ids mapping (instruction datasets have none)."""
    merged: dict[str, set[str]] = {}
    for summary in summaries.values():
        for task, values in getattr(summary, field, {}).items():
            merged.setdefault(task, set()).update(values)
    return {task: sorted(values) for task, values in sorted(merged.items())}


def read_training_manifest(output: Path) -> dict[str, Any]:
    """The manifest of a finished finetune (raises :class:`DataError` when absent)."""
    path = Path(output) / TRAINING_MANIFEST
    if not path.is_file():
        raise DataError(f"no finished finetune in {output} ({TRAINING_MANIFEST} missing)", hint="run `biasbench debias train` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _preference_accuracy(path: Path) -> tuple[float, float] | None:
    if not path.is_file():
        return None
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    values = [r["preference_accuracy"] for r in records if r.get("method") == "dpo"]
    return (values[0], values[-1]) if values else None


def _first(values: list[float]) -> float | None:
    return values[0] if values else None


def _last(values: list[float]) -> float | None:
    return values[-1] if values else None
