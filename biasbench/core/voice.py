"""Voices and voice pools: who speaks, with which demographic labels, and where the labels come from."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from biasbench.core.errors import ConfigError

AXES = ("gender", "race", "accent", "age_band")
"""Demographic axes a pool may be balanced over."""

LABEL_SOURCES = ("self-reported", "annotated", "engine-preset", "designed")
"""Where a demographic label comes from: the speaker, an annotator, the TTS vendor, or us (demo pools)."""

SPLITS = ("train", "eval")
"""Debiasing trains on one split of the pool and evaluates on the other."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class DemographicLabel:
    """One demographic attribute of a speaker, with its provenance."""

    axis: str
    """One of :data:`AXES`."""
    value: str
    """e.g. 'female', 'Black', 'en-029'."""
    source: str
    """One of :data:`LABEL_SOURCES`."""

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ConfigError(f"unknown demographic axis '{self.axis}'; expected one of {', '.join(AXES)}")
        if not self.value:
            raise ConfigError(f"demographic label for axis '{self.axis}' is empty")
        if self.source not in LABEL_SOURCES:
            raise ConfigError(
                f"label source '{self.source}' for axis '{self.axis}' is not one of {', '.join(LABEL_SOURCES)}"
            )


@dataclass(frozen=True)
class ReferenceClip:
    """A recording of a real speaker that a cloning TTS backend imitates."""

    path: str
    """Audio file (resolved relative to the pool spec)."""
    transcript: str
    """What is said in the clip (MaskGCT and F5-TTS need it)."""

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("reference clip path is empty")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: a TTS engine plus a preset voice or a reference clip to clone."""

    id: str
    """Unique within its pool; letters, digits, '_', '-', '.'."""
    engine: str
    """TTS backend name in the registry (e.g. 'espeak', 'xtts')."""
    labels: tuple[DemographicLabel, ...]
    """Demographic labels, one per axis."""
    preset: str | None = None
    """Engine preset voice (e.g. espeak 'en-us+f3'); exclusive with ``reference``."""
    reference: ReferenceClip | None = None
    """Reference clip for zero-shot cloning; exclusive with ``preset``."""
    split: str = "eval"
    """'train' or 'eval' (see :data:`SPLITS`)."""
    corpus: str = ""
    """Corpus the reference speaker comes from (provenance)."""
    license: str = ""
    """License of the reference material."""
    tts_params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Backend parameters for this voice (speed, pitch, ...); part of the audio cache key."""

    def __post_init__(self) -> None:
        if not _ID.match(self.id or ""):
            raise ConfigError(f"voice id '{self.id}' must be letters, digits, '_', '-' or '.'")
        if (self.preset is None) == (self.reference is None):
            raise ConfigError(f"voice '{self.id}' needs exactly one of 'preset' or 'reference'")
        if self.split not in SPLITS:
            raise ConfigError(f"voice '{self.id}' split '{self.split}' must be one of {', '.join(SPLITS)}")
        axes = [label.axis for label in self.labels]
        if len(set(axes)) != len(axes):
            raise ConfigError(f"voice '{self.id}' has more than one label for an axis: {axes}")
        object.__setattr__(self, "tts_params", _frozen_mapping(self.tts_params))

    def label(self, axis: str) -> str | None:
        """The value on ``axis``, or None when the voice has no label there."""
        return next((label.value for label in self.labels if label.axis == axis), None)

    def cell(self, axes: tuple[str, ...]) -> tuple[str, ...]:
        """The voice's cell: its values on ``axes`` in order."""
        return tuple(self.label(axis) or "" for axis in axes)

    def to_json(self) -> dict[str, Any]:
        """A plain-dict description (manifest, hashing)."""
        return {
            "id": self.id,
            "engine": self.engine,
            "preset": self.preset,
            "reference": None if self.reference is None else {"path": self.reference.path, "transcript": self.reference.transcript},
            "labels": {label.axis: {"value": label.value, "source": label.source} for label in self.labels},
            "split": self.split,
            "corpus": self.corpus,
            "license": self.license,
            "tts_params": dict(self.tts_params),
        }


@dataclass(frozen=True)
class VoicePool:
    """A set of voices balanced over demographic axes (every cell has the same number of voices)."""

    name: str
    """Pool name (file stem of its spec)."""
    axes: tuple[str, ...]
    """Axes the pool is balanced over, e.g. ('gender', 'race')."""
    voices: tuple[Voice, ...]
    """All voices, train and eval."""
    min_per_cell: int = 3
    """Fewest voices a cell may have."""
    max_per_cell: int = 5
    """Most voices a cell may have."""
    allow_unbalanced: bool = False
    """Allow cells of different sizes (reported, never silent)."""
    purpose: str = "research"
    """'research' or 'demonstration' (a demonstration pool is labelled as such in every report)."""
    description: str = ""
    """Free text shown in reports and dataset cards."""
    source: str = ""
    """Path of the spec it was loaded from."""
    provenance: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """How the pool was made (e.g. `voices select` command, seed, corpus table hash); free-form."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "provenance", _frozen_mapping(self.provenance))
        if not self.axes:
            raise ConfigError(f"pool '{self.name}' declares no axes")
        for axis in self.axes:
            if axis not in AXES:
                raise ConfigError(f"pool '{self.name}' axis '{axis}' is not one of {', '.join(AXES)}")
        if not self.voices:
            raise ConfigError(f"pool '{self.name}' has no voices")
        ids = [voice.id for voice in self.voices]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ConfigError(f"pool '{self.name}' repeats voice ids: {', '.join(duplicates)}")
        for voice in self.voices:
            missing = [axis for axis in self.axes if voice.label(axis) is None]
            if missing:
                raise ConfigError(f"voice '{voice.id}' in pool '{self.name}' has no label for {', '.join(missing)}")
        if not 1 <= self.min_per_cell <= self.max_per_cell:
            raise ConfigError(f"pool '{self.name}': need 1 <= min_per_cell <= max_per_cell")
        if self.purpose not in ("research", "demonstration"):
            raise ConfigError(f"pool '{self.name}' purpose must be 'research' or 'demonstration'")

    def cells(self, voices: tuple[Voice, ...] | None = None) -> dict[tuple[str, ...], list[Voice]]:
        """Voices grouped by cell, cells in sorted order."""
        grouped: dict[tuple[str, ...], list[Voice]] = defaultdict(list)
        for voice in self.voices if voices is None else voices:
            grouped[voice.cell(self.axes)].append(voice)
        return dict(sorted(grouped.items()))

    def balance_problems(self) -> list[str]:
        """Every balance violation, cell by cell (empty when the pool is balanced)."""
        problems: list[str] = []
        cells = self.cells()
        values = [sorted({cell[i] for cell in cells}) for i in range(len(self.axes))]
        for cell in itertools.product(*values):
            if cell not in cells:
                problems.append(f"cell {' × '.join(cell)} has 0 voices (every combination of the axes' values needs voices)")
        for cell, voices in cells.items():
            name = " × ".join(cell)
            if len(voices) < self.min_per_cell:
                problems.append(f"cell {name} has {len(voices)} voices, fewer than min_per_cell={self.min_per_cell}")
            if len(voices) > self.max_per_cell:
                problems.append(f"cell {name} has {len(voices)} voices, more than max_per_cell={self.max_per_cell}")
        sizes = {len(v) for v in cells.values()}
        if len(sizes) > 1 and not self.allow_unbalanced:
            detail = ", ".join(f"{' × '.join(c)}={len(v)}" for c, v in cells.items())
            problems.append(f"cells have different sizes ({detail}); set allow_unbalanced: true to accept")
        return problems

    def voice(self, voice_id: str) -> Voice:
        """The voice with ``voice_id``."""
        for voice in self.voices:
            if voice.id == voice_id:
                return voice
        raise ConfigError(f"pool '{self.name}' has no voice '{voice_id}'")

    def split(self, split: str) -> tuple[Voice, ...]:
        """Voices of one split ('train' or 'eval')."""
        return tuple(voice for voice in self.voices if voice.split == split)

    def to_json(self) -> dict[str, Any]:
        """A plain-dict description (manifest, dataset cards)."""
        return {
            "name": self.name,
            "axes": list(self.axes),
            "purpose": self.purpose,
            "description": self.description,
            "source": self.source,
            "min_per_cell": self.min_per_cell,
            "max_per_cell": self.max_per_cell,
            "allow_unbalanced": self.allow_unbalanced,
            "provenance": dict(self.provenance),
            "voices": [voice.to_json() for voice in self.voices],
        }
