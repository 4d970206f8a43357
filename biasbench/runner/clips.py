"""The clips a run speaks: its audio rows' (voice, spoken text) pairs, synthesized or read from its cache.

Used by the run itself and by what works on a finished run (voice audit of a run, dataset export), so
all three agree on which clips exist and none synthesizes a clip the run does not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from biasbench.config import RunConfig, parse_config
from biasbench.core.rundir import Manifest
from biasbench.runner.manifest import require_manifest
from biasbench.runner.plan import Plan, PlannedRow, load_plan


@dataclass(frozen=True, eq=False)
class FinishedRun:
    """A run directory's manifest with the config and plan rebuilt from it."""

    run_dir: Path
    """The run directory."""
    manifest: Manifest
    """Its manifest.json."""
    config: RunConfig
    """The config it ran with."""
    plan: Plan
    """The plan rebuilt from that config (specs resolved from ``base_dir``)."""


def is_spoken(row: PlannedRow) -> bool:
    """True when ``row`` asks with a clip (an audio row with a voice and a text to speak)."""
    return row.modality == "audio" and row.voice is not None and bool(row.spoken_text)


def spoken_pairs(plan: Plan) -> set[tuple[str, str]]:
    """(voice id, spoken text) of every audio row in the plan."""
    return {(row.voice.id, row.spoken_text) for row in plan.rows if is_spoken(row)}  # type: ignore[union-attr]


def speaks(plan: Plan) -> bool:
    """True when any row of the plan is spoken (stops at the first)."""
    return any(is_spoken(row) for row in plan.rows)


def synthesize_plan(
    config: RunConfig,
    plan: Plan,
    run_dir: Path,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pairs: set[tuple[str, str]] | None = None,
    on_ray: bool = False,
) -> Any:
    """Every clip the plan's audio rows need (cache: ``config.cache_dir`` or the run directory);
    a ``SynthesisResult``, or None when the plan has no audio rows. ``pairs``: the plan's
    :func:`spoken_pairs` when the caller already has them (one pass over a large plan, not two).
    ``on_ray``: missing clips are made by Ray tasks (the run's Ray session must be open; see
    :mod:`biasbench.runner.ray_synthesis`)."""
    from biasbench.voices.cache import AudioCache

    if on_ray:
        from biasbench.runner.ray_synthesis import synthesize_on_ray as synthesize
    else:
        from biasbench.voices.synthesis import synthesize

    needed = pairs if pairs is not None else spoken_pairs(plan)
    if not needed:
        return None
    voice_ids = {voice_id for voice_id, _ in needed}
    return synthesize(
        [voice for voice in plan.voices if voice.id in voice_ids],
        sorted({text for _, text in needed}),
        AudioCache(
            Path(config.cache_dir) if config.cache_dir else Path(run_dir),
            audio_format=config.audio_format,
            verify=config.verify_cache,
        ),
        tts_params=config.tts,
        workers=workers if workers is not None else config.tts_workers,
        seed=config.seed,
        progress=progress,
        only=needed,
    )


def open_finished_run(run_dir: Path, base_dir: Path | None = None) -> FinishedRun:
    """Rebuild a run's plan from its manifest; specs resolve from ``base_dir``, else the folder of the
    config it was started with, else the current directory."""
    run_dir = Path(run_dir)
    manifest = require_manifest(run_dir)
    config = parse_config(manifest.config, f"{run_dir}/manifest.json")
    if base_dir is None:
        recorded = Path(manifest.config_path or "")
        base_dir = recorded.resolve().parent if recorded.name and recorded.exists() else Path.cwd()
    return FinishedRun(run_dir, manifest, config, load_plan(config, base_dir))
