"""Build a pool's clips for a set of texts (`biasbench voices build`) and find the clips to audit
(`biasbench voices audit POOL_OR_RUN`): a pool spec, a build folder, or a run directory."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.messages import AudioPart
from biasbench.core.rundir import RunDir
from biasbench.core.voice import VoicePool
from biasbench.voices.cache import AudioCache
from biasbench.voices.spec import load_pool, pool_from_json
from biasbench.voices.synthesis import SynthesisResult, synthesize

CLIP_INDEX = "clips.csv"
"""Index of a build folder: one row per (voice, text) with the clip's path and hash."""
INDEX_COLUMNS = ("voice_id", "text", "path", "sha256", "sample_rate", "duration_s")


def texts_from_file(path: str | Path) -> list[str]:
    """One text per line (blank lines and lines starting with '#' skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"texts file not found: {path}")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t and not t.startswith("#")]
    if not texts:
        raise DataError(f"texts file {path} has no texts")
    return list(dict.fromkeys(texts))


def texts_from_tasks(refs: Sequence[Mapping[str, Any] | str], base_dir: Path | None = None) -> list[str]:
    """What the tasks' items say when spoken (every option-order rotation), without duplicates."""
    from biasbench.tasks.loading import load_task

    texts: list[str] = []
    for ref in refs:
        name, params = (ref, {}) if isinstance(ref, str) else (ref["name"], ref.get("params") or {})
        task = load_task(name, params, base_dir=base_dir)
        rotations = int(getattr(task.config, "rotations", 1) or 1)
        for item in task.items():
            for rotation in range(rotations):
                spoken = task.render(item, "audio", rotation).spoken_text
                if spoken:
                    texts.append(spoken)
    if not texts:
        raise ConfigError("the tasks have no spoken items")
    return list(dict.fromkeys(texts))


def build_pool(
    pool: VoicePool,
    texts: Sequence[str],
    out_dir: Path,
    *,
    tts_params: Mapping[str, Mapping] | None = None,
    workers: int | None = None,
    seed: int = 0,
    split: str = "all",
    progress: Callable[[int, int], None] | None = None,
    audio_format: str = "flac",
    verify_cache: bool = False,
) -> SynthesisResult:
    """Synthesize every text in every voice (of ``split``) into ``out_dir``'s cache and write its index
    (new clips stored as ``audio_format``; ``verify_cache`` re-hashes cached ones)."""
    voices = pool.voices if split == "all" else pool.split(split)
    cache = AudioCache(out_dir, audio_format=audio_format, verify=verify_cache)
    result = synthesize(voices, texts, cache, tts_params=tts_params, workers=workers, seed=seed, progress=progress)
    write_index(out_dir, result.clips)
    from biasbench.core.files import write_text_atomic

    write_text_atomic(out_dir / "pool.json", json.dumps(pool.to_json(), indent=2, ensure_ascii=False))
    return result


def write_index(out_dir: Path, clips: Mapping[tuple[str, str], AudioPart]) -> Path:
    """Write ``clips.csv`` (atomic)."""
    from biasbench.core.files import atomic_write

    path = Path(out_dir) / CLIP_INDEX

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(INDEX_COLUMNS)
            for (voice_id, text), part in sorted(clips.items()):
                writer.writerow([voice_id, text, part.path, part.sha256, part.sample_rate, part.duration_s])

    atomic_write(path, write)
    return path


@dataclass(frozen=True)
class AuditTarget:
    """Clips to audit, the pool they belong to, and where the audit goes by default."""

    pool: VoicePool
    clips: Mapping[tuple[str, str], AudioPart]
    out_dir: Path
    backend_calls: int = 0
    """Clips that had to be synthesized to audit (0 when everything was built already)."""


def locate_audit_target(
    ref: str,
    *,
    texts: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    tts_params: Mapping[str, Mapping] | None = None,
    workers: int | None = None,
) -> AuditTarget:
    """A run directory (manifest.json), a build folder (clips.csv), or a pool spec plus ``texts``."""
    folder = Path(ref)
    if RunDir(folder).manifest_path.is_file():
        return _run_target(folder, workers)
    if (folder / CLIP_INDEX).is_file():
        return _build_target(folder)
    pool = load_pool(ref)
    if not texts:
        raise ConfigError(f"auditing pool '{pool.name}' needs texts: give --texts FILE or --task NAME (or a build/run folder)")
    out = cache_dir or Path("results") / f"voices-{pool.name}"
    result = build_pool(pool, texts, out, tts_params=tts_params, workers=workers)
    return AuditTarget(pool, result.clips, out / "audit", result.backend_calls)


def _build_target(folder: Path) -> AuditTarget:
    pool_file = folder / "pool.json"
    if not pool_file.is_file():
        raise DataError(f"build folder {folder} has {CLIP_INDEX} but no pool.json")
    pool = pool_from_json(json.loads(pool_file.read_text(encoding="utf-8")))
    clips = {}
    with open(folder / CLIP_INDEX, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            part = AudioPart(row["path"], row["sha256"], int(row["sample_rate"]), float(row["duration_s"]))
            clips[(row["voice_id"], row["text"])] = part
    return AuditTarget(pool, clips, folder / "audit")


def _run_target(folder: Path, workers: int | None) -> AuditTarget:
    """The clips a run used: its plan's spoken texts in its voices, from its cache (0 calls when complete)."""
    from biasbench.runner.clips import open_finished_run, synthesize_plan

    run = open_finished_run(folder)
    try:
        recorded = pool_from_json(run.manifest.pool)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"run directory {folder}: manifest.json has no readable pool ({type(exc).__name__}: {exc})") from None
    result = synthesize_plan(run.config, run.plan, folder, workers=workers)
    if result is None:
        raise DataError(f"run directory {folder} has no audio rows to audit")
    return AuditTarget(recorded, result.clips, RunDir(folder).audit_dir, result.backend_calls)
