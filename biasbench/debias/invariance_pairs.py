"""`biasbench debias pairs RUN_DIR --out DATASET`: voice-invariance preference pairs from a finished run.

An item qualifies when its audio answers differ across voices and some voice's answer differs from the
model's own text-control answer. Each qualifying item gives one pair per voice cell (a voice of that cell
that heard it, seeded), so every cell is equally represented: prompt = the item in that voice, chosen = the
correct option (the text-control answer when the item has no ground truth), rejected = the most common
voice-dependent answer (an audio answer different from the chosen one).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Callable

import pandas as pd

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import seed_from, stable_hash
from biasbench.debias.preferences import PREFERENCES_VERSION, PreferenceDataSummary, PreferenceRow, answer_text, save_preferences
from biasbench.tasks.parsers import LETTERS

VALID = ("correct", "incorrect")
"""Outcomes that carry a parsed answer."""


def _modal(values: pd.Series) -> str:
    counts = Counter(str(v) for v in values if str(v))
    if not counts:
        return ""
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def voice_dependent_items(results: pd.DataFrame) -> pd.DataFrame:
    """Per task × item of one model: text-control answer, distinct audio answers, chosen and rejected
    (original letters), for items whose audio answers differ across voices and from the text answer."""
    valid = results[results["outcome"].isin(VALID) & (results["parsed"].astype(str) != "")]
    audio, text = valid[valid["modality"] == "audio"], valid[valid["modality"] == "text"]
    text_answer = text.groupby(["task", "item_id"])["parsed"].agg(_modal)
    records = []
    for (task, item_id), rows in audio.groupby(["task", "item_id"], sort=True):
        answers = set(rows["parsed"].astype(str))
        reference = str(text_answer.get((task, item_id), ""))
        if len(answers) < 2 or not reference or answers == {reference}:
            continue
        target = str(rows["target"].iloc[0])
        chosen = target or reference
        deviant = rows.loc[rows["parsed"].astype(str) != chosen, "parsed"]
        if deviant.empty:
            continue
        records.append({"task": task, "item_id": item_id, "text_answer": reference, "chosen": chosen,
                        "rejected": _modal(deviant), "answers": ",".join(sorted(answers))})
    return pd.DataFrame(records, columns=["task", "item_id", "text_answer", "chosen", "rejected", "answers"])


def build_invariance_pairs(
    run_dir: Path, out_dir: Path, *, model: str | None = None, seed: int = 0, base_dir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> PreferenceDataSummary:
    """Write the voice-invariance pairs of ``run_dir`` (one model) to ``out_dir``."""
    from biasbench.runner.clips import open_finished_run, synthesize_plan
    from biasbench.runner.results import RESULTS_PARQUET

    run_dir = Path(run_dir)
    run = open_finished_run(run_dir, base_dir)
    path = run_dir / RESULTS_PARQUET
    if not path.is_file():
        raise DataError(f"run {run_dir} has no result table ({RESULTS_PARQUET}); finish it with `biasbench run` first")
    results = pd.read_parquet(path)
    models = sorted(set(results["model"]))
    if model is None:
        if len(models) != 1:
            raise ConfigError(f"run {run_dir} has models {', '.join(models)}: choose one with --model")
        model = models[0]
    if model not in models:
        raise ConfigError(f"model '{model}' is not in run {run_dir} (models: {', '.join(models)})")
    results = results[results["model"] == model]
    items = voice_dependent_items(results)
    if items.empty:
        raise DataError(f"run {run_dir}: no item's answers differ across voices for model '{model}'; no pairs to build")
    planned = {(r.task, r.item.id, r.voice.id): r for r in run.plan.rows
               if r.model == model and r.modality == "audio" and r.voice is not None and r.repeat == 0}
    tasks = {task.name: task for task in run.plan.tasks}
    cells = sorted({"|".join(v.cell(run.plan.pool.axes)) for v in run.plan.voices})
    audio = results[results["modality"] == "audio"]
    heard = audio.groupby(["task", "item_id"])["voice_id"].agg(lambda v: sorted(set(v)))
    voices = {v.id: v for v in run.plan.voices}
    chosen_rows = []
    skipped = 0
    for record in items.itertuples(index=False):
        by_cell: dict[str, list[str]] = {}
        for voice_id in heard.get((record.task, record.item_id), []):
            if (record.task, record.item_id, voice_id) in planned:
                by_cell.setdefault("|".join(voices[voice_id].cell(run.plan.pool.axes)), []).append(voice_id)
        if set(by_cell) != set(cells):
            skipped += 1
            continue
        for cell in cells:
            voice_id = random.Random(seed_from("debias-pairs", seed, record.task, record.item_id, cell)).choice(by_cell[cell])
            chosen_rows.append((record, planned[(record.task, record.item_id, voice_id)], cell))
    if not chosen_rows:
        raise DataError(f"run {run_dir}: no voice-dependent item was heard by a voice of every cell; no balanced pairs")
    clips = dict(synthesize_plan(run.config, run.plan, run_dir).clips)
    rows = []
    for record, planned_row, cell in chosen_rows:
        item, task = planned_row.item, tasks[planned_row.task]
        clip = clips[(planned_row.voice.id, planned_row.spoken_text)]
        rows.append(PreferenceRow(
            instruction_id=f"{record.task}/{record.item_id}", task=record.task, item_id=record.item_id,
            category=task.item_group(item), source="voice_invariance", clip_path=str(clip.path), audio_sha256=clip.sha256,
            duration_s=float(clip.duration_s), spoken_text=planned_row.spoken_text, prompt=planned_row.prompt.text,
            chosen=answer_text(item.choices, LETTERS.index(record.chosen), planned_row.rotation),
            rejected=answer_text(item.choices, LETTERS.index(record.rejected), planned_row.rotation),
            rotation=planned_row.rotation, voice=planned_row.voice, cell=cell, license=task.config.license,
        ))
    categories = {t: [r.category for r in rows if r.task == t] for t in {r.task for r in rows} if tasks[t].kind == "bbq"}
    fingerprint = stable_hash(PREFERENCES_VERSION, "voice_invariance", run.manifest.run_id, model, seed, len(rows))
    summary = save_preferences(rows, Path(out_dir), name=Path(out_dir).name, fingerprint=fingerprint, excluded=skipped,
                               train_categories=categories)
    echo(f"voice-invariance pairs: {summary.rows} rows from {summary.instructions} voice-dependent items of model '{model}' "
         f"({len(cells)} cells x {summary.instructions}); {skipped} items not heard in every cell left out; saved to {out_dir}")
    return summary
