"""The rows the viewer shows: the tidy table joined with what was spoken and the clip that said it.

results.parquet holds answers, parses and outcomes; the spoken text and the clip come from the run's
plan (rebuilt from its manifest) and its audio cache. Clips are looked up, never synthesized: a row
whose clip is gone shows no player and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.core.errors import BiasbenchError, DataError

ROW_FIELDS = (
    "model", "task", "item_id", "item_group", "voice_id", "cell", "gender", "race", "accent", "age_band",
    "modality", "permutation", "repeat", "response", "parsed", "target", "outcome", "score", "error", "transcript",
)
"""Columns of results.parquet the page shows (whatever of them the table has)."""

IDENTITY = ("model", "task", "item_id", "voice_id", "modality", "permutation", "repeat")
"""A row's identity in the tidy table, matching the plan's rows."""


def group_label(cell: str) -> str:
    """One label style everywhere: the cell 'female|en-029' reads 'female × en-029'."""
    return str(cell).replace("|", " × ")


@dataclass(frozen=True)
class ViewerData:
    """Everything the page needs, built once when the server starts."""

    run_dir: Path
    """The run directory."""
    rows: list[dict[str, Any]]
    """One JSON-ready record per result row, with ``row``, ``spoken_text``, ``group`` and ``clip`` (clip id or None)."""
    clips: dict[str, Path]
    """Clip id (the clip's sha256) -> file; the only files the server will send."""
    notes: list[str] = field(default_factory=list)
    """Why some text or audio is missing (shown at the top of the page)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Run name, pool, axes, counts."""


def load_viewer_data(run_dir: Path, base_dir: Path | None = None) -> ViewerData:
    """Read a finished (or partial) run for the viewer; a missing table is a one-line error."""
    run_dir = Path(run_dir)
    table_path = run_dir / "results.parquet"
    if not table_path.is_file():
        raise DataError(f"{run_dir} has no results.parquet: not a biasbench run directory (or the run has not written its table yet)")
    frame = pd.read_parquet(table_path)
    notes: list[str] = []
    spoken, clip_of, axes, pool_name = _from_plan(run_dir, base_dir, notes)
    clips: dict[str, Path] = {}
    rows: list[dict[str, Any]] = []
    shown = [c for c in ROW_FIELDS if c in frame.columns]
    missing_clips = 0
    for index, record in enumerate(frame[shown].to_dict("records")):
        identity = tuple(record.get(k) for k in IDENTITY)
        text = spoken.get(_identity_key(identity), "")
        clip_id = None
        if record.get("modality") == "audio":
            part = clip_of.get((record.get("voice_id"), text)) if text else None
            if part is not None:
                clip_id = part.sha256
                clips[clip_id] = Path(part.path)
            else:
                missing_clips += 1
        score = record.get("score")
        record["score"] = None if score is None or pd.isna(score) else float(score)
        for key in ("permutation", "repeat"):
            if key in record:
                record[key] = int(record[key])
        record.update(row=index, spoken_text=text, clip=clip_id, group=group_label(record.get("cell", "")))
        rows.append({k: ("" if v is None and k not in ("score", "clip") else v) for k, v in record.items()})
    if missing_clips and clip_of:
        notes.append(f"{missing_clips} audio row(s) have no clip in the run's audio cache (deleted or moved); they show no player")
    meta = {
        "run": run_dir.name,
        "pool": pool_name,
        "axes": list(axes),
        "n_rows": len(rows),
        "n_clips": len(clips),
    }
    return ViewerData(run_dir, rows, clips, notes, meta)


def _identity_key(identity: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in identity)


def _from_plan(run_dir: Path, base_dir: Path | None, notes: list[str]):
    """(identity -> spoken text, (voice id, text) -> clip, pool axes, pool name) from the rebuilt plan.

    A run whose specs cannot be found (moved, or made on another machine) still opens: its rows
    show without spoken text or audio, and the page says why."""
    from biasbench.runner.clips import open_finished_run, spoken_pairs
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import cached_clips

    try:
        finished = open_finished_run(run_dir, base_dir)
    except BiasbenchError as exc:
        notes.append(f"spoken text and audio unavailable: the run's plan could not be rebuilt ({exc.one_line()})")
        return {}, {}, (), ""
    plan, config = finished.plan, finished.config
    spoken = {
        _identity_key((r.model, r.task, r.item.id, r.voice_id, r.modality, r.rotation, r.repeat)): (
            (r.spoken_text or "") if r.modality == "audio" else r.text
        )
        for r in plan.rows
    }
    cache = AudioCache(Path(config.cache_dir) if config.cache_dir else run_dir)
    try:
        clips = cached_clips(plan.voices, spoken_pairs(plan), cache, tts_params=config.tts, seed=config.seed)
    except BiasbenchError as exc:
        notes.append(f"audio unavailable: the TTS backends that key the cache could not be set up ({exc.one_line()})")
        clips = {}
    return spoken, clips, tuple(plan.pool.axes), plan.pool.name
