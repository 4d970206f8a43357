"""The task protocol: items, how each is rendered per modality and option order, and how answers score."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Mapping, Sequence

from pydantic import Field, field_validator

from biasbench.core.item import Exclusion, Item
from biasbench.core.params import Params, parse_params
from biasbench.core.response import Response

MODALITIES = ("audio", "text")
"""'audio': the item is spoken by each voice; 'text': the same item as text (the control)."""


@dataclass(frozen=True)
class RenderedPrompt:
    """What one item looks like for one modality and option order."""

    spoken_text: str | None
    """What the TTS reads (audio modality); None for the text control."""
    text: str
    """Text sent alongside the audio (instruction), or the whole item for the text control."""
    choices: tuple[str, ...] = ()
    """Options in the presented order."""
    system: str | None = None
    """Optional system message."""


@dataclass(frozen=True)
class Outcome:
    """A scored answer."""

    outcome: str
    """'correct', 'incorrect', 'invalid', 'refusal' or 'scored' (see core.result.OUTCOMES)."""
    parsed: str = ""
    """Parsed answer in the original option space (a letter), or the extracted span."""
    score: float | None = None
    """1/0 for multiple choice, WER for transcription, a task score, or None."""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Task-specific facts for the scorer (mapped occupation, stereotype alignment, ...)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


def rotate(choices: Sequence[str], rotation: int) -> tuple[str, ...]:
    """Choices cyclically rotated left by ``rotation`` (presented position i shows original (i+r) mod n)."""
    n = len(choices)
    if n == 0:
        return ()
    r = rotation % n
    return tuple(choices[r:]) + tuple(choices[:r])


def to_original_index(presented_index: int, rotation: int, n: int) -> int:
    """Map a presented option index back to the original option index."""
    return (presented_index + rotation) % n


def to_presented_index(original_index: int, rotation: int, n: int) -> int:
    """Map an original option index to where it is presented under ``rotation``."""
    return (original_index - rotation) % n


class Task(ABC):
    """A set of items plus rendering and scoring rules."""

    kind: ClassVar[str] = ""
    """Registry name of the task kind (loader)."""
    answer_type: ClassVar[str] = "multiple_choice"
    """'multiple_choice', 'open_ended' or 'transcription'."""
    parser_version: ClassVar[str] = "1"
    """Bumped whenever scoring changes (part of the score key)."""
    path_fields: ClassVar[tuple[str, ...]] = ()
    """Config fields holding file or folder paths; the loader resolves relative ones (see tasks.loading)."""

    class Config(Params):
        """Task parameters from the spec (subclasses extend)."""

        name: str = ""
        """Task name (defaults to the spec file stem)."""
        version: str = "1"
        """Spec version; runs with different versions are not merged."""
        description: str = ""
        """One line shown by `biasbench ls tasks`."""
        license: str = ""
        """License of the items' source (shown in dataset cards and the manifest)."""
        modalities: tuple[Literal["audio", "text"], ...] = ("audio", "text")
        """Modalities this task may run in."""
        rotations: int = Field(1, ge=1)
        """Number of cyclic option-order rotations (1 = original order only)."""
        metrics: tuple[str, ...] = ()
        """Task-specific metric functions the scorer calls per group, as 'module:function' dotted paths
        (each takes a DataFrame of result rows; see biasbench.tasks.metrics)."""
        counterbalance: Literal["latin", "full"] = "latin"
        """'latin': each voice hears one rotation per item, balanced across voices of a group;
        'full': every voice hears every rotation."""

    def __init__(self, config: "Task.Config") -> None:
        self.config = config

    @classmethod
    def from_params(cls, params: dict[str, Any] | None, where: str = "task") -> "Task":
        return cls(parse_params(cls.Config, params, where))

    @property
    def name(self) -> str:
        return self.config.name or self.kind

    @property
    def version(self) -> str:
        return self.config.version

    @abstractmethod
    def items(self) -> Sequence[Item]:
        """Items that will run (after exclusions)."""

    def exclusions(self) -> Sequence[Exclusion]:
        """Items left out, with reasons."""
        return ()

    @abstractmethod
    def render(self, item: Item, modality: str, rotation: int) -> RenderedPrompt:
        """The prompt for ``item`` in ``modality`` with options rotated by ``rotation``."""

    @abstractmethod
    def score(self, item: Item, rotation: int, response: Response) -> Outcome:
        """Score a non-error response (the runner marks errors itself)."""

    def item_group(self, item: Item) -> str:
        """Stratum of an item for reporting (MMLU subject, BBQ category); '' by default."""
        return str(item.metadata.get("group", ""))

    def target_label(self, item: Item) -> str:
        """The correct answer in the original option space ('' when there is none)."""
        if isinstance(item.target, int) and item.choices:
            return chr(ord("A") + item.target)
        return "" if item.target is None else str(item.target)

    def describe(self) -> dict[str, Any]:
        """Identity recorded in the manifest."""
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "answer_type": self.answer_type,
            "parser_version": self.parser_version,
            "config": self.config.model_dump(mode="json"),
        }


class ScreenedTask(Task):
    """A task whose items and exclusions come from one (cached) load-sample-screen pass."""

    def __init__(self, config: "Task.Config") -> None:
        super().__init__(config)
        self._prepared: tuple[list[Item], list[Exclusion]] | None = None

    @abstractmethod
    def prepare_items(self) -> tuple[list[Item], list[Exclusion]]:
        """Load, sample and screen the items once: (kept items, exclusions with reasons)."""

    def _prepare(self) -> tuple[list[Item], list[Exclusion]]:
        if self._prepared is None:
            self._prepared = self.prepare_items()
        return self._prepared

    def items(self) -> Sequence[Item]:
        return self._prepare()[0]

    def exclusions(self) -> Sequence[Exclusion]:
        return self._prepare()[1]


class PromptFileConfig(Task.Config):
    """Parameters of open-ended tasks whose prompts come from a file (nothing to rotate)."""

    path: str
    """JSONL / CSV of prompts (the task names its columns)."""
    format: Literal["auto", "csv", "jsonl", "json"] = "auto"
    """File format ('auto': by extension)."""
    instruction: str = "Respond to the speaker's request."
    """Text sent alongside the audio (the text control sends the prompt alone)."""

    @field_validator("rotations")
    @classmethod
    def _one_rotation(cls, value: int) -> int:
        if value != 1:
            raise ValueError("open-ended items have no options to rotate; rotations must be 1")
        return value
