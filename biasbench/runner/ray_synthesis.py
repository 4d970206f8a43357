"""Synthesis as Ray tasks over the cluster's CPUs (``executor: {kind: ray, synthesis: true}``).

The driver looks every clip up in the cache exactly as :func:`biasbench.voices.synthesis.synthesize` does
(same keys, same twins); the missing ones are cut into chunks, and each Ray task speaks a chunk and writes
its clips into the cache directory itself (``AudioCache.put``: the same atomic writes and sidecars). The
driver then opens them as cached clips, so the cache directory must be on a filesystem every node shares
(on one machine it always is). Engines that cannot run in many processes (``process_parallel`` False:
model-based TTS holding a GPU) keep the local path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from biasbench.core.errors import BiasbenchError, DataError
from biasbench.core.voice import Voice
from biasbench.runner.ray_cluster import joined_ray
from biasbench.voices.cache import AudioCache
from biasbench.voices.normalize import Normalization
from biasbench.voices.synthesis import Progress, SynthesisResult

MAX_CHUNK = 16
"""Clips per Ray task at most (as the local worker pool's batches): small enough to spread, large enough
that a task's start-up (importing the engine) is paid rarely."""


def synthesize_on_ray(voices: Sequence[Voice], texts: Sequence[str], cache: AudioCache, **options: Any) -> SynthesisResult:
    """:func:`biasbench.voices.synthesis.synthesize` (same options, same clips, keys and cache files) with the
    missing clips made by Ray tasks when every engine can run in many processes (``workers`` is then unused:
    the cluster's CPUs are the workers)."""
    from biasbench.voices.synthesis import synthesize

    return synthesize(voices, texts, cache, parallel_maker=_synthesize, **options)


def _synthesize(
    wanted: list[tuple[Voice, str]], cache: AudioCache, backends: dict[str, Any], progress: Progress | None, normalization: Normalization
) -> SynthesisResult:
    from biasbench.voices import synthesis as local

    state = local._Synthesis(wanted, cache, backends, progress, normalization)
    pending = state.pending
    if not pending:  # every clip cached: no cluster needed
        return state.result()
    ray = joined_ray()  # joined on first use: a run with nothing to make or ask starts no cluster
    by_key = {job.key: job for job in pending}
    for engine in sorted({job.voice.engine for job in pending}):
        backends[engine].load()  # fail here, with the install hint, rather than in every task
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = max(1, min(MAX_CHUNK, len(pending) // (cpus * 4)))
    task = ray.remote(num_cpus=1)(speak_chunk)
    params = {engine: backend.config.model_dump(mode="json") for engine, backend in backends.items()}
    refs = [
        task.remote(
            job_chunk[0].voice.engine, params[job_chunk[0].voice.engine], str(cache.root.resolve()), cache.audio_format,
            [(job.voice.to_json(), job.text, job.key) for job in job_chunk], normalization,
        )
        for job_chunk in _chunks(pending, size)
    ]
    try:
        while refs:
            (ready,), refs = ray.wait(refs, num_returns=1)
            for key, peak_limited, job_notes, error in ray.get(ready):
                if error is not None:
                    raise DataError(error)
                part = cache.get(key)
                if part is None:
                    raise DataError(
                        f"a Ray task wrote clip {key} but it is not in the cache at {cache.root}",
                        hint="on a multi-node cluster, cache_dir must be on a filesystem every node shares",
                    )
                state.made(by_key[key], part, peak_limited, job_notes)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    return state.result()


def _chunks(jobs: list[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of one engine each (a task builds one backend)."""
    chunks: list[list[Any]] = []
    for job in jobs:
        if chunks and len(chunks[-1]) < size and chunks[-1][0].voice.engine == job.voice.engine:
            chunks[-1].append(job)
        else:
            chunks.append([job])
    return chunks


def speak_chunk(
    engine: str, params: dict[str, Any], root: str, audio_format: str, chunk: list[tuple[dict[str, Any], str, str]],
    normalization: Normalization,
) -> list[tuple[str, bool, list[str], str | None]]:
    """A Ray task: speak ``chunk`` (voice JSON, text, key) and store each clip in the cache at ``root``.
    Returns (key, peak limited, notes, None) per clip, or a last (key, False, [], one-line error) entry."""
    from biasbench.core import registry
    from biasbench.voices.spec import voice_from_json
    from biasbench.voices.synthesis import speak_one

    backend = registry.tts_backends.get(engine).from_params(params, f"tts.{engine}")
    cache = AudioCache(Path(root), audio_format=audio_format)
    out: list[tuple[str, bool, list[str], str | None]] = []
    try:
        backend.load()
        for voice_json, text, key in chunk:
            try:
                clip = speak_one(backend, voice_from_json(voice_json), text, normalization)
            except BiasbenchError as exc:
                out.append((key, False, [], exc.one_line()))
                break
            cache.put(key, clip.audio)
            out.append((key, bool(clip.peak_limited), backend.drain_notes(), None))
    except BiasbenchError as exc:
        out.append((chunk[0][2], False, [], exc.one_line()))
    finally:
        backend.close()
    return out
