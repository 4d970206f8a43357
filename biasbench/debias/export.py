"""`biasbench export DIR --out DATASET_DIR`: a run's synthesized items × voices as a Hugging Face dataset
(Audio feature + item + voice demographics + licenses) with a generated dataset card."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from biasbench.core.deps import require
from biasbench.core.errors import DataError
from biasbench.core.rundir import Manifest, RunDir
from biasbench.core.voice import AXES, VoicePool
from biasbench.debias.hf_audio import audio_feature, embedded_clip

CARD_FILE = "README.md"


@dataclass(frozen=True)
class ExportSummary:
    """What `biasbench export` wrote."""

    path: Path
    """Folder of the saved dataset (``datasets.load_from_disk``)."""
    rows: int
    """Clips exported (task × item × option order × voice)."""
    voices: int
    """Distinct voices."""
    tasks: tuple[str, ...]
    """Tasks exported."""
    synthesized: int
    """Clips that were not in the run's audio cache and had to be synthesized again (normally 0)."""


def export_run(run_dir: Path, out_dir: Path, *, base_dir: Path | None = None, echo: Callable[[str], None] = print) -> ExportSummary:
    """Export the audio rows of ``run_dir`` to ``out_dir`` (a `datasets` dataset + README.md card)."""
    from biasbench.runner.clips import is_spoken, open_finished_run, synthesize_plan

    datasets = require("datasets", "finetune", purpose="exporting a spoken dataset")
    run = open_finished_run(Path(run_dir), base_dir)
    run_dir, manifest, plan = run.run_dir, run.manifest, run.plan
    rows = {}
    for row in plan.rows:
        if is_spoken(row):
            rows.setdefault((row.task, row.item.id, row.rotation, row.voice.id), row)  # type: ignore[union-attr]
    result = synthesize_plan(run.config, plan, run_dir)
    if result is None:
        raise DataError(f"run {run_dir} has no audio rows to export")
    clips, synthesized = dict(result.clips), result.backend_calls
    task_of = {task.name: task for task in plan.tasks}
    records: dict[str, list[Any]] = defaultdict(list)
    for (task_name, item_id, rotation, voice_id), row in sorted(rows.items()):
        clip = clips[(voice_id, row.spoken_text)]
        voice, task = row.voice, task_of[task_name]
        values = {
            "audio": embedded_clip(clip.path, f"{clip.sha256}{Path(clip.path).suffix}"), "audio_sha256": clip.sha256,
            "duration_s": float(clip.duration_s), "task": task_name, "item_id": item_id,
            "item_group": task.item_group(row.item), "permutation": rotation, "spoken_text": row.spoken_text,
            "text_prompt": row.prompt.text, "choices": list(row.prompt.choices), "target": task.target_label(row.item),
            "voice_id": voice_id, "engine": voice.engine, "cell": "|".join(voice.cell(plan.pool.axes)),
            "label_source": ";".join(sorted({label.source for label in voice.labels})),
            "voice_corpus": voice.corpus, "voice_license": voice.license, "split": voice.split,
        }
        values.update({axis: voice.label(axis) or "" for axis in AXES})
        for key, value in values.items():
            records[key].append(value)
    dataset = datasets.Dataset.from_dict(dict(records)).cast_column("audio", audio_feature())
    out_dir = Path(out_dir)
    dataset.save_to_disk(str(out_dir))
    card = dataset_card(plan.pool, manifest, pd.DataFrame({k: v for k, v in records.items() if k != "audio"}), _audit_table(run_dir))
    (out_dir / CARD_FILE).write_text(card, encoding="utf-8")
    summary = ExportSummary(out_dir, len(dataset), len({voice_id for *_, voice_id in rows}), tuple(sorted(task_of)), synthesized)
    echo(f"exported {summary.rows} clips ({summary.voices} voices, tasks {', '.join(summary.tasks)}) to {out_dir}")
    return summary


def _audit_table(run_dir: Path) -> pd.DataFrame | None:
    """The voice audit's per-cell table when the run has one."""
    from biasbench.voices.audit import FILES

    path = RunDir(run_dir).audit_dir / FILES["cells"]
    return pd.read_csv(path) if path.is_file() else None


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    cells = [[str(value).replace("|", "/") for value in row] for row in frame.itertuples(index=False)]
    header = [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def dataset_card(pool: VoicePool, manifest: Manifest | Mapping[str, Any], rows: pd.DataFrame, audit: pd.DataFrame | None) -> str:
    """A Hugging Face dataset card: composition, TTS engines, audit summary, licenses, how it was made."""
    from biasbench.core.rundir import parse_manifest  # noqa: PLC0415

    manifest = manifest if isinstance(manifest, Manifest) else parse_manifest(manifest)
    axes = list(pool.axes)
    composition = rows.groupby("cell").agg(voices=("voice_id", "nunique"), clips=("voice_id", "size")).reset_index()
    voices = rows.drop_duplicates("voice_id")[["voice_id", "engine", *axes, "label_source", "voice_corpus", "voice_license", "split"]]
    engines = manifest.tts.get("backends", {}) if isinstance(manifest.tts.get("backends"), dict) else {}
    tasks = manifest.tasks
    demo = pool.purpose == "demonstration"
    lines = [
        "---",
        "license: other",
        "task_categories: [audio-classification, automatic-speech-recognition, question-answering]",
        "language: [en]",
        "tags: [speech, fairness, bias, synthetic-speech, biasbench]",
        "---",
        f"# {pool.name}: spoken items × voices (biasbench export)",
        "",
        "Every item below is spoken by every voice with identical words; only the voice varies. "
        "Audio is synthetic (zero-shot TTS), 16 kHz mono WAV. Demographic labels describe the *voice* "
        "and come with their source (`label_source`).",
    ]
    if demo:
        lines += ["", "**Demonstration pool**: its axes are not a race pool; do not read its groups as race."]
    lines += [
        "", "## Pool composition", "", f"Axes: {', '.join(axes)}. {pool.description}".strip(), "",
        _markdown(composition), "", "### Voices", "", _markdown(voices),
        "", "## TTS engines", "",
    ]
    lines += [f"- `{name}`: `{info}`" for name, info in sorted(engines.items())] or ["- " + ", ".join(sorted(set(rows["engine"])))]
    lines += ["", "## Voice audit", ""]
    lines += [_markdown(audit)] if audit is not None else ["No voice audit was run for this run (enable `audit` in the run config)."]
    lines += ["", "## Sources and licenses", "", "| task | items | source | license |", "|---|---|---|---|"]
    for task in tasks:
        config, described = task.config, task.model_dump()
        source = config.get("path") or config.get("hf_dataset") or described.get("kind", "")
        license = config.get("license") or described.get("license") or "see the task spec"
        count = int((rows["task"] == task.name).sum())
        lines.append(f"| {task.name} | {count} clips | {source} | {license} |")
    voice_licenses = sorted({v for v in rows["voice_license"] if v})
    lines += ["", f"Voice material licenses: {', '.join(voice_licenses) or 'not declared'}. "
              "The dataset's terms are the most restrictive of the item and voice licenses.",
              "", "## Columns", "",
              "`audio` (16 kHz), `task`, `item_id`, `item_group`, `permutation` (option rotation), `spoken_text`, "
              "`text_prompt` (text sent beside the audio), `choices` (presented order), `target` (original option space), "
              f"`voice_id`, `engine`, `cell`, {', '.join(f'`{a}`' for a in AXES)}, `label_source`, `voice_corpus`, "
              "`voice_license`, `split`.",
              "", "## Provenance", "",
              f"biasbench run `{manifest.run_id}`, git `{manifest.git_sha}`, seed {manifest.seed}.",
              "Load with `datasets.load_from_disk(PATH)`; publish with `Dataset.push_to_hub(REPO)`.", ""]
    return "\n".join(lines)
