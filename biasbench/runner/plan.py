"""The run plan: which model answers which item, in which voice, modality and option order.

Planning loads specs (pool, tasks, adapter classes) but no weights, clients or audio, so it is
cheap enough for `validate` and `estimate-cost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from biasbench.adapters.base import Adapter
from biasbench.config import ModelRef, RunConfig
from biasbench.core import registry
from biasbench.core.errors import ConfigError
from biasbench.core.item import Item
from biasbench.core.result import TEXT_VOICE
from biasbench.core.voice import Voice, VoicePool
from biasbench.tasks.base import RenderedPrompt, Task


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """One model answer to obtain."""

    model: str
    """Model label."""
    task: str
    """Task name."""
    item: Item
    """The item."""
    voice: Voice | None
    """Speaker (None for the text control)."""
    modality: str
    """'audio' or 'text'."""
    rotation: int
    """Option-order rotation."""
    repeat: int
    """Repeat index."""
    prompt: RenderedPrompt
    """Rendered prompt (spoken text and text part)."""

    @property
    def voice_id(self) -> str:
        return self.voice.id if self.voice is not None else TEXT_VOICE

    @property
    def spoken_text(self) -> str | None:
        return self.prompt.spoken_text

    @property
    def text(self) -> str:
        return self.prompt.text

    def identity(self) -> dict[str, Any]:
        """The row's identity as logged."""
        return {
            "model": self.model,
            "task": self.task,
            "item_id": self.item.id,
            "voice_id": self.voice_id,
            "modality": self.modality,
            "rotation": self.rotation,
            "repeat": self.repeat,
        }


@dataclass(frozen=True)
class Pairing:
    """A model × task combination and the modalities it runs in."""

    model: ModelRef
    task: Task
    modalities: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Everything a run will ask, before any audio or model exists."""

    pool: VoicePool
    """The pool."""
    voices: tuple[Voice, ...]
    """Voices that speak (the configured split)."""
    tasks: tuple[Task, ...]
    """Loaded tasks."""
    adapters: dict[str, Adapter]
    """Model label -> constructed (not yet loaded) adapter."""
    pairings: tuple[Pairing, ...]
    """Model × task combinations that run."""
    skipped: tuple[str, ...]
    """Combinations left out, each with its reason."""
    rows: tuple[PlannedRow, ...]
    """Every row, in a stable order."""


def load_plan(config: RunConfig, base_dir: Path) -> Plan:
    """Load pool, tasks and adapter classes and enumerate the rows."""
    from biasbench.tasks.loading import load_task
    from biasbench.voices.spec import load_pool

    pool = load_pool(config.pool, base_dir=base_dir)
    voices = pool.voices if config.voice_split == "all" else pool.split(config.voice_split)
    if not voices:
        raise ConfigError(f"pool '{pool.name}' has no voices in split '{config.voice_split}'")
    tasks = tuple(load_task(ref.name, ref.params, base_dir=base_dir) for ref in config.tasks)
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"task names must be unique in a run; got {', '.join(names)}")
    adapters = {
        model.name: registry.adapters.get(model.adapter).from_params(model.params, f"models['{model.name}'].params")
        for model in config.models
    }
    tasks = tuple(_fit_audio_window(task, ref, config, adapters, base_dir) for task, ref in zip(tasks, config.tasks))
    pairings, skipped = _pair(config, tasks, adapters)
    rows = tuple(row for pairing in pairings for row in _rows(pairing, voices, pool, config.repeats, config.limit, config.seed))
    if not rows:
        raise ConfigError("the plan is empty: no model can answer any task in the configured modalities; " + "; ".join(skipped))
    return Plan(pool, tuple(voices), tasks, adapters, tuple(pairings), tuple(skipped), rows)


def audio_window(task_name: str, config: RunConfig, adapters: dict[str, Adapter]) -> float | None:
    """The shortest audio window (``Capabilities.max_audio_seconds``) of the models that hear ``task_name``
    as audio; None when none does or any of them declares no window."""
    if "audio" not in config.modalities:
        return None
    windows = [
        adapters[model.name].capabilities.max_audio_seconds
        for model in config.models
        if adapters[model.name].capabilities.audio_in and (model.tasks is None or task_name in model.tasks)
    ]
    if not windows or any(window is None for window in windows):
        return None
    return min(w for w in windows if w is not None)


def _fit_audio_window(task: Task, ref: Any, config: RunConfig, adapters: dict[str, Adapter], base_dir: Path) -> Task:
    """``task`` with ``max_audio_seconds`` set to the run's audio window when every audio model declares one
    and neither the run config nor a 'no limit' (None) setting fixes it; every model hears the same items."""
    from biasbench.tasks.loading import load_task

    current = getattr(task.config, "max_audio_seconds", None)
    window = audio_window(task.name, config, adapters)
    if window is None or current is None or window == current or "max_audio_seconds" in ref.params:
        return task
    return load_task(ref.name, {**ref.params, "max_audio_seconds": window}, base_dir=base_dir)


def _pair(config: RunConfig, tasks: Sequence[Task], adapters: dict[str, Adapter]) -> tuple[list[Pairing], list[str]]:
    pairings: list[Pairing] = []
    skipped: list[str] = []
    for model in config.models:
        capabilities = adapters[model.name].capabilities
        for task in tasks:
            explicit = model.tasks is not None and task.name in model.tasks
            if model.tasks is not None and not explicit:
                continue
            if task.answer_type not in capabilities.answer_types:
                reason = f"{model.name} × {task.name}: adapter '{model.adapter}' cannot answer {task.answer_type} tasks"
                if explicit:
                    raise ConfigError(reason)
                skipped.append(reason)
                continue
            modalities = tuple(
                m
                for m in config.modalities
                if m in task.config.modalities and (capabilities.audio_in if m == "audio" else capabilities.text_in)
            )
            for m in config.modalities:
                if m not in modalities:
                    skipped.append(f"{model.name} × {task.name}: no {m} modality (not supported by the task or the adapter)")
            if modalities:
                pairings.append(Pairing(model, task, modalities))
    return pairings, skipped


def _rows(
    pairing: Pairing, voices: Sequence[Voice], pool: VoicePool, repeats: int, limit: int | None = None, seed: int = 0
) -> list[PlannedRow]:
    from biasbench.runner.limit import limit_items
    from biasbench.tasks.permutation import assign_rotations, text_rotations

    task = pairing.task
    items = limit_items(task, task.items(), limit, seed)
    rows: list[PlannedRow] = []
    assigned = (
        assign_rotations(items, voices, pool.axes, task.config.rotations, task.config.counterbalance)
        if "audio" in pairing.modalities
        else {}
    )
    for item in items:
        prompts: dict[tuple[str, int], RenderedPrompt] = {}  # one prompt per (modality, rotation), shared by every voice and repeat
        for modality in pairing.modalities:
            speakers: Sequence[Voice | None] = voices if modality == "audio" else [None]
            for voice in speakers:
                rotations = assigned[(item.id, voice.id)] if voice is not None else text_rotations(task.config.rotations)
                for rotation in rotations:
                    prompt = prompts.get((modality, rotation))
                    if prompt is None:
                        prompt = prompts[(modality, rotation)] = task.render(item, modality, rotation)
                    for repeat in range(repeats):
                        rows.append(PlannedRow(pairing.model.name, task.name, item, voice, modality, rotation, repeat, prompt))
    return rows


def plan_rows(config: RunConfig, base_dir: Path) -> list[PlannedRow]:
    """The rows a config would run (for cost estimates)."""
    return list(load_plan(config, base_dir).rows)
