"""The `biasbench debias train` configuration (YAML validated with pydantic, every problem at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from biasbench.config import TaskRef, read_yaml, task_refs_from_strings
from biasbench.core.errors import ConfigError
from biasbench.core.params import validation_messages

DEFAULT_PROMPT = "Respond to the spoken request."
"""Text sent alongside each spoken instruction (training and evaluation use their own prompts)."""

LANGUAGE_MODEL_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA targets: the LLM's attention and MLP projections only (the audio encoder has q/k/v_proj too)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeSource(_Strict):
    """Preference pairs from the benchmark's own bias probes (BBQ ambiguous/disambiguated,
    voice_only_ambiguous), spoken by the pool's train voices. The items and BBQ categories used are
    recorded so `debias run` can refuse to evaluate on them."""

    tasks: list[TaskRef]
    """Probe tasks (kinds 'bbq' and 'voice_only_ambiguous'); a BBQ task's ``categories`` are the training categories."""
    eval_fraction: float = Field(0.5, ge=0.0, lt=1.0)
    """Share of each task's items held out for evaluation (a seeded split by item id; never trained on)."""
    eval_categories: list[str] = Field(default_factory=list)
    """BBQ categories reserved for evaluation: refused here when a probe task lists them."""
    seed: int = 0
    """Seed of the item split and of the option order each item is spoken in."""

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_strings(cls, value: Any) -> Any:
        return task_refs_from_strings(value)


class DataSource(_Strict):
    """One dataset of the curriculum: instructions (SFT) or preference pairs (DPO)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """Short name (rows are '<name>/<index>')."""
    kind: Literal["instructions", "preferences"] = "instructions"
    """'instructions': Alpaca/ShareGPT answers (SFT); 'preferences': chosen/rejected pairs (DPO)."""
    source: str | None = None
    """instructions: Alpaca/ShareGPT .json/.jsonl path (relative to the config) or a Hugging Face dataset name;
    preferences: a folder written by `biasbench debias pairs` (or omit it and give ``probes``)."""
    probes: ProbeSource | None = None
    """preferences only: build pairs from bias-probe tasks instead of reading ``source``."""
    split: str = "train"
    """Split of a Hugging Face dataset."""
    license: str = ""
    """License of the data (carried into the dataset card)."""
    limit: int | None = Field(None, ge=1)
    """Use at most this many instructions (after filtering; a seeded sample, not the first N)."""


class SpeakabilityConfig(_Strict):
    """Instructions that cannot be read aloud (code, tables, formulas, too long) are excluded with a reason
    (the task layer's rules: biasbench.tasks.speakable)."""

    max_audio_seconds: float = Field(30.0, gt=0)
    """Longest estimated speech per instruction (Qwen2-Audio's encoder hears at most 30 s)."""
    words_per_second: float = Field(2.5, gt=0)
    """Speaking rate for the length estimate."""


class DataConfig(_Strict):
    """How instructions become balanced spoken examples."""

    voices_per_instruction: int = Field(2, ge=1)
    """Voices (from different cells) that speak each instruction; ≥2 enables the consistency loss."""
    prompt: str = DEFAULT_PROMPT
    """Text part sent with the audio."""
    speakability: SpeakabilityConfig = SpeakabilityConfig()
    max_answer_tokens: int = Field(512, ge=1)
    """Answer tokens kept as training targets (longer answers are cut; counted in the data summary)."""
    tts_workers: int | None = Field(None, ge=1)
    """Parallel synthesis workers (default: CPU count)."""


class LoraConfig(_Strict):
    """peft LoRA on the language model."""

    r: int = Field(16, ge=1)
    """LoRA rank."""
    alpha: int = Field(32, ge=1)
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    """Dropout on the LoRA branch."""
    target_modules: str = LANGUAGE_MODEL_LORA_TARGETS
    """Regex over module names (full match)."""


class Stage(_Strict):
    """One training stage: which parameters learn, on which datasets in which order."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """Stage label (logged with every step)."""
    train: Literal["lora", "encoder_projector"] = "lora"
    """'lora': LoRA on the LLM (audio encoder and projector frozen);
    'encoder_projector': audio encoder + projector (LLM and LoRA frozen)."""
    datasets: list[str]
    """Curriculum: dataset names in the order they are trained on."""
    epochs: int = Field(1, ge=1)
    """Passes over each dataset before moving to the next."""
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps at most in this stage."""
    learning_rate: float = Field(2e-4, gt=0)
    """Peak learning rate (linear warm-up, then linear decay to 0 within the stage)."""
    method: Literal["sft", "dpo"] = "sft"
    """'sft': answer-token cross-entropy on instruction datasets; 'dpo': direct preference optimisation on
    preference datasets against the frozen base (the adapter disabled) as reference policy."""
    beta: float = Field(0.1, gt=0)
    """DPO temperature: how far the policy may move from the reference (used by 'dpo' stages)."""


class TrainingConfig(_Strict):
    """Optimisation settings."""

    batch_size: int = Field(4, ge=1)
    """Rows per micro-batch (rounded down to whole instructions, at least one)."""
    grad_accum: int = Field(4, ge=1)
    """Micro-batches per optimizer step."""
    weight_decay: float = Field(0.0, ge=0.0)
    """AdamW weight decay."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warm-up steps at the start of each stage."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping threshold."""
    consistency_weight: float = Field(0.0, ge=0.0)
    """Weight of the counterfactual voice consistency loss (0 = off)."""
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """'auto': bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU."""
    device: str = "auto"
    """'auto', 'cpu', 'cuda', 'cuda:1', ..."""
    save_every: int = Field(100, ge=1)
    """Checkpoint every N optimizer steps (and at the end)."""
    keep_checkpoints: int = Field(2, ge=1)
    """Most recent checkpoints kept on disk."""
    log_every: int = Field(1, ge=1)
    """TensorBoard scalars every N steps (train_log.jsonl gets every step)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, about 30% slower)."""
    verify_frozen: bool = True
    """Hash every frozen weight (base LLM, audio encoder, projector) before and after training and
    record any change in training.json (a guard against training the wrong parameters)."""
    seed: int = 0
    """Seed of data sampling, voice order, batch order and initialisation."""


class DebiasTrainConfig(_Strict):
    """Everything `biasbench debias train` does."""

    name: str = "debias"
    """Label of this finetune."""
    base_model: str
    """Qwen2-Audio weights: a local folder or a hub id (e.g. Qwen/Qwen2-Audio-7B-Instruct)."""
    revision: str | None = None
    """Hub commit or tag of ``base_model`` (pin it for published numbers)."""
    pool: str
    """Voice pool; only its *train* split speaks the training data."""
    tts: dict[str, dict] = Field(default_factory=dict)
    """Per-backend TTS parameter overrides."""
    cache_dir: str | None = None
    """Audio cache root (default: <output>/audio-cache)."""
    output: str = "results/debias/run"
    """Training folder (relative to the working directory)."""
    datasets: list[DataSource]
    """Instruction datasets, by name (stages order them into a curriculum)."""
    data: DataConfig = DataConfig()
    """Spoken rendering."""
    lora: LoraConfig = LoraConfig()
    """LoRA shape."""
    stages: list[Stage]
    """Training stages, in order."""
    training: TrainingConfig = TrainingConfig()
    """Optimisation."""

    @model_validator(mode="after")
    def _check_curriculum(self) -> "DebiasTrainConfig":
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique: {names}")
        if not self.stages:
            raise ValueError("stages: list at least one stage")
        for stage in self.stages:
            unknown = [n for n in stage.datasets if n not in names]
            if unknown:
                raise ValueError(f"stage '{stage.name}' names unknown datasets {unknown}; known: {names}")
            if not stage.datasets:
                raise ValueError(f"stage '{stage.name}' lists no datasets")
            wanted = "preferences" if stage.method == "dpo" else "instructions"
            wrong = [d.name for d in self.datasets if d.name in stage.datasets and d.kind != wanted]
            if wrong:
                raise ValueError(f"stage '{stage.name}' (method {stage.method}) needs {wanted} datasets, not {wrong}")
            if stage.method == "dpo" and stage.train != "lora":
                raise ValueError(f"stage '{stage.name}': method dpo trains LoRA only (the reference is the adapter disabled)")
        for source in self.datasets:
            if source.kind == "instructions" and (source.source is None or source.probes is not None):
                raise ValueError(f"dataset '{source.name}': instructions need 'source' (and no 'probes')")
            if source.kind == "preferences" and (source.source is None) == (source.probes is None):
                raise ValueError(f"dataset '{source.name}': preferences need exactly one of 'source' (a `debias pairs` folder) or 'probes'")
        if self.training.consistency_weight > 0 and self.data.voices_per_instruction < 2:
            raise ValueError("consistency_weight > 0 needs data.voices_per_instruction >= 2")
        return self

    def uses_dpo(self) -> bool:
        """True when a stage optimises preferences."""
        return any(stage.method == "dpo" for stage in self.stages)

    def trains_encoder(self) -> bool:
        """True when a stage trains the audio encoder and projector."""
        return any(stage.train == "encoder_projector" for stage in self.stages)


def load_train_config(path: str | Path, *, training: dict[str, object] | None = None, **overrides: object) -> DebiasTrainConfig:
    """Read and validate a debias training config with top-level ``overrides`` and ``training`` field
    overrides (None values ignored); every problem in one :class:`ConfigError`."""
    data = read_yaml(path, "debias config")
    data.update({key: value for key, value in overrides.items() if value is not None})
    chosen = {key: value for key, value in (training or {}).items() if value is not None}
    if chosen:
        data["training"] = {**(data.get("training") or {}), **chosen}
    try:
        return DebiasTrainConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(validation_messages(exc, "config"))) from None
