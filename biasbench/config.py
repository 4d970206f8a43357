"""The run configuration: YAML validated with pydantic, every problem reported at once."""

from __future__ import annotations

import copy
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


class ExecutorConfig(_Strict):
    """Where local-model adapters run: in this process, or as Ray actors (docs/scale.md, "Ray"). Never part of a
    run's output identity: every executor gives the same answers, so a run may be resumed under another one."""

    kind: Literal["local", "ray"] = "local"
    """'local': this process; 'ray': local-model adapters as Ray actors (API adapters keep the local async path)."""
    address: str | None = None
    """Ray cluster to join: 'auto' (the running cluster on this node), 'ray://host:10001' (Ray Client), 'host:6379'
    (the head's GCS), or None (Ray's default: the cluster RAY_ADDRESS names, else a new local instance; a process
    that already joined a cluster keeps it)."""
    num_gpus: float | None = Field(None, ge=0)
    """GPUs per actor (default: 1 when the cluster has GPUs, else 0)."""
    num_cpus: float | None = Field(None, ge=0)
    """CPUs per actor (default: 1)."""
    actors: int | None = Field(None, ge=1)
    """Actors per model (default: the cluster's GPUs divided by ``num_gpus``; 2 CPU actors when it has no GPU)."""
    synthesis: bool = True
    """With kind 'ray', synthesize clips as Ray tasks over the cluster's CPUs (the cache dir must be shared)."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        host, _, port = value.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"'{value}' is not auto, ray://HOST:PORT, HOST:PORT or null (a local Ray instance)")
        return value


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
    audio_format: Literal["flac", "wav"] = "flac"
    """How new clips are stored: FLAC (lossless, about half the size) or 16-bit WAV; response keys hash the
    samples' canonical WAV encoding, so both formats give the same keys."""
    verify_cache: bool = False
    """Re-hash every cached clip on open (`biasbench run --verify-cache`); else its size is checked."""
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
    executor: ExecutorConfig = ExecutorConfig()
    """Where local models run (this process, or Ray actors); never changes an answer (`run --executor ray`)."""
    limit: int | None = Field(None, ge=1)
    """At most this many items per task (seeded, stratified by the task's item groups); a limited run is its
    own configuration (output-affecting), never a resume of the full one (`run --limit`)."""

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


def set_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Copy of ``data`` with one ``path.to.key=value`` applied (value parsed as YAML; list entries by index
    or, for tasks and models, by name). Only keys the config has or its schema knows may be set."""
    import yaml

    path, sep, raw = assignment.partition("=")
    keys = [key for key in path.strip().split(".")]
    if not sep or not all(keys):
        raise ConfigError(f"--set '{assignment}': expected path.to.key=value", hint="e.g. --set generation.max_new_tokens=64")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set '{assignment}': the value is not valid YAML ({str(exc).splitlines()[0]})") from None
    merged = copy.deepcopy(data)
    node: Any = merged
    known: Any = RunConfig
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            index = _list_index(node, key)
            if index is None:
                names = [str(entry.get("name", entry)) if isinstance(entry, dict) else str(entry) for entry in node]
                raise ConfigError(f"--set {path}: no entry '{key}' at {where}{_did_you_mean(key, names)}")
            if last:
                node[index] = value
            else:
                if isinstance(node[index], str):  # a bare task name becomes {name: ...} to take params
                    node[index] = {"name": node[index]}
                node = node[index]
            known = _item_model(known)
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {path}: {'.'.join(keys[:depth])} is not a mapping")
        fields = getattr(known, "model_fields", None)
        if key not in node and fields is not None and key not in fields:
            raise ConfigError(f"--set {path}: unknown key '{key}' at {where}{_did_you_mean(key, list(fields))}")
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
            known = _field_model(known, key)
    return merged


def _list_index(entries: list[Any], key: str) -> int | None:
    if key.isdigit():
        return int(key) if int(key) < len(entries) else None
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else entry
        if name == key:
            return index
    return None


def _field_model(model: Any, key: str) -> Any:
    """The pydantic model behind ``model.key`` (None for free-form mappings such as params)."""
    fields = getattr(model, "model_fields", None)
    if not fields or key not in fields:
        return None
    annotation = fields[key].annotation
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _item_model(model: Any) -> Any:
    return model if model in (TaskRef, ModelRef) else None


def _did_you_mean(name: str, choices: list[str]) -> str:
    from biasbench.core.registry import did_you_mean

    return did_you_mean(name, choices)


def select_by_name(data: dict[str, Any], field: str, wanted: list[str]) -> dict[str, Any]:
    """Copy of ``data`` keeping only the ``field`` ('tasks' or 'models') entries named in ``wanted``, in the
    config's order; an unknown name is a one-line error with the closest known name."""
    entries = list(data.get(field) or [])
    names = [entry.get("name") if isinstance(entry, dict) else entry for entry in entries]
    for name in wanted:
        if name not in names:
            raise ConfigError(
                f"--{field} {name}: not among the config's {field} ({', '.join(map(str, names))}){_did_you_mean(name, [str(n) for n in names])}"
            )
    kept = [entry for entry, name in zip(entries, names) if name in wanted]
    merged = dict(data)
    merged[field] = kept
    if field == "tasks":  # a model restricted to tasks that were all dropped keeps only the remaining ones
        merged["models"] = [
            {**model, "tasks": [t for t in model["tasks"] if t in wanted]} if isinstance(model, dict) and model.get("tasks") else model
            for model in data.get("models") or []
        ]
    return merged


def parse_config(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a config mapping; all schema problems in one :class:`ConfigError`."""
    try:
        return RunConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(validation_messages(exc, "config"))) from None


def load_config(
    path: str | Path, *, sets: list[str] | tuple[str, ...] = (), models: list[str] | None = None,
    tasks: list[str] | None = None, **overrides: Any,
) -> RunConfig:
    """Read, override and validate a run config (schema only; see :func:`config_problems`).

    ``path`` is a YAML file or the name of a shipped config (``quickstart``), as pools and tasks are.
    Command-line overrides apply to the mapping before validation, so they are checked like the YAML:
    ``sets`` (``path.to.key=value``), ``models``/``tasks`` (keep these names), then top-level ``overrides``."""
    data = read_yaml(resolve_config_path(path), "config")
    for assignment in sets:
        data = set_override(data, assignment)
    if models:
        data = select_by_name(data, "models", models)
    if tasks:
        data = select_by_name(data, "tasks", tasks)
    return parse_config(apply_overrides(data, overrides), str(path))


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

    if config.executor.kind == "ray":
        from biasbench.core.deps import check_installed

        check("executor", lambda: check_installed("ray", "ray", purpose="the Ray executor (executor: {kind: ray})"))
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
