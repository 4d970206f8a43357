"""Preference datasets (prompt audio + text, chosen, rejected) on disk, with the train split they record.

Two builders write this format: :mod:`biasbench.debias.probe_pairs` (bias probes with a known unbiased
answer) and :mod:`biasbench.debias.invariance_pairs` (``debias pairs RUN_DIR``: voice-dependent answers of a
finished run). The summary records every item and BBQ category trained on so `debias run` can refuse to
evaluate on them, as it refuses training voices.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from biasbench.core.deps import require
from biasbench.core.errors import DataError
from biasbench.core.voice import AXES
from biasbench.debias.hf_audio import audio_feature, embedded_clip
from biasbench.tasks.parsers import LETTERS

DATASET_DIR = "dataset"
SUMMARY_FILE = "preferences.json"
PREFERENCES_VERSION = "1"
"""Bumped whenever the rendering of preference rows changes."""


@dataclass(frozen=True)
class PreferenceRow:
    """One spoken prompt with a preferred and a dispreferred answer."""

    instruction_id: str
    """'<task>/<item id>': rows of one item share it (they stay in one micro-batch)."""
    task: str
    """Task the item comes from."""
    item_id: str
    """Item id within the task."""
    category: str
    """Item group (BBQ category, voice-only domain, MMLU subject)."""
    source: str
    """'bbq_ambig', 'bbq_disambig', 'voice_only_ambiguous' or 'voice_invariance'."""
    clip_path: str
    """The spoken prompt's WAV file (embedded into the dataset)."""
    audio_sha256: str
    """Content hash of the clip."""
    duration_s: float
    """Clip length."""
    spoken_text: str
    """What the voice says."""
    prompt: str
    """Text sent beside the audio (the task's instruction)."""
    chosen: str
    """The preferred answer (unbiased / voice-invariant)."""
    rejected: str
    """The dispreferred answer (stereotyped / voice-dependent)."""
    rotation: int
    """Option order the clip presents."""
    voice: Any
    """The speaking :class:`~biasbench.core.voice.Voice`."""
    cell: str
    """The voice's cell, joined with '|'."""
    license: str = ""
    """License of the item's source."""


@dataclass(frozen=True)
class PreferenceDataSummary:
    """What one preference dataset holds and which items and categories it trains on."""

    name: str
    """Dataset name (config entry or --out folder name)."""
    path: str
    """Folder of the `datasets` dataset (``load_from_disk``)."""
    fingerprint: str
    """Hash of everything that determines the rows."""
    rows: int
    """Preference rows (items × voices)."""
    instructions: int
    """Distinct items."""
    excluded: int
    """Items left out (held out for evaluation, no usable rejected answer, balance)."""
    rows_per_cell: dict[str, int] = field(default_factory=dict)
    """Rows by voice cell (equal by construction)."""
    voices: tuple[str, ...] = ()
    """Voice ids that speak."""
    sources: dict[str, int] = field(default_factory=dict)
    """Rows by source ('bbq_ambig', 'voice_invariance', ...)."""
    train_items: dict[str, list[str]] = field(default_factory=dict)
    """Task name -> item ids trained on (evaluation on them is refused)."""
    train_categories: dict[str, list[str]] = field(default_factory=dict)
    """BBQ task name -> categories trained on (evaluation on them is refused)."""
    eval_items: dict[str, list[str]] = field(default_factory=dict)
    """Task name -> item ids held out for evaluation by the split."""
    license: str = ""
    """License(s) of the source items."""


def answer_text(choices: Sequence[str], original_index: int, rotation: int, justification: str = "") -> str:
    """'<presented letter>. <option text>' (plus a short justification) for an option in the original order."""
    from biasbench.tasks.base import to_presented_index

    letter = LETTERS[to_presented_index(original_index, rotation, len(choices))]
    text = f"{letter}. {str(choices[original_index]).rstrip('.')}."
    return f"{text} {justification}".strip()


def save_preferences(
    rows: Sequence[PreferenceRow], out_dir: Path, *, name: str, fingerprint: str, excluded: int,
    train_categories: dict[str, list[str]], eval_items: dict[str, list[str]] | None = None,
) -> PreferenceDataSummary:
    """Write ``rows`` as a `datasets` dataset in ``out_dir/dataset`` plus the summary; returns the summary."""
    datasets = require("datasets", "finetune", purpose="writing preference datasets")
    if not rows:
        raise DataError(f"preference dataset '{name}' has no rows")
    columns: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        values = {
            "id": f"{row.instruction_id}@{row.voice.id}", "instruction_id": row.instruction_id, "task": row.task,
            "item_id": row.item_id, "category": row.category, "source": row.source,
            "audio": embedded_clip(row.clip_path, f"{row.audio_sha256}{Path(row.clip_path).suffix}"), "audio_sha256": row.audio_sha256,
            "duration_s": float(row.duration_s), "spoken_text": row.spoken_text, "prompt": row.prompt,
            "chosen": row.chosen, "rejected": row.rejected, "permutation": row.rotation, "voice_id": row.voice.id,
            "engine": row.voice.engine, "cell": row.cell, "license": row.license,
        }
        values.update({axis: row.voice.label(axis) or "" for axis in AXES})
        for key, value in values.items():
            columns[key].append(value)
    out_dir = Path(out_dir)
    dataset = datasets.Dataset.from_dict(dict(columns)).cast_column("audio", audio_feature())
    dataset.save_to_disk(str(out_dir / DATASET_DIR))
    items: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        items[row.task].add(row.item_id)
    summary = PreferenceDataSummary(
        name=name, path=str(out_dir / DATASET_DIR), fingerprint=fingerprint, rows=len(rows),
        instructions=len({row.instruction_id for row in rows}), excluded=excluded,
        rows_per_cell=dict(sorted(Counter(row.cell for row in rows).items())),
        voices=tuple(sorted({row.voice.id for row in rows})), sources=dict(sorted(Counter(row.source for row in rows).items())),
        train_items={task: sorted(ids) for task, ids in sorted(items.items())},
        train_categories={task: sorted(set(cats)) for task, cats in sorted(train_categories.items()) if cats},
        eval_items={task: sorted(ids) for task, ids in sorted((eval_items or {}).items()) if ids},
        license="; ".join(sorted({row.license for row in rows if row.license})),
    )
    (out_dir / SUMMARY_FILE).write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
    return summary


def read_preference_summary(out_dir: Path) -> PreferenceDataSummary | None:
    """The summary of a preference dataset in ``out_dir`` (None when absent)."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.is_file() or not (Path(out_dir) / DATASET_DIR).is_dir():
        return None
    values = json.loads(path.read_text(encoding="utf-8"))
    values["voices"] = tuple(values.get("voices", ()))
    values["path"] = str(Path(out_dir) / DATASET_DIR)
    return PreferenceDataSummary(**values)


def require_preference_summary(folder: Path) -> PreferenceDataSummary:
    """The summary of a `debias pairs` folder, or a one-line :class:`DataError`."""
    summary = read_preference_summary(folder)
    if summary is None:
        raise DataError(f"{folder} is not a preference dataset ({SUMMARY_FILE} or {DATASET_DIR}/ missing)",
                        hint="build it with `biasbench debias pairs RUN_DIR --out FOLDER`")
    return summary
