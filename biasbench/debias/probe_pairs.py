"""Preference pairs from the benchmark's bias probes, spoken by the pool's train voices, balanced over cells.

* BBQ ambiguous: chosen = the "cannot be determined" option with a short justification, rejected = the
  stereotyped target option;
* BBQ disambiguated: chosen = the correct option, rejected = the other person;
* voice_only_ambiguous: chosen = "can't tell" with a justification, rejected = the option stereotypically
  associated with the *speaker's* group.

A seeded split by item id holds ``eval_fraction`` of every task's items out; BBQ categories listed in
``eval_categories`` are refused. What was trained on is recorded in the summary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from, stable_hash
from biasbench.core.item import Item
from biasbench.core.voice import Voice, VoicePool
from biasbench.debias.balance import balanced_assignments
from biasbench.debias.instructions import Instruction
from biasbench.debias.preferences import (
    PREFERENCES_VERSION, PreferenceDataSummary, PreferenceRow, answer_text, read_preference_summary, save_preferences,
)
from biasbench.debias.train_config import DataConfig, DataSource, ProbeSource

PROBE_KINDS = ("bbq", "voice_only_ambiguous")
"""Task kinds with a known unbiased answer."""
AMBIGUOUS_JUSTIFICATION = "The context does not say which person it is, so it cannot be determined."
VOICE_JUSTIFICATION = "Nothing in the question tells me this, and a voice does not."


@dataclass(frozen=True)
class ProbeItem:
    """One probe item in the option order it is spoken in."""

    task: Any
    """The loaded task."""
    item: Item
    """The item."""
    rotation: int
    """Option order (seeded per item; every voice hears the same order)."""
    source: str
    """'bbq_ambig', 'bbq_disambig' or 'voice_only_ambiguous'."""
    chosen: int
    """Preferred option (original index)."""
    rejected: int | None
    """Dispreferred option (original index); None = chosen per voice (voice-only associations)."""


def in_eval_split(task: str, item_id: str, fraction: float, seed: int) -> bool:
    """The seeded, order-free item split: True when the item is held out for evaluation."""
    return fraction > 0 and (seed_from("debias-item-split", seed, task, item_id) % 10_000) < fraction * 10_000


def probe_item(task: Any, item: Item, seed: int) -> ProbeItem | str:
    """The pair of ``item``, or the reason it has none."""
    rotation = random.Random(seed_from("debias-probe-rotation", seed, task.name, item.id)).randrange(task.config.rotations)
    meta = item.metadata
    if task.kind == "bbq":
        unknown, stereotyped = meta["unknown_index"], meta["target_index"]
        if meta["condition"] == "ambig":
            if stereotyped is None:
                return "no single stereotyped option to reject"
            return ProbeItem(task, item, rotation, "bbq_ambig", unknown, stereotyped)
        others = [i for i in range(len(item.choices)) if i not in (unknown, item.target)]
        rejected = stereotyped if stereotyped not in (None, item.target, unknown) else (others[0] if others else None)
        if rejected is None:
            return "no wrong person option to reject"
        return ProbeItem(task, item, rotation, "bbq_disambig", int(item.target), rejected)
    return ProbeItem(task, item, rotation, "voice_only_ambiguous", int(item.target), None)


def voice_rejected(item: Item, voice: Voice) -> int:
    """The option a stereotype would pick for this speaker (its association matches the voice's labels);
    the first associated option when none matches."""
    associations = item.metadata["associations"]
    matching = [int(k) for k, assoc in associations.items() if assoc and all(voice.label(a) == v for a, v in assoc.items())]
    return min(matching) if matching else min(int(k) for k in associations)


def build_probe_preferences(
    source: DataSource, pool: VoicePool, out_dir: Path, *, data: DataConfig, tts: dict[str, dict[str, Any]] | None,
    cache_root: Path, seed: int = 0, base_dir: Path | None = None, echo: Callable[[str], None] = print,
) -> PreferenceDataSummary:
    """Build (or reuse) the probe preference dataset of ``source`` in ``out_dir``."""
    from biasbench.tasks.loading import load_task

    probes: ProbeSource = source.probes  # type: ignore[assignment]
    voices = pool.split("train")
    if not voices:
        raise ConfigError(f"pool '{pool.name}' has no train voices; mark some voices 'split: train'")
    fingerprint = stable_hash(
        PREFERENCES_VERSION, source.model_dump(mode="json"), [v.to_json() for v in voices], pool.axes,
        data.voices_per_instruction, tts or {}, seed,
    )
    existing = read_preference_summary(out_dir)
    if existing is not None and existing.fingerprint == fingerprint:
        echo(f"preference data '{source.name}': reusing {existing.rows} rows in {existing.path}")
        return existing
    candidates: list[ProbeItem] = []
    excluded = 0
    eval_items: dict[str, list[str]] = {}
    categories: dict[str, list[str]] = {}
    for ref in probes.tasks:
        task = load_task(ref.name, ref.params, base_dir)
        if task.kind not in PROBE_KINDS:
            raise ConfigError(f"probe task '{task.name}' is of kind '{task.kind}'; preference probes need one of {', '.join(PROBE_KINDS)}")
        if task.kind == "bbq":
            clash = sorted({task.item_group(i) for i in task.items()} & set(probes.eval_categories))
            if clash:
                raise ConfigError(f"probe task '{task.name}' trains on BBQ categories reserved for evaluation: {', '.join(clash)}")
        for item in task.items():
            if in_eval_split(task.name, item.id, probes.eval_fraction, probes.seed):
                eval_items.setdefault(task.name, []).append(item.id)
                excluded += 1
                continue
            made = probe_item(task, item, probes.seed)
            if isinstance(made, str):
                excluded += 1
                continue
            candidates.append(made)
    by_id = {f"{c.task.name}/{c.item.id}": c for c in candidates}
    units = interleaved([Instruction(key, c.task.render(c.item, "audio", c.rotation).spoken_text or "", "", "-", c.task.name)
                         for key, c in by_id.items()], seed_from("debias-probe-order", seed, source.name))
    assignments, dropped = balanced_assignments(units, pool, voices, voices_per_instruction=data.voices_per_instruction, seed=seed)
    excluded += len(dropped)
    if not assignments:
        raise ConfigError(f"preference data '{source.name}': no probe item is left (all held out or excluded)")
    clips = _synthesize([(a.voice, a.instruction.instruction) for a in assignments], tts or {}, cache_root, data.tts_workers, seed)
    rows = []
    for assignment in assignments:
        probe, voice = by_id[assignment.instruction.id], assignment.voice
        item, task = probe.item, probe.task
        rendered = task.render(item, "audio", probe.rotation)
        rejected = probe.rejected if probe.rejected is not None else voice_rejected(item, voice)
        justification = AMBIGUOUS_JUSTIFICATION if probe.source == "bbq_ambig" else VOICE_JUSTIFICATION if probe.source == "voice_only_ambiguous" else ""
        clip = clips[(voice.id, rendered.spoken_text)]
        rows.append(PreferenceRow(
            instruction_id=assignment.instruction.id, task=task.name, item_id=item.id, category=task.item_group(item),
            source=probe.source, clip_path=str(clip.path), audio_sha256=clip.sha256, duration_s=float(clip.duration_s),
            spoken_text=rendered.spoken_text or "", prompt=rendered.text,
            chosen=answer_text(item.choices, probe.chosen, probe.rotation, justification),
            rejected=answer_text(item.choices, rejected, probe.rotation), rotation=probe.rotation, voice=voice,
            cell=assignment.cell, license=task.config.license,
        ))
        if task.kind == "bbq":
            categories.setdefault(task.name, []).append(task.item_group(item))
    summary = save_preferences(rows, out_dir, name=source.name, fingerprint=fingerprint, excluded=excluded,
                               train_categories=categories, eval_items=eval_items)
    echo(f"preference data '{source.name}': {summary.rows} rows, {summary.instructions} items, {summary.excluded} left out "
         f"(held out for evaluation: {sum(len(v) for v in eval_items.values())})")
    return summary


def interleaved(units: Sequence[Instruction], seed: int) -> list[Instruction]:
    """Each task's units in a seeded order, the tasks taking turns, so the few units the cell balance
    leaves out at the end never remove a whole task (or BBQ condition) from the data."""
    by_task: dict[str, list[Instruction]] = {}
    for unit in units:
        by_task.setdefault(unit.dataset, []).append(unit)
    queues = []
    for task, members in sorted(by_task.items()):
        order = list(members)
        random.Random(seed_from(seed, task)).shuffle(order)
        queues.append(order)
    result = []
    for position in range(max((len(q) for q in queues), default=0)):
        result.extend(q[position] for q in queues if position < len(q))
    return result


def _synthesize(pairs: Sequence[tuple[Voice, str]], tts: dict[str, dict[str, Any]], cache_root: Path, workers: int | None, seed: int) -> dict[tuple[str, str], Any]:
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import synthesize

    only = {(voice.id, text) for voice, text in pairs}
    voices = list({voice.id: voice for voice, _ in pairs}.values())
    texts = sorted({text for _, text in pairs})
    result = synthesize(sorted(voices, key=lambda v: v.id), texts, AudioCache(cache_root), tts_params=tts, workers=workers, seed=seed, only=only)
    return dict(result.clips)
