"""Spoken instruction data: Alpaca-format instructions spoken by a pool's *train* voices, balanced over
cells, stored as a Hugging Face dataset on disk (audio + text + voice metadata)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from biasbench.core.deps import require
from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from, stable_hash
from biasbench.core.item import Exclusion
from biasbench.core.voice import AXES, VoicePool
from biasbench.debias.balance import Assignment, balanced_assignments
from biasbench.debias.hf_audio import audio_feature, embedded_clip
from biasbench.debias.instructions import Instruction, read_alpaca
from biasbench.debias.train_config import DataConfig, DataSource, SpeakabilityConfig
from biasbench.tasks.speakable import estimated_seconds, speakability_problems, spoken_form

DATASET_DIR = "dataset"
SUMMARY_FILE = "summary.json"
EXCLUSIONS_FILE = "exclusions.csv"
DATA_VERSION = "1"
"""Bumped whenever the rendering of spoken examples changes."""


@dataclass(frozen=True)
class SpokenDataSummary:
    """What one spoken dataset holds and why instructions were left out."""

    name: str
    """Dataset name from the config."""
    path: str
    """Folder of the `datasets` dataset (``load_from_disk``)."""
    fingerprint: str
    """Hash of everything that determines the rows (source, voices, data settings, seed, TTS)."""
    rows: int
    """Spoken examples (instructions × voices per instruction)."""
    instructions: int
    """Distinct instructions kept."""
    excluded: int
    """Instructions left out (reasons in exclusions.csv)."""
    rows_per_cell: dict[str, int] = field(default_factory=dict)
    """Rows by cell (equal by construction)."""
    voices: tuple[str, ...] = ()
    """Voice ids that speak (the pool's train split)."""
    license: str = ""
    """License of the source data."""


def build_spoken_dataset(
    source: DataSource,
    pool: VoicePool,
    out_dir: Path,
    *,
    data: DataConfig,
    tts: dict[str, dict[str, Any]] | None = None,
    cache_root: Path,
    seed: int = 0,
    base_dir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> SpokenDataSummary:
    """Render ``source`` through the train voices of ``pool`` into ``out_dir`` (reused when unchanged)."""
    voices = pool.split("train")
    if not voices:
        raise ConfigError(f"pool '{pool.name}' has no train voices; mark some voices 'split: train'")
    fingerprint = stable_hash(
        DATA_VERSION, source.model_dump(mode="json"), [v.to_json() for v in voices], pool.axes,
        data.model_dump(mode="json"), tts or {}, seed,
    )
    existing = read_summary(out_dir)
    if existing is not None and existing.fingerprint == fingerprint:
        echo(f"spoken data '{source.name}': reusing {existing.rows} rows in {existing.path}")
        return existing

    instructions, exclusions = read_alpaca(source.source, dataset=source.name, license=source.license, split=source.split, base_dir=base_dir)
    speakable = []
    for item in instructions:
        problems = screen(item, data.speakability)
        if problems:
            exclusions.append(Exclusion(source.name, item.id, "; ".join(problems)))
        else:
            speakable.append(item)
    random.Random(seed_from("debias-sample", source.name, seed)).shuffle(speakable)
    if source.limit is not None:
        exclusions.extend(Exclusion(source.name, i.id, f"beyond limit={source.limit} (seeded sample)") for i in speakable[source.limit :])
        speakable = speakable[: source.limit]
    assignments, dropped = balanced_assignments(
        speakable, pool, voices, voices_per_instruction=data.voices_per_instruction, seed=seed
    )
    exclusions.extend(dropped)
    if not assignments:
        raise ConfigError(
            f"dataset '{source.name}': no instruction is left to speak ({len(exclusions)} excluded; see {out_dir / EXCLUSIONS_FILE})"
        )
    clips = _synthesize(assignments, pool, tts or {}, cache_root, data.tts_workers, seed)
    _write_exclusions(out_dir, exclusions)
    summary = _save(source, pool, assignments, clips, out_dir, data.prompt, fingerprint, len(exclusions))
    echo(f"spoken data '{source.name}': {summary.rows} rows, {summary.instructions} instructions, {summary.excluded} excluded")
    return summary


def screen(item: Instruction, rules: SpeakabilityConfig) -> list[str]:
    """Why ``item`` cannot be spoken (empty when it can): the task layer's speakability rules plus length."""
    problems = speakability_problems(item.request_text)
    seconds = estimated_seconds(spoken_form(item.request_text), rules.words_per_second)
    if seconds > rules.max_audio_seconds:
        problems.append(f"estimated {seconds:.1f} s of speech > max_audio_seconds={rules.max_audio_seconds:g}")
    return problems


def _synthesize(
    assignments: Sequence[Assignment], pool: VoicePool, tts: dict[str, dict[str, Any]], cache_root: Path, workers: int | None, seed: int
) -> dict[tuple[str, str], Any]:
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import synthesize

    pairs = {(a.voice.id, spoken_form(a.instruction.request_text)) for a in assignments}
    voices = [pool.voice(voice_id) for voice_id in sorted({voice_id for voice_id, _ in pairs})]
    texts = sorted({text for _, text in pairs})
    result = synthesize(voices, texts, AudioCache(cache_root), tts_params=tts, workers=workers, seed=seed, only=pairs)
    return dict(result.clips)


def _save(
    source: DataSource, pool: VoicePool, assignments: Sequence[Assignment], clips: dict[tuple[str, str], Any],
    out_dir: Path, prompt: str, fingerprint: str, excluded: int,
) -> SpokenDataSummary:
    datasets = require("datasets", "finetune", purpose="writing spoken datasets")
    rows: dict[str, list[Any]] = defaultdict(list)
    for assignment in assignments:
        item, voice = assignment.instruction, assignment.voice
        spoken = spoken_form(item.request_text)
        clip = clips[(voice.id, spoken)]
        row_id = f"{item.id}@{voice.id}"
        values = {
            "id": row_id, "instruction_id": item.id, "dataset": item.dataset,
            "audio": embedded_clip(clip.path, f"{clip.sha256}{Path(clip.path).suffix}"), "audio_sha256": clip.sha256,
            "duration_s": float(clip.duration_s), "spoken_text": spoken, "instruction": item.request_text, "prompt": prompt,
            "target": item.output, "voice_id": voice.id, "engine": voice.engine, "cell": assignment.cell,
            "license": item.license,
        }
        values.update({axis: voice.label(axis) or "" for axis in AXES})
        for key, value in values.items():
            rows[key].append(value)
    dataset = datasets.Dataset.from_dict(dict(rows)).cast_column("audio", audio_feature())
    dataset_dir = out_dir / DATASET_DIR
    dataset.save_to_disk(str(dataset_dir))
    cells = pd.Series(rows["cell"]).value_counts().sort_index()
    summary = SpokenDataSummary(
        name=source.name, path=str(dataset_dir), fingerprint=fingerprint, rows=len(assignments),
        instructions=len({a.instruction.id for a in assignments}), excluded=excluded,
        rows_per_cell={str(k): int(v) for k, v in cells.items()},
        voices=tuple(sorted({a.voice.id for a in assignments})), license=source.license,
    )
    (out_dir / SUMMARY_FILE).write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
    return summary


def _write_exclusions(out_dir: Path, exclusions: Sequence[Exclusion]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([{"dataset": e.task, "item_id": e.item_id, "reason": e.reason} for e in exclusions], columns=["dataset", "item_id", "reason"])
    table.to_csv(out_dir / EXCLUSIONS_FILE, index=False)


def read_summary(out_dir: Path) -> SpokenDataSummary | None:
    """The summary of a spoken dataset built earlier in ``out_dir`` (None when absent)."""
    path = out_dir / SUMMARY_FILE
    if not path.is_file() or not (out_dir / DATASET_DIR).is_dir():
        return None
    values = json.loads(path.read_text(encoding="utf-8"))
    values["voices"] = tuple(values.get("voices", ()))
    return SpokenDataSummary(**values)


def load_spoken_dataset(summary: SpokenDataSummary) -> Any:
    """The saved dataset with its audio column undecoded (bytes; decode with ``hf_audio.decode_clip``)."""
    datasets = require("datasets", "finetune", purpose="reading spoken datasets")
    from biasbench.debias.hf_audio import undecoded

    return undecoded(datasets.load_from_disk(summary.path))
