"""The run configuration: YAML validated with pydantic, every problem reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from biasbench.core.errors import BiasbenchError, ConfigError
from biasbench.core.params import validation_messages
from biasbench.core.yamlio import read_yaml  # noqa: F401 - re-exported for callers outside core


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationConfig(_Strict):
    """Decoding defaults (greedy unless a task or model asks otherwise)."""

    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)


class TaskRef(_Strict):
    """A task to run: a shipped task name, a spec path, or a registered task kind, plus overrides."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


def task_refs_from_strings(value: Any) -> Any:
    """Let a task list mix bare names and {name, params} mappings (a pydantic 'before' validator)."""
    if isinstance(value, list):
        return [{"name": entry} if isinstance(entry, str) else entry for entry in value]
    return value


class ModelRef(_Strict):
    """A model to evaluate: a label, the adapter that runs it, and the adapter's parameters."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    adapter: str
    params: dict[str, Any] = Field(default_factory=dict)
    tasks: list[str] | None = None
    """Restrict this model to these tasks (default: every compatible task)."""
    generation: GenerationConfig | None = None
    """Decoding overrides for this model."""


class AuditConfig(_Strict):
    """Voice audit inside a run (see `biasbench voices audit`)."""

    enabled: bool = False
    params: dict[str, Any] = Field(default_factory=dict)


class UnderstandingConfig(_Strict):
    """Per-row understanding signal for the understanding-vs-treatment decomposition (issue 15)."""

    enabled: bool = True
    """Record understanding.csv (model transcript, else cascade transcript, else the audit's ASR round-trip)."""
    transcribe: bool = True
    """Ask each adapter that can transcribe for one cached transcript per clip it hears (free adapters only,
    unless ``transcribe_priced``)."""
    transcribe_priced: bool = False
    """Also ask adapters that cost money (their own cost estimate of the transcribe requests is > 0). Off by
    default: those requests are extra API spending. When on, they are asked only if their estimate fits in
    what is left of ``max_cost_usd``; a skipped adapter is named in the manifest and the run's warnings."""
    wer_threshold: float = Field(0.3, ge=0)
    """A row whose transcript WER exceeds this counts as not understood."""
    key_content_threshold: float = Field(0.5, ge=0, le=1)
    """A multiple-choice row whose transcript misses more than this share of the question stem's content words
    (words not in a small stopword list) counts as not understood, whatever its WER."""


class RunConfig(_Strict):
    """Everything one `biasbench run` does."""

    name: str = "run"
    description: str = ""
    pool: str
    """Shipped pool name (voice_pools/NAME.yaml) or a path to a pool spec."""
    voice_split: Literal["all", "train", "eval"] = "all"
    """Which voices of the pool speak: all, or one split (debiasing evaluates on 'eval')."""
    tts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-backend parameter overrides, e.g. {espeak: {speed: 160}}."""
    tasks: list[TaskRef]
    models: list[ModelRef]
    modalities: list[Literal["audio", "text"]] = ["audio"]
    seed: int = 0
    output: str = "results/run"
    cache_dir: str | None = None
    """Audio cache root shared across runs (default: the run directory)."""
    concurrency: int = Field(16, ge=1)
    """Requests in flight at once for async (API) adapters."""
    batch_size: int = Field(8, ge=1)
    """Requests per call for batching adapters."""
    tts_workers: int | None = Field(None, ge=1)
    """Parallel synthesis workers (default: CPU count)."""
    repeats: int = Field(1, ge=1)
    generation: GenerationConfig = GenerationConfig()
    audit: AuditConfig = AuditConfig()
    understanding: UnderstandingConfig = UnderstandingConfig()
    """Understanding signal per audio row (see biasbench.runner.understanding)."""
    max_cost_usd: float | None = Field(None, gt=0)
    """Stop cleanly (finished rows kept) once API cost reaches this budget."""
    report: bool = True
    """Write the report at the end of the run."""
    system_prompt: str | None = None
    """Optional system message for every request (prompt-level mitigation baseline)."""

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_strings(cls, value: Any) -> Any:
        return task_refs_from_strings(value)

    @field_validator("tasks", "models")
    @classmethod
    def _non_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must list at least one entry")
        return value

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: list[ModelRef]) -> list[ModelRef]:
        names = [model.name for model in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"model names must be unique; repeated: {', '.join(repeated)}")
        return value


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``data`` with CLI overrides (None values ignored) applied at the top level."""
    merged = dict(data)
    merged.update({key: value for key, value in overrides.items() if value is not None})
    return merged


def parse_config(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a config mapping; all schema problems in one :class:`ConfigError`."""
    try:
        return RunConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(validation_messages(exc, "config"))) from None


def load_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Read, override and validate a run config (schema only; see :func:`config_problems`).

    ``path`` is a YAML file or the name of a shipped config (``quickstart``), as pools and tasks are."""
    return parse_config(apply_overrides(read_yaml(resolve_config_path(path), "config"), overrides), str(path))


def resolve_config_path(ref: str | Path) -> Path:
    """The file for a config reference: an existing path, else a shipped config of that name
    (``biasbench/_shipped/configs`` in a wheel, ``configs/`` in a checkout); unknown names are a one-line error."""
    from biasbench.resources import resolve_spec, shipped_specs

    found = resolve_spec(ref, "configs")
    if found is not None:
        return found
    shipped = ", ".join(shipped_specs("configs")) or "none"
    raise ConfigError(f"config not found: {ref} (not a file, nor a shipped config; shipped: {shipped})", hint="`biasbench init` writes a starter config")


def duplicate_option_problems(items: Any) -> list[str]:
    """One line per item with identical options (see :meth:`Item.duplicate_choices`)."""
    problems = []
    for item in items:
        for group in item.duplicate_choices():
            letters = ", ".join(chr(ord("A") + index) for index in group)
            problems.append(f"item '{item.id}' has identical options {letters} ('{item.choices[group[0]]}')")
    return problems


def config_problems(config: RunConfig, base_dir: Path) -> list[str]:
    """Every semantic problem: pool, tasks, adapters and their parameters (nothing is loaded)."""
    from biasbench.core import registry
    from biasbench.tasks.loading import load_task
    from biasbench.voices.spec import backend_problems, load_pool

    problems: list[str] = []

    def check(what: str, action: Any) -> Any:
        try:
            return action()
        except BiasbenchError as exc:
            problems.append(f"{what}: {exc.one_line()}")
            return None

    pool = check(f"pool '{config.pool}'", lambda: load_pool(config.pool, base_dir=base_dir))
    if pool is not None and "audio" in config.modalities:
        voices = pool.voices if config.voice_split == "all" else pool.split(config.voice_split)
        problems.extend(backend_problems(voices, config.tts))
    task_names = set()
    for index, ref in enumerate(config.tasks):
        where = f"tasks[{index}] '{ref.name}'"
        task = check(where, lambda ref=ref: load_task(ref.name, ref.params, base_dir=base_dir))
        if task is not None:
            task_names.add(task.name)
            items = check(where, task.items) or []
            problems.extend(f"{where}: {problem}" for problem in duplicate_option_problems(items))
    for index, model in enumerate(config.models):
        where = f"models[{index}] '{model.name}'"
        adapter_cls = check(where, lambda model=model: registry.adapters.get(model.adapter))
        if adapter_cls is not None:
            check(where, lambda model=model, cls=adapter_cls: cls.check_params(model.params, f"models[{index}].params"))
        for task_name in model.tasks or ():
            if task_names and task_name not in task_names:
                problems.append(f"{where}: task '{task_name}' is not among the run's tasks ({', '.join(sorted(task_names))})")
    return problems
