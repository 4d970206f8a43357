"""Items: the questions and passages a task asks, identical for every voice."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from biasbench.core.errors import ConfigError


@dataclass(frozen=True)
class Item:
    """One task item. The same words are spoken by every voice; only the voice varies."""

    id: str
    """Stable id within the task (e.g. 'astronomy/17')."""
    task: str
    """Task name."""
    text: str
    """The question, passage or sentence."""
    choices: tuple[str, ...] = ()
    """Options in their original order (empty for open-ended and transcription items)."""
    target: int | str | None = None
    """Index into ``choices`` (multiple choice), reference text (transcription) or None (no ground truth)."""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Task-specific facts (subject, BBQ condition, stereotype mapping, ...)."""

    def __post_init__(self) -> None:
        if not self.id:
            raise ConfigError(f"an item of task '{self.task}' has an empty id")
        if not self.text.strip():
            raise ConfigError(f"item '{self.id}' of task '{self.task}' has no text")
        if self.choices and isinstance(self.target, int) and not 0 <= self.target < len(self.choices):
            raise ConfigError(f"item '{self.id}': target {self.target} is outside its {len(self.choices)} choices")
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def duplicate_choices(self) -> list[tuple[int, ...]]:
        """Groups of option indices whose texts are equal once spacing is ignored ([] when every
        option differs; case counts: 'BB' and 'bb' differ in genetics). A model cannot pick between
        identical options, so the item measures nothing there (`biasbench validate` reports it)."""
        groups: dict[str, list[int]] = {}
        for index, choice in enumerate(self.choices):
            groups.setdefault(" ".join(str(choice).split()), []).append(index)
        return [tuple(indices) for indices in groups.values() if len(indices) > 1]


@dataclass(frozen=True)
class Exclusion:
    """An item left out of a run, with the reason (exclusions are listed, never silent)."""

    task: str
    """Task name."""
    item_id: str
    """The excluded item."""
    reason: str
    """Why, in words (e.g. 'estimated 41.2 s of speech > max_audio_seconds=30')."""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Context such as subject (for counts after exclusion)."""
