"""Load Qwen2-Audio for finetuning and attach LoRA to the language model only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from biasbench.core.deps import require
from biasbench.core.errors import ConfigError, DataError
from biasbench.debias.train_config import DebiasTrainConfig, TrainingConfig

FROZEN_AUDIO_MODULES = ("audio_tower", "multi_modal_projector")
"""Qwen2-Audio's audio encoder and projector (trained only by an 'encoder_projector' stage)."""


@dataclass(frozen=True)
class Precision:
    """Where and in which precision training runs."""

    device: str
    """'cpu', 'cuda', 'cuda:1', ..."""
    dtype_name: str
    """'bf16', 'fp16' or 'fp32' (the autocast precision; trainable weights stay fp32)."""

    @property
    def torch_dtype(self) -> Any:
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.dtype_name]

    @property
    def autocast(self) -> bool:
        return self.dtype_name != "fp32"


def resolve_precision(training: TrainingConfig) -> Precision:
    """The device and precision for ``training`` ('auto' picks bf16/fp16 on a GPU, fp32 on CPU)."""
    torch = require("torch", "finetune", purpose="finetuning")
    device = training.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"training.device is '{device}' but no CUDA GPU is visible", hint="use device: cpu or auto")
    dtype = training.dtype
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            dtype = "fp32"
    if dtype == "fp16" and not device.startswith("cuda"):
        raise ConfigError("training.dtype fp16 needs a CUDA GPU", hint="use bf16 or fp32 on CPU")
    return Precision(device, dtype)


def load_base(config: DebiasTrainConfig, precision: Precision) -> tuple[Any, Any]:
    """The processor and the base model, weights in fp32 (CPU) or the training precision (GPU)."""
    transformers = require("transformers", "finetune", purpose="finetuning Qwen2-Audio")
    weights_dtype = precision.torch_dtype if precision.device.startswith("cuda") else require("torch", "finetune").float32
    try:
        processor = transformers.AutoProcessor.from_pretrained(config.base_model, revision=config.revision)
        model = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(
            config.base_model, revision=config.revision, dtype=weights_dtype
        )
    except OSError as exc:
        raise DataError(f"cannot load Qwen2-Audio from '{config.base_model}': {str(exc).splitlines()[0]}") from None
    return processor, model.to(precision.device)


def attach_lora(model: Any, config: DebiasTrainConfig) -> Any:
    """A peft model with LoRA on the language model's projections. When a stage trains the audio
    encoder and projector they are saved with the adapter (peft ``modules_to_save``)."""
    peft = require("peft", "finetune", purpose="LoRA finetuning")
    lora = peft.LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
        modules_to_save=list(FROZEN_AUDIO_MODULES) if config.trains_encoder() else None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = peft.get_peft_model(model, lora)
    touched = [name for name, _ in peft_model.named_modules() if name.endswith("lora_A") and "audio_tower" in name]
    if touched:
        raise ConfigError(f"lora.target_modules matches audio encoder modules ({touched[0]}); restrict it to the language model")
    return peft_model


def set_trainable(model: Any, stage_kind: str) -> list[str]:
    """Freeze everything except the stage's parameters; returns the trainable parameter names."""
    trainable = []
    for name, parameter in model.named_parameters():
        if stage_kind == "lora":
            on = "lora_" in name
        else:
            on = "modules_to_save" in name and any(module in name for module in FROZEN_AUDIO_MODULES)
        parameter.requires_grad_(on)
        if on:
            trainable.append(name)
    if not trainable:
        raise ConfigError(f"stage kind '{stage_kind}' has no trainable parameters in this model")
    return trainable
