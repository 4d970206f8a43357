"""Synthesize every (voice, text) clip once: cache lookup, backends in parallel workers, normalization."""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import threading
import warnings
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Collection, Mapping, Sequence

from biasbench.core.errors import BiasbenchError, ConfigError, DataError
from biasbench.core.hashing import file_sha256
from biasbench.core.messages import AudioPart
from biasbench.core.voice import Voice
from biasbench.voices.cache import AudioCache, audio_key, normalize_text
from biasbench.voices.normalize import Normalization, NormalizedClip, normalize_clip

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SynthesisResult:
    """Every requested clip and how it was obtained."""

    clips: Mapping[tuple[str, str], AudioPart]
    """(voice id, text as given) -> stored clip."""
    backend_calls: int
    """Clips synthesized by a backend in this call (0 when everything was cached)."""
    cached: int
    """Clips found in the cache."""
    notes: tuple[str, ...] = ()
    """Conversions worth reporting (reference clips resampled or downmixed, clips peak-limited)."""
    backends: Mapping[str, dict] = field(default_factory=dict)
    """Engine name -> its describe() (for the manifest)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "clips", MappingProxyType(dict(self.clips)))
        object.__setattr__(self, "backends", MappingProxyType(dict(self.backends)))
        object.__setattr__(self, "notes", tuple(self.notes))


@dataclass(frozen=True)
class _Job:
    voice: Voice
    text: str
    key: str


def synthesize(
    voices: Sequence[Voice],
    texts: Sequence[str],
    cache: AudioCache,
    *,
    tts_params: Mapping[str, Mapping] | None = None,
    workers: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    normalization: Normalization = Normalization(),
    only: Collection[tuple[str, str]] | None = None,
    parallel_maker: Callable[..., SynthesisResult] | None = None,
) -> SynthesisResult:
    """Every text in every voice, from the cache when present, else synthesized and cached.

    ``only`` restricts the voices × texts product to these (voice id, text) pairs (a counterbalanced
    design gives each voice only some option orders).

    Backends with ``process_parallel`` run in ``workers`` processes (default: the CPU count);
    others run in this process. A backend failure raises a one-line :class:`DataError` naming the
    voice and the text; clips finished before it stay in the cache. ``parallel_maker(wanted, cache,
    backends, progress, normalization)``, when given, makes the clips instead when every backend is
    ``process_parallel`` (the Ray tasks of :mod:`biasbench.runner.ray_synthesis`).
    """
    voices = list({voice.id: voice for voice in voices}.values())
    texts = list(dict.fromkeys(texts))
    backends = _backends(voices, tts_params or {}, seed)
    try:
        wanted = [(voice, text) for voice in voices for text in texts if only is None or (voice.id, text) in only]
        if parallel_maker is not None and all(backend.process_parallel for backend in backends.values()):
            return parallel_maker(wanted, cache, backends, progress, normalization)
        return _synthesize(wanted, cache, backends, workers, progress, normalization)
    finally:
        for backend in backends.values():
            backend.close()


class _Synthesis:
    """The bookkeeping every synthesizer shares (this process's pools, Ray tasks): which wanted clips the cache
    holds, which must be made (one job per distinct key; ``twins`` are more pairs sharing a key, whitespace
    variants), progress, notes, and the result."""

    def __init__(
        self, wanted: list[tuple[Voice, str]], cache: AudioCache, backends: dict[str, Any], progress: Progress | None,
        normalization: Normalization,
    ) -> None:
        self.backends, self.normalization = backends, normalization
        self.clips: dict[tuple[str, str], AudioPart] = {}
        self.pending: list[_Job] = []
        self.twins: dict[str, list[tuple[str, str]]] = {}
        fingerprints = {engine: backend.fingerprint() for engine, backend in backends.items()}
        normalization_json = normalization.to_json()
        identities = {voice.id: _voice_identity(voice) for voice, _ in wanted}
        problems_before = len(cache.problems)
        for voice, text in wanted:
            key = _clip_key(fingerprints[voice.engine], voice, text, identities[voice.id], normalization, normalization_json)
            part = cache.get(key)
            if part is not None:
                self.clips[(voice.id, text)] = part
            elif key in self.twins:
                self.twins[key].append((voice.id, text))
            else:
                self.pending.append(_Job(voice, text, key))
                self.twins[key] = []
        self.cached = len(self.clips)
        self.counter = _Counter(self.cached, len(wanted), progress)
        self.notes: list[str] = list(dict.fromkeys(cache.problems[problems_before:]))  # corrupt clips, made again below
        if self.notes:  # one line on stderr however many: the notes (and the run manifest) list them all
            warnings.warn(f"{len(self.notes)} cached clip(s) corrupt, synthesized again; first: {self.notes[0]}", RuntimeWarning, stacklevel=4)
        self.limited: Counter[str] = Counter()
        self.calls = 0

    def by_engine(self) -> dict[str, list[_Job]]:
        """The pending jobs per engine (engines in the order they first appear)."""
        grouped: dict[str, list[_Job]] = defaultdict(list)
        for job in self.pending:
            grouped[job.voice.engine].append(job)
        return grouped

    def made(self, job: _Job, part: AudioPart, peak_limited: bool, notes: Sequence[str]) -> None:
        """Record a clip just synthesized and cached for ``job`` (and its twins)."""
        self.calls += 1
        for pair in [(job.voice.id, job.text), *self.twins[job.key]]:
            self.clips[pair] = part
            self.counter.step()
        self.limited[job.voice.id] += peak_limited
        self.notes.extend(note for note in notes if note not in self.notes)

    def result(self) -> SynthesisResult:
        notes = self.notes + [
            f"voice '{voice_id}': {n} clip(s) peak-limited below the {self.normalization.target_lufs} LUFS target"
            for voice_id, n in sorted(self.limited.items()) if n
        ]
        return SynthesisResult(
            clips=self.clips,
            backend_calls=self.calls,
            cached=self.cached,
            notes=tuple(notes),
            backends={name: backend.describe() for name, backend in self.backends.items()},
        )


def _synthesize(
    wanted: list[tuple[Voice, str]],
    cache: AudioCache,
    backends: dict[str, Any],
    workers: int | None,
    progress: Progress | None,
    normalization: Normalization,
) -> SynthesisResult:
    state = _Synthesis(wanted, cache, backends, progress, normalization)
    for engine, jobs in state.by_engine().items():
        backend = backends[engine]
        count = _worker_count(workers, backend, len(jobs))
        produced = _run_parallel(engine, backend, jobs, count, normalization) if count > 1 else _run_serial(backend, jobs, normalization)
        for job, clip, job_notes in produced:
            state.made(job, cache.put(job.key, clip.audio), clip.peak_limited, job_notes)
    return state.result()


class _Counter:
    def __init__(self, done: int, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = done, total, progress
        if progress is not None:
            progress(done, total)

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def _clip_key(fingerprint: str, voice: Voice, text: str, identity: Mapping[str, Any], normalization: Normalization, normalization_json: Any) -> str:
    """The cache key of one clip (one definition for synthesizing and for looking clips up)."""
    return audio_key(
        fingerprint, voice.id, text, normalization.sample_rate, voice.tts_params, voice=identity, normalization=normalization_json
    )


def cached_clips(
    voices: Sequence[Voice],
    pairs: Collection[tuple[str, str]],
    cache: AudioCache,
    *,
    tts_params: Mapping[str, Mapping] | None = None,
    seed: int = 0,
    normalization: Normalization = Normalization(),
) -> dict[tuple[str, str], AudioPart]:
    """The clips of ``pairs`` (voice id, text) already in ``cache``; nothing is synthesized (a viewer
    of a finished run looks clips up, it never makes new ones). Missing clips are simply absent."""
    by_id = {voice.id: voice for voice in voices}
    backends = _backends([by_id[v] for v in {v for v, _ in pairs} if v in by_id], tts_params or {}, seed)
    try:
        fingerprints = {engine: backend.fingerprint() for engine, backend in backends.items()}
        normalization_json = normalization.to_json()
        found: dict[tuple[str, str], AudioPart] = {}
        identities: dict[str, Any] = {}
        for voice_id, text in pairs:
            voice = by_id.get(voice_id)
            if voice is None:
                continue
            if voice_id not in identities:
                identities[voice_id] = _voice_identity(voice)
            key = _clip_key(fingerprints[voice.engine], voice, text, identities[voice_id], normalization, normalization_json)
            part = cache.get(key)
            if part is not None:
                found[(voice_id, text)] = part
        return found
    finally:
        for backend in backends.values():
            backend.close()


def _backends(voices: Sequence[Voice], tts_params: Mapping[str, Mapping], seed: int) -> dict[str, Any]:
    from biasbench.core import registry

    backends: dict[str, Any] = {}
    problems: list[str] = []
    for engine in sorted({voice.engine for voice in voices}):
        cls = registry.tts_backends.get(engine)
        params = dict(tts_params.get(engine) or {})
        if cls.seeded:
            params.setdefault("seed", seed)
        backends[engine] = cls.from_params(params, f"tts.{engine}")
    for voice in voices:
        try:
            backends[voice.engine].check_voice(voice)
        except BiasbenchError as exc:
            problems.append(exc.one_line())
    if problems:
        raise ConfigError("; ".join(problems))
    return backends


def _voice_identity(voice: Voice) -> dict[str, Any]:
    """What about the voice changes its audio: the preset, or the reference clip's bytes and transcript."""
    if voice.reference is None:
        return {"preset": voice.preset}
    from biasbench.voices.spec import reference_problems

    problems = reference_problems(voice)
    if problems:
        raise DataError(problems[0])
    return {"reference_sha256": file_sha256(voice.reference.path), "transcript": voice.reference.transcript}


MIN_JOBS_PER_WORKER = {"fork": 4, "forkserver": 48, "spawn": 48}
"""Clips each extra worker must have before starting it pays off (forkserver/spawn workers import biasbench)."""


def _worker_count(workers: int | None, backend: Any, jobs: int) -> int:
    if not backend.process_parallel:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = workers if workers is not None else available
    return max(1, min(count, jobs // MIN_JOBS_PER_WORKER[_context().get_start_method()]))


def speak_one(backend: Any, voice: Voice, text: str, normalization: Normalization) -> NormalizedClip:
    """One clip from ``backend``, normalized; any failure becomes a DataError naming voice and text."""
    spoken = normalize_text(text)
    shown = spoken if len(spoken) <= 60 else spoken[:57] + "..."
    try:
        return normalize_clip(backend.synthesize(spoken, voice), normalization)
    except BiasbenchError as exc:
        raise DataError(f"TTS '{voice.engine}' failed for voice '{voice.id}' on text \"{shown}\": {exc.one_line()}") from None
    except Exception as exc:  # engines raise anything; the user needs the voice and text, not a traceback
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise DataError(
            f"TTS '{voice.engine}' failed for voice '{voice.id}' on text \"{shown}\": {type(exc).__name__}: {reason}"
        ) from None


def _run_serial(backend: Any, jobs: list[_Job], normalization: Normalization):
    backend.load()
    for job in jobs:
        clip = speak_one(backend, job.voice, job.text, normalization)
        yield job, clip, backend.drain_notes()


# --- worker processes ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(engine: str, params: dict[str, Any], parent: int | None = None) -> None:
    from biasbench.core import registry
    from biasbench.core.lifecycle import die_with_parent

    die_with_parent(parent)  # a killed run leaves no worker behind (the run lock is closed at fork: runner.lock)

    backend = registry.tts_backends.get(engine).from_params(params, f"tts.{engine}")
    backend.load()
    _WORKER["backend"] = backend
    multiprocessing.util.Finalize(backend, backend.close, exitpriority=10)  # release the engine when the worker exits


def _work(batch: list[tuple[int, dict[str, Any], str]], normalization: Normalization) -> list[tuple[int, Any, str | None]]:
    """Synthesize a batch in a worker; failures come back as messages (exceptions may not pickle)."""
    from biasbench.voices.spec import voice_from_json

    backend = _WORKER["backend"]
    out: list[tuple[int, Any, str | None]] = []
    for index, voice_json, text in batch:
        try:
            clip = speak_one(backend, voice_from_json(voice_json), text, normalization)
        except BiasbenchError as exc:
            out.append((index, None, exc.one_line()))
            break
        payload = (clip.audio.samples, clip.audio.sample_rate, clip.loudness_lufs, clip.peak_limited, backend.drain_notes())
        out.append((index, payload, None))
    return out


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process has no other threads (fast start), else forkserver (thread-safe)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_parallel(engine: str, backend: Any, jobs: list[_Job], count: int, normalization: Normalization):
    from concurrent.futures.process import BrokenProcessPool

    from biasbench.core.audio import Audio

    backend.load()  # fail here, with the install hint, rather than in every worker
    params = backend.config.model_dump(mode="json")
    size = max(1, min(16, len(jobs) // (count * 4)))
    batches = [
        [(i, jobs[i].voice.to_json(), jobs[i].text) for i in range(start, min(start + size, len(jobs)))]
        for start in range(0, len(jobs), size)
    ]
    context = _context()
    parent = os.getpid() if context.get_start_method() == "fork" else None  # forkserver children have another parent
    with ProcessPoolExecutor(count, mp_context=context, initializer=_init_worker, initargs=(engine, params, parent)) as pool:
        futures: set[Future] = {pool.submit(_work, batch, normalization) for batch in batches}
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    for index, payload, error in future.result():
                        if error is not None:
                            raise DataError(error)
                        samples, rate, loudness, limited, notes = payload
                        yield jobs[index], NormalizedClip(Audio(samples, rate), loudness, limited), notes
        except BrokenProcessPool as exc:
            raise DataError(f"a TTS worker process for '{engine}' died ({exc}); try tts_workers: 1") from None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
