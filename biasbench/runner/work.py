"""How much of a plan is already done in a run directory: clips in the cache and answers in the log.

Read-only (nothing is synthesized, loaded, called or written), so `run --dry-run` can show it and the
overall progress bar can start at what earlier invocations finished."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biasbench.config import RunConfig
from biasbench.runner.clips import spoken_pairs
from biasbench.runner.plan import Plan


@dataclass(frozen=True)
class ModelWork:
    """One model's requests."""

    model: str
    """Model label."""
    calls: int
    """Distinct requests the plan needs (rows sharing a request are asked once)."""
    answered: int
    """Of those, already answered in the run directory's log."""

    @property
    def remaining(self) -> int:
        return self.calls - self.answered


@dataclass(frozen=True)
class PlannedWork:
    """A plan's work and the part of it already done."""

    rows: int
    """Planned rows."""
    clips: int
    """Clips the plan speaks."""
    clips_cached: int
    """Of those, already in the audio cache."""
    models: tuple[ModelWork, ...]
    """Per model, in config order."""

    @property
    def total(self) -> int:
        return self.clips + sum(m.calls for m in self.models)

    @property
    def finished(self) -> int:
        return self.clips_cached + sum(m.answered for m in self.models)


def count_work(config: RunConfig, plan: Plan, run_dir: Path) -> PlannedWork:
    """Count the plan's clips and requests and which are done in ``run_dir`` (which may not exist)."""
    from biasbench.runner.requests import RowRequests
    from biasbench.runner.store import ResponseLog
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import cached_clips

    pairs = spoken_pairs(plan)
    cache_root = Path(config.cache_dir) if config.cache_dir else Path(run_dir)
    found = cached_clips(plan.voices, pairs, AudioCache(cache_root), tts_params=config.tts, seed=config.seed) if pairs else {}
    answers = ResponseLog(Path(run_dir)).read(repair=False).answers
    requests = RowRequests(config, plan)
    calls: dict[str, set[str]] = {model.name: set() for model in config.models}
    unclipped: dict[str, set[str]] = {model.name: set() for model in config.models}
    for row in plan.rows:
        clip = found.get((row.voice.id, row.spoken_text)) if row.voice is not None and row.spoken_text else None
        if row.modality == "audio" and clip is None:  # not synthesized yet: not answered either
            unclipped[row.model].add(repr((row.voice_id, row.spoken_text, row.text, row.rotation, row.repeat)))
            continue
        calls[row.model].add(requests(row, clip)[1])
    models = tuple(
        ModelWork(name, len(calls[name]) + len(unclipped[name]), sum(1 for key in calls[name] if key in answers))
        for name in calls
    )
    return PlannedWork(len(plan.rows), len(pairs), len(found), models)
