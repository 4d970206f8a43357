"""Pool specs (YAML): parse, validate every problem at once, and build a :class:`VoicePool`.

A spec looks like::

    description: ...
    purpose: research            # or demonstration
    axes: [gender, race]
    values: {gender: [female, male], race: [Black, White, Asian]}   # optional: expected cells
    min_per_cell: 3
    max_per_cell: 5
    engine: maskgct              # default for voices that name none
    label_source: self-reported  # default for labels given as plain strings
    voices:
      - id: f-black-1
        reference: {path: clips/f-black-1.wav, transcript: "..."}
        labels: {gender: female, race: Black}
        split: train
        corpus: EdAcc
        license: CC BY-SA 4.0

Reference clip paths are resolved relative to the spec file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biasbench.core.yamlio import read_yaml
from biasbench.core.errors import BiasbenchError, ConfigError, SpecProblems, UnknownNameError
from biasbench.core.params import validation_messages
from biasbench.core.registry import did_you_mean
from biasbench.core.voice import AXES, LABEL_SOURCES, DemographicLabel, ReferenceClip, Voice, VoicePool
from biasbench.resources import resolve_spec, shipped_specs

KIND = "voice_pools"
"""Folder (and resource kind) of shipped pool specs."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Strict):
    """A label with its own source (instead of the voice's or pool's ``label_source``)."""

    value: str
    source: str | None = None


class ReferenceSpec(_Strict):
    """A reference clip to clone."""

    path: str
    transcript: str = ""
    duration_s: float | None = None
    """Informational (written by `voices select`)."""


class VoiceSpec(_Strict):
    """One speaker in the spec."""

    id: str
    engine: str | None = None
    preset: str | None = None
    reference: ReferenceSpec | None = None
    labels: dict[str, Union[str, LabelSpec]]
    label_source: str | None = None
    split: Literal["train", "eval"] = "eval"
    corpus: str = ""
    license: str = ""
    tts_params: dict[str, Any] = Field(default_factory=dict)
    covariates: dict[str, Any] = Field(default_factory=dict)
    """Informational speaker facts (age, clip duration, ...) recorded by `voices select`."""


class PoolSpec(_Strict):
    """A whole pool spec file."""

    name: str | None = None
    description: str = ""
    purpose: Literal["research", "demonstration"] = "research"
    axes: list[str] = Field(default_factory=lambda: ["gender", "race"])
    values: dict[str, list[str]] | None = None
    min_per_cell: int = Field(3, ge=1)
    max_per_cell: int = Field(5, ge=1)
    allow_unbalanced: bool = False
    engine: str | None = None
    label_source: str | None = None
    corpus: str = ""
    license: str = ""
    provenance: dict[str, Any] = Field(default_factory=dict)
    voices: list[VoiceSpec]


def pool_path(ref: str | Path, base_dir: Path | None = None) -> Path:
    """The spec file for a shipped pool name or a path; unknown names suggest the closest one."""
    path = resolve_spec(ref, KIND, base_dir)
    if path is None:
        text = str(ref)
        if text.endswith((".yaml", ".yml")) or "/" in text:
            raise ConfigError(f"pool spec not found: {text}")
        known = list(shipped_specs(KIND))
        raise UnknownNameError(f"unknown pool '{text}'{did_you_mean(text, known)}", hint="`biasbench ls pools` lists them")
    return path


def load_pool(ref: str | Path, base_dir: Path | None = None, *, check_files: bool = True) -> VoicePool:
    """Load and validate a pool spec; every problem (schema, labels, engines, clips, balance) in one ConfigError.

    ``check_files=False`` validates the structure only (a template whose reference clips are not on
    this machine); otherwise each reference clip must be a readable, non-empty audio file.
    """
    path = pool_path(ref, base_dir)
    data = read_yaml(path, "pool spec")
    try:
        spec = PoolSpec(**data)
    except ValidationError as exc:
        raise ConfigError(f"pool spec {path}: " + "; ".join(validation_messages(exc, "pool"))) from None
    problems: list[str] = []
    voices = _voices(spec, path, problems)
    problems.extend(voice_problems(voices, check_files=check_files))
    pool = None if problems else _pool(spec, path, voices, problems)
    if pool is not None:
        problems.extend(_missing_values(pool, spec.values or {}))
        problems.extend(pool.balance_problems())
    if problems:
        raise SpecProblems(
            f"pool spec {path}", problems, hint=None if len(problems) <= SpecProblems.shown else "`biasbench voices validate POOL` lists them all"
        )
    assert pool is not None
    return pool


def _voices(spec: PoolSpec, path: Path, problems: list[str]) -> list[Voice]:
    for axis in spec.axes:
        if axis not in AXES:
            problems.append(f"axis '{axis}' is not one of {', '.join(AXES)}{did_you_mean(axis, list(AXES))}")
    voices: list[Voice] = []
    for index, entry in enumerate(spec.voices):
        where = f"voices[{index}] '{entry.id}'"
        try:
            voice = _voice(spec, entry, path.parent)
        except BiasbenchError as exc:
            problems.append(f"{where}: {exc.one_line()}")
            continue
        missing = [axis for axis in spec.axes if axis in AXES and voice.label(axis) is None]
        if missing:
            problems.append(f"{where}: no label for {', '.join(missing)}")
        voices.append(voice)
    return voices


def _pool(spec: PoolSpec, path: Path, voices: list[Voice], problems: list[str]) -> VoicePool | None:
    try:
        return VoicePool(
            name=spec.name or path.stem,
            axes=tuple(spec.axes),
            voices=tuple(voices),
            min_per_cell=spec.min_per_cell,
            max_per_cell=spec.max_per_cell,
            allow_unbalanced=spec.allow_unbalanced,
            purpose=spec.purpose,
            description=" ".join(spec.description.split()),
            source=str(path),
            provenance=spec.provenance,
        )
    except BiasbenchError as exc:
        problems.append(exc.one_line())
        return None


def _voice(spec: PoolSpec, entry: VoiceSpec, folder: Path) -> Voice:
    engine = entry.engine or spec.engine
    if not engine:
        raise ConfigError("no engine (set 'engine' on the voice or at the top of the spec)")
    default_source = entry.label_source or spec.label_source
    labels = []
    for axis, label in entry.labels.items():
        value, source = (label, None) if isinstance(label, str) else (label.value, label.source)
        source = source or default_source
        if source is None:
            raise ConfigError(f"label '{axis}' has no source (one of {', '.join(LABEL_SOURCES)}); set 'label_source'")
        labels.append(DemographicLabel(axis, value, source))
    reference = None
    if entry.reference is not None:
        clip = Path(entry.reference.path).expanduser()
        reference = ReferenceClip(str(clip if clip.is_absolute() else folder / clip), entry.reference.transcript)
    return Voice(
        id=entry.id,
        engine=engine,
        labels=tuple(labels),
        preset=entry.preset,
        reference=reference,
        split=entry.split,
        corpus=entry.corpus or spec.corpus,
        license=entry.license or spec.license,
        tts_params=entry.tts_params,
    )


def pool_problems(pool: VoicePool, *, values: dict[str, list[str]] | None = None, check_files: bool = True) -> list[str]:
    """Every problem of a built pool: engines, voices the engine cannot speak, reference clips, balance."""
    return [*voice_problems(pool.voices, check_files=check_files), *_missing_values(pool, values or {}), *pool.balance_problems()]


def voice_problems(voices: Sequence[Voice], *, check_files: bool = True) -> list[str]:
    """Unknown engines, voices their engine cannot speak, unreadable reference clips."""
    from biasbench.core import registry

    problems: list[str] = []
    backends: dict[str, Any] = {}
    for engine in sorted({voice.engine for voice in voices}):
        try:
            backends[engine] = registry.tts_backends.get(engine).from_params(None, f"tts.{engine}")
        except BiasbenchError as exc:
            problems.append(exc.one_line())
    for voice in voices:
        backend = backends.get(voice.engine)
        if backend is not None:
            try:
                backend.check_voice(voice)
            except BiasbenchError as exc:
                problems.append(exc.one_line())
        if check_files and voice.reference is not None:
            problems.extend(reference_problems(voice))
    return problems


MIN_REFERENCE_S = 1.0
"""Shortest usable reference clip: cloning engines need at least a second of speech to copy a voice."""
SILENCE_PEAK = 10 ** (-60 / 20)
"""A reference clip whose peak stays below -60 dBFS is silent (nothing to clone)."""


def reference_problems(voice: Voice) -> list[str]:
    """Why the voice's reference clip cannot be used ([] when it is readable, long enough and not silent)."""
    import numpy as np

    from biasbench.core.audio import read_audio

    assert voice.reference is not None
    where = f"voice '{voice.id}' reference clip"
    try:
        audio, _ = read_audio(voice.reference.path)
    except BiasbenchError as exc:
        return [f"{where}: {exc.one_line()}"]
    problems = []
    if audio.duration_s < MIN_REFERENCE_S:
        problems.append(f"{where}: {audio.duration_s:.2f} s is too short to clone a voice (needs >= {MIN_REFERENCE_S:g} s): {voice.reference.path}")
    if float(np.max(np.abs(audio.samples))) < SILENCE_PEAK:
        problems.append(f"{where}: silent (peak below -60 dBFS): {voice.reference.path}")
    return problems


def backend_problems(voices: Sequence[Voice], tts_params: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Engines the voices need that cannot run on this machine (a package or interpreter missing),
    with the run's per-engine parameters: what synthesis would hit first, found without loading anything."""
    from biasbench.core import registry

    problems: list[str] = []
    for engine in sorted({voice.engine for voice in voices}):
        try:
            backend = registry.tts_backends.get(engine).from_params((tts_params or {}).get(engine), f"tts.{engine}")
            backend.check_available()
        except BiasbenchError as exc:
            problems.append(f"tts backend '{engine}': {exc.one_line()}")
    return problems


def _missing_values(pool: VoicePool, values: dict[str, list[str]]) -> list[str]:
    problems = []
    for axis in values:
        if axis not in pool.axes:
            problems.append(f"'values' names axis '{axis}', which is not among the pool's axes ({', '.join(pool.axes)})")
    if problems or not values:
        return problems
    expected = [values.get(axis) or sorted({v.label(axis) or "" for v in pool.voices}) for axis in pool.axes]
    cells = pool.cells()
    observed = set(itertools.product(*[sorted({cell[i] for cell in cells}) for i in range(len(pool.axes))]))
    for cell in itertools.product(*expected):
        if cell not in cells and cell not in observed:  # the rest are reported by balance_problems()
            problems.append(f"cell {' × '.join(cell)} declared by 'values' has no voices")
    for cell in cells:
        if cell not in set(itertools.product(*expected)):
            problems.append(f"cell {' × '.join(cell)} is not among the declared 'values'")
    return problems


def available_pools() -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped pool spec."""
    rows = []
    for name, path in shipped_specs(KIND).items():
        try:
            description = str(read_yaml(path, "pool spec").get("description", ""))
        except BiasbenchError as exc:
            description = f"(unreadable: {exc.one_line()})"
        first = " ".join(description.split())
        rows.append((name, first if len(first) <= 100 else first[:97] + "..."))
    return rows


def voice_from_json(data: dict[str, Any]) -> Voice:
    """The inverse of :meth:`Voice.to_json` (worker processes, run manifests)."""
    reference = data.get("reference")
    return Voice(
        id=data["id"],
        engine=data["engine"],
        labels=tuple(DemographicLabel(axis, label["value"], label["source"]) for axis, label in data["labels"].items()),
        preset=data.get("preset"),
        reference=None if reference is None else ReferenceClip(reference["path"], reference.get("transcript", "")),
        split=data.get("split", "eval"),
        corpus=data.get("corpus", ""),
        license=data.get("license", ""),
        tts_params=data.get("tts_params") or {},
    )


def pool_from_json(data: dict[str, Any]) -> VoicePool:
    """The inverse of :meth:`VoicePool.to_json` (e.g. the pool recorded in a run's manifest)."""
    try:
        return VoicePool(
            name=data["name"],
            axes=tuple(data["axes"]),
            voices=tuple(voice_from_json(voice) for voice in data["voices"]),
            min_per_cell=data.get("min_per_cell", 3),
            max_per_cell=data.get("max_per_cell", 5),
            allow_unbalanced=data.get("allow_unbalanced", False),
            purpose=data.get("purpose", "research"),
            description=data.get("description", ""),
            source=data.get("source", ""),
            provenance=data.get("provenance") or {},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"recorded pool is malformed ({type(exc).__name__}: {exc})") from None
