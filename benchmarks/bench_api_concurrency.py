"""API concurrency: 200 requests against a local OpenAI-compatible server with 200 ms latency.

Runs the real openai-audio adapter through the runner's executor at concurrency 16 and prints the
measured wall time next to the ideal (n × latency / concurrency), the sequential figure (measured
on 10 requests one at a time, scaled to n) and the adapter alone (no response log). The server
runs in its own process. Acceptance: measured <= 1.25 × ideal.

    python benchmarks/bench_api_concurrency.py [--requests 200] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from biasbench.adapters.openai_chat import OpenAIAudioAdapter
from biasbench.core.audio import Audio
from biasbench.core.item import Item
from biasbench.runner.executor import Budget, ExecutionStats, Job, execute
from biasbench.runner.plan import PlannedRow
from biasbench.runner.store import ResponseLog
from biasbench.tasks.base import RenderedPrompt
from biasbench.testing.openai_server import ServerProcess
from biasbench.testing.requests import make_request
from biasbench.testing.speech import audio_part

SNAPSHOT = "gpt-4o-audio-preview-2025-06-03"
KEY = "sk-bench-key"


def jobs(n: int, folder: Path) -> list[Job]:
    t = np.arange(16000 * 3) / 16000
    clip = audio_part(Audio((0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 16000), folder, "clip")
    out = []
    for i in range(n):
        item = Item(f"q{i}", "bench", f"Question {i}?", ("a", "b", "c", "d"), 0)
        row = PlannedRow("api", "bench", item, None, "audio", 0, 0, RenderedPrompt(f"Question {i}?", "Answer with a letter."))
        request = make_request(f"Question {i}? Answer with a letter.", clip)
        out.append(Job(request.key("bench"), row, request))
    return out


def timed_execute(adapter: OpenAIAudioAdapter, batch: list[Job], folder: Path, concurrency: int) -> float:
    log = ResponseLog(folder)
    stats = ExecutionStats()
    start = time.perf_counter()
    execute(adapter, batch, log, 0, batch_size=1, concurrency=concurrency, budget=Budget(None, 0.0), stats=stats)
    wall = time.perf_counter() - start
    log.close()
    if stats.failed:
        sys.exit(f"{stats.failed} requests failed: {stats.last_error}")
    return wall


def timed_adapter_only(adapter: OpenAIAudioAdapter, batch: list[Job], concurrency: int) -> float:
    """The same requests straight through the adapter (no response log): separates logging cost."""

    async def run() -> None:
        limit = asyncio.Semaphore(concurrency)

        async def one(job: Job) -> None:
            async with limit:
                response = await adapter.agenerate(job.request)
            if not response.ok:
                sys.exit(f"request failed: {response.error}")

        await asyncio.gather(*(one(job) for job in batch))

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = KEY
    server_args = ("--model", SNAPSHOT, "--api-key", KEY, "--latency", str(args.latency))
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(*server_args) as server:  # own process: no shared GIL
        folder = Path(tmp)
        adapter = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": SNAPSHOT, "concurrency_per_key": args.concurrency})
        adapter.load()
        all_jobs = jobs(args.requests + 10, folder)
        sequential_sample = timed_execute(adapter, all_jobs[:10], folder / "seq", 1)
        measured = timed_execute(adapter, all_jobs[10:], folder / "conc", args.concurrency)
        adapter_only = timed_adapter_only(adapter, all_jobs[10:], args.concurrency)
    ideal = args.requests * args.latency / args.concurrency
    sequential = sequential_sample / 10 * args.requests
    ratio = measured / ideal
    load = os.getloadavg()[0]
    print(f"requests={args.requests} latency={args.latency:g}s concurrency={args.concurrency} cpus={os.cpu_count()} load={load:.1f}")
    print(f"measured wall:   {measured:6.2f} s")
    print(f"adapter only:    {adapter_only:6.2f} s  (same requests without the runner's response log)")
    print(f"ideal wall:      {ideal:6.2f} s  (requests x latency / concurrency)")
    print(f"sequential wall: {sequential:6.2f} s  (10 requests one at a time, scaled)")
    print(f"measured / ideal = {ratio:.3f}  (acceptance <= 1.25: {'PASS' if ratio <= 1.25 else 'FAIL'}); speed-up over sequential {sequential / measured:.1f}x")
    return 0 if ratio <= 1.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
