"""espeak synthesis throughput, serial vs parallel workers (audio seconds per wall second).

    python benchmarks/bench_synthesis.py [--texts 40] [--repeats 2] [--workers N]

Synthesizes the demo pool (12 voices) x N generated sentences into fresh caches, once with one
worker and once with N workers (default: CPU count), best of --repeats each, and prints the ratio.
The whole pipeline is measured (synthesis, normalization, cache writes), not espeak alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from biasbench.voices.cache import AudioCache
from biasbench.voices.spec import load_pool
from biasbench.voices.synthesis import synthesize

SUBJECTS = ["the river", "my neighbour", "a small bird", "the old library", "our teacher", "the city council"]
VERBS = ["watched", "described", "remembered", "painted", "questioned", "followed"]
OBJECTS = ["the quiet harbour at dawn", "a long list of numbers", "the colour of the autumn leaves",
           "three reasons to stay", "the train that never came", "an answer nobody expected"]


def sentences(count: int) -> list[str]:
    """Deterministic, distinct sentences of 8-12 words."""
    out = []
    for i in range(count):
        s, v, o = SUBJECTS[i % 6], VERBS[(i // 6) % 6], OBJECTS[(i // 36 + i) % 6]
        out.append(f"Sentence {i + 1}: {s} {v} {o}.")
    return out


def _cpu_seconds() -> float:
    """User + system CPU of this process and its reaped descendants (workers, espeak servers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(pool, texts: list[str], workers: int, repeats: int) -> tuple[float, float, float]:
    """(best wall seconds, audio seconds, CPU seconds of the best repeat)."""
    best, audio, cpu = float("inf"), 0.0, 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            cpu_start, start = _cpu_seconds(), time.perf_counter()
            result = synthesize(pool.voices, texts, AudioCache(Path(folder)), workers=workers)
            wall, used = time.perf_counter() - start, _cpu_seconds() - cpu_start
            assert result.backend_calls == len(pool.voices) * len(texts)
            audio = sum(part.duration_s for part in result.clips.values())
            if wall < best:
                best, cpu = wall, used
    return best, audio, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    args = parser.parse_args()
    pool = load_pool("demo_espeak")
    texts = sentences(args.texts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    clips = len(pool.voices) * len(texts)
    serial_wall, audio, serial_cpu = measure(pool, texts, 1, args.repeats)
    parallel_wall, _, parallel_cpu = measure(pool, texts, args.workers, args.repeats)
    serial, parallel = audio / serial_wall, audio / parallel_wall
    print(f"espeak synthesis: {clips} clips, {audio:.1f} s of audio; CPUs {os.cpu_count()}, load average {load:.2f} before")
    print(f"serial   (1 worker):  {serial_wall:6.2f} s wall, {serial:7.1f} audio s / wall s, {serial_cpu:6.2f} CPU s")
    print(f"parallel ({args.workers} workers): {parallel_wall:6.2f} s wall, {parallel:7.1f} audio s / wall s, {parallel_cpu:6.2f} CPU s")
    print(f"ratio parallel/serial: {parallel / serial:.2f}x")
    print("(other processes on a shared machine lower the parallel figure: compare the load average with the CPU count)")


if __name__ == "__main__":
    main()
