"""API throughput: biasbench against a bare ``openai.AsyncOpenAI`` loop, same requests, same server.

The peer is what a user would write without biasbench: one ``AsyncOpenAI`` client, an
``asyncio.Semaphore(concurrency)`` and ``asyncio.gather`` of ``client.chat.completions.create`` over the
same chat-completions bodies (same messages, same base64 WAV clips, same max_tokens and sampling fields;
checked equal to the JSON the biasbench adapter sends). biasbench sends that JSON through the same
client's generic ``client.post`` and reads the answer's JSON itself, skipping the typed call's per-request
params transform and response models; ``--peer-call post`` gives the peer that shortcut too, a stricter
peer that isolates the runner's own overhead. The peer reads each request's clip from a WAV file and
base64-encodes it per request, as a bare loop does (``--peer-payloads in-memory``: every payload encoded before its clock
starts, a stricter peer); biasbench reads its own clip cache (FLAC by default) and starts every
measurement with an empty clip-payload cache, as a fresh process does.
The loopback OpenAI-compatible server (``biasbench/testing/openai_server.py``) runs in its own process.

For each case (text, audio) and latency:
- bare   : the peer loop, wall seconds;
- asking : ``runner.executor.execute`` with the real ``openai-compatible`` adapter and a real
           ``ResponseLog`` in a fresh directory (what ``biasbench run`` does between plan and table);
- whole  : ``pipeline.run_experiment`` in-process (plan, clip lookup, ask, table, score, report) into a
           fresh run directory; audio clips are synthesized once into a shared ``cache_dir`` before any
           clock starts, so the whole run includes the clip-cache lookup but no synthesis.
Each figure is taken ``--repeat`` times (interleaved) and printed with the 1-minute load average and the
client process's CPU seconds (all threads; the server's are not counted): the machine is shared and wall
ratios are noisy, CPU ratios much less so; the median wall ratios decide. Exit 1 when a zero-latency median ratio
misses its target (asking <= 1.10 x bare, whole <= 1.15 x bare).

    python benchmarks/bench_api_concurrency.py [--text-requests 18288] [--audio-requests 4648]
        [--latencies 0 0.2] [--latent-requests 480] [--concurrency 16] [--repeat 3] [--cases text audio]
        [--audio-format flac|wav] [--peer-call create|post] [--peer-payloads per-request|in-memory]
    # the defaults are the issue's sizes (about 10 min on 2 cores, most of it the bare loops and synthesis);
    # --text-requests 4000 --audio-requests 1500 is a quicker look, where the whole run's fixed cost (scoring
    # and report, about 1.2 s with audio) weighs more against a 3.6 s audio loop than the target allows
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from biasbench.adapters.clip_payloads import CLIP_PAYLOADS
from biasbench.adapters.openai_chat import CHAT_PATH, sdk_request_options
from biasbench.config import RunConfig
from biasbench.core.audio import wav_bytes_of_file
from biasbench.core.messages import AudioPart, Request, TextPart
from biasbench.pipeline import run_experiment
from biasbench.runner.executor import Budget, ExecutionStats, Job, execute
from biasbench.runner.plan import load_plan
from biasbench.runner.progress import RunProgress
from biasbench.runner.run import plan_jobs, synthesize
from biasbench.runner.store import ResponseLog
from biasbench.testing.openai_server import ServerProcess

MODEL = "bench-model"
KEY = "sk-bench-key"
MAX_TOKENS = 16
TARGETS = {"asking": 1.10, "whole": 1.15}
"""Acceptance at zero latency: median ratio to the bare loop."""
AUDIO_ROTATIONS = 2
"""Audio rows per clip: each clip is asked twice (two option orders), as in a counterbalanced run."""


@dataclass(frozen=True)
class Figure:
    """One timed measurement."""

    seconds: float
    """Wall time."""
    cpu: float
    """CPU seconds of this (client) process, every thread: less sensitive to other load than wall time."""
    load: float
    """1-minute load average when it ended."""
    phases: tuple[tuple[str, float], ...] = ()
    """Whole run only: wall seconds per pipeline step (the rest is manifest, lock and set-up)."""


# ----- the workload -----------------------------------------------------------------------------
def write_config(
    folder: Path, modality: str, requests: int, voices: int, concurrency: int, base_url: str, audio_format: str = "flac"
) -> RunConfig:
    """A run asking about ``requests`` questions (text: one row per item; audio: voices x items x 2 rotations)."""
    rotations = AUDIO_ROTATIONS if modality == "audio" else 1
    n_items = requests if modality == "text" else math.ceil(requests / (voices * rotations))
    items = [
        {"id": f"q{i}", "question": f"Which option is number {i % 4}? (question {i})", "choices": ["zero", "one", "two", "three"], "answer": i % 4}
        for i in range(n_items)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    task = {
        "kind": "multiple_choice", "version": "1", "description": "benchmark items", "path": "items.jsonl",
        "columns": {"id": "id", "question": "question", "choices": "choices", "answer": "answer"},
        "answer_format": "index", "rendering": "full", "instruction": "Answer with the letter ({letters}) only.",
        "modalities": [modality], "rotations": rotations,
    }
    if modality == "audio":  # the question spoken, options as text: each clip serves both option orders
        task |= {"rendering": "question_only", "counterbalance": "full"}
    (folder / "task.yaml").write_text(yaml.safe_dump(task))
    config = {
        "name": f"bench-{modality}", "pool": "demo_espeak", "tasks": ["task.yaml"],
        "models": [{"name": "m", "adapter": "openai-compatible", "params": {"model": MODEL, "base_url": base_url, "concurrency_per_key": concurrency}}],
        "modalities": [modality], "seed": 0, "concurrency": concurrency, "generation": {"max_new_tokens": MAX_TOKENS},
        "cache_dir": str(folder / "clips"), "audit": {"enabled": False}, "understanding": {"enabled": False},
        "audio_format": audio_format,
    }
    return RunConfig.model_validate(config)


def prepared_jobs(config: RunConfig, folder: Path) -> tuple[list[Job], Any]:
    """The jobs biasbench sends (clips synthesized into the shared cache when needed) and the adapter."""
    plan = load_plan(config, folder)
    clips, *_ = synthesize(config, plan, folder / "synthesis-run", RunProgress(enabled=False))
    jobs_by_model, _ = plan_jobs(config, plan, clips)
    return jobs_by_model["m"], plan.adapters["m"]


# ----- the peer ---------------------------------------------------------------------------------
def bare_bodies(jobs: list[Job], folder: Path) -> tuple[list[dict[str, Any]], list[Path | None]]:
    """Chat-completions bodies written by hand from each request, and the WAV file of each request's
    clip (a copy of the cached clip, written before any clock): the peer reads and encodes it per request
    (or, with ``--peer-payloads in-memory``, once up front). The bodies hold the base64 already, so they
    can be checked equal to the adapter's."""
    encoded: dict[str, str] = {}
    wav_of: dict[str, Path] = {}
    (folder / "peer-clips").mkdir(exist_ok=True)

    def content(part: Any) -> dict[str, Any]:
        if isinstance(part, AudioPart):
            if part.path not in encoded:
                wav = wav_bytes_of_file(part.path)
                wav_of[part.path] = folder / "peer-clips" / f"{part.sha256}.wav"
                wav_of[part.path].write_bytes(wav)
                encoded[part.path] = base64.b64encode(wav).decode("ascii")
            return {"type": "input_audio", "input_audio": {"data": encoded[part.path], "format": "wav"}}
        return {"type": "text", "text": part.text}

    def body(request: Request) -> dict[str, Any]:
        messages = [
            {"role": m.role, "content": m.text()} if m.role != "user" and all(isinstance(p, TextPart) for p in m.parts)
            else {"role": m.role, "content": [content(p) for p in m.parts]}
            for m in request.messages
        ]
        return {
            "model": MODEL, "messages": messages, "temperature": request.params.temperature, "top_p": request.params.top_p,
            "max_tokens": request.params.max_new_tokens, "n": 1, "seed": request.params.seed + request.repeat,
            "extra_body": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
        }

    bodies = [body(job.request) for job in jobs]
    clips = [wav_of[job.request.audio_parts()[0].path] if job.request.audio_parts() else None for job in jobs]
    return bodies, clips


def with_clip(body: dict[str, Any], data: str) -> dict[str, Any]:
    """``body`` with its (one) audio part's data replaced by ``data``."""
    messages = [
        {**m, "content": [{**p, "input_audio": {"data": data, "format": "wav"}} if p["type"] == "input_audio" else p for p in m["content"]]}
        if isinstance(m["content"], list) else m
        for m in body["messages"]
    ]
    return {**body, "messages": messages}


def wire_json(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON ``client.chat.completions.create(**body)`` sends: ``extra_body`` merged over the named fields."""
    return {key: value for key, value in body.items() if key != "extra_body"} | body.get("extra_body", {})


def run_bare(
    base_url: str, bodies: list[dict[str, Any]], clips: list[Path | None], concurrency: int, encode_per_request: bool, call: str = "create"
) -> Figure:
    import openai

    async def main() -> None:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, timeout=120)  # the SDK's default retries
        options = sdk_request_options(openai)
        limit = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any], clip: Path | None) -> str:
            async with limit:
                if encode_per_request and clip is not None:  # what a bare loop does: read the clip, encode it
                    body = with_clip(body, base64.b64encode(clip.read_bytes()).decode("ascii"))
                if call == "post":  # the stricter peer: biasbench's own shortcut, hand-written
                    raw = await client.post(CHAT_PATH, cast_to=bytes, body=wire_json(body), options=options)
                    return json.loads(raw)["choices"][0]["message"]["content"] or ""
                completion = await client.chat.completions.create(**body)
            return completion.choices[0].message.content or ""

        try:
            answers = await asyncio.gather(*(one(body, clip) for body, clip in zip(bodies, clips)))
        finally:
            await client.close()
        if not all(answers):
            raise SystemExit("the bare loop got an empty answer")

    began, cpu = time.perf_counter(), time.process_time()
    asyncio.run(main())
    return Figure(time.perf_counter() - began, time.process_time() - cpu, os.getloadavg()[0])


# ----- biasbench ---------------------------------------------------------------------------------
def run_asking(config: RunConfig, folder: Path, out: Path) -> Figure:
    CLIP_PAYLOADS.clear()  # as in a fresh process: no clip encoded yet
    jobs, adapter = prepared_jobs(config, folder)
    adapter.load()
    log = ResponseLog(out)
    stats = ExecutionStats()
    try:
        began, cpu = time.perf_counter(), time.process_time()
        execute(adapter, jobs, log, 0, batch_size=config.batch_size, concurrency=config.concurrency, budget=Budget(None, 0.0), stats=stats)
        wall = Figure(time.perf_counter() - began, time.process_time() - cpu, os.getloadavg()[0])
    finally:
        log.close()
        adapter.close()
    if stats.failed or stats.answered != len(jobs):
        raise SystemExit(f"asking: {stats.failed} of {len(jobs)} requests failed: {stats.last_error}")
    return wall


WHOLE_STEPS = {
    "load_plan": "plan", "synthesize": "clips", "plan_jobs": "jobs", "ask_models": "asking",
    "write_tidy_table": "table", "_score_and_report": "score+report",
}
"""Pipeline steps timed inside the whole run (wrapped in ``biasbench.pipeline`` for the benchmark only)."""


@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """Wall seconds spent in each of WHOLE_STEPS while the block runs."""
    import biasbench.pipeline as pipeline

    spent: dict[str, float] = {}
    originals = {name: getattr(pipeline, name) for name in WHOLE_STEPS}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[WHOLE_STEPS[name]] = spent.get(WHOLE_STEPS[name], 0.0) + time.perf_counter() - began

        return wrapper

    for name, function in originals.items():
        setattr(pipeline, name, timed(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(pipeline, name, function)


def run_whole(config: RunConfig, folder: Path, out: Path, requests: int) -> Figure:
    CLIP_PAYLOADS.clear()  # as in a fresh process: no clip encoded yet
    with timed_steps() as spent:
        began, cpu = time.perf_counter(), time.process_time()
        outcome = run_experiment(config, out, folder, show_progress=False, echo=lambda line: None)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    if outcome.stats.status != "complete" or outcome.stats.model_calls != requests:
        raise SystemExit(f"whole run: {outcome.stats.status}, {outcome.stats.model_calls} of {requests} model calls")
    return Figure(wall, cpu, os.getloadavg()[0], tuple(spent.items()))


def measure_case(modality: str, requests: int, latency: float, args: argparse.Namespace, voices: int) -> dict[str, Any]:
    server_args = ("--model", MODEL, "--api-key", KEY, "--latency", str(latency))
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(*server_args) as server:  # own process: no shared GIL
        folder = Path(tmp)
        config = write_config(folder, modality, requests, voices, args.concurrency, server.base_url, args.audio_format)
        jobs, adapter = prepared_jobs(config, folder)  # synthesizes audio once, before any clock
        bodies, clips = bare_bodies(jobs, folder)
        for job, body in list(zip(jobs, bodies))[:5]:  # the peer sends what biasbench sends
            if adapter.request_body(job.request) != wire_json(body):
                raise SystemExit("the bare loop's body differs from the adapter's: the comparison would be unfair")
        n = len(jobs)
        per_request = args.peer_payloads == "per-request"
        peer = (args.concurrency, per_request, args.peer_call)
        run_bare(server.base_url, bodies[: args.concurrency], clips, *peer)  # warm-up (imports, first connections): untimed
        bare, asking, whole = [], [], []
        for index in range(args.repeat):
            bare.append(run_bare(server.base_url, bodies, clips, *peer))
            asking.append(run_asking(config, folder, folder / f"asking-{index}"))
            whole.append(run_whole(config, folder, folder / f"run-{index}", n))
            print(
                f"  {modality} latency={latency:g}s repeat {index + 1}: "
                + ", ".join(f"{name} {f.seconds:.2f} s (cpu {f.cpu:.2f} s, load {f.load:.1f})" for name, f in (("bare", bare[-1]), ("asking", asking[-1]), ("whole", whole[-1]))),
                flush=True,
            )
    return {
        "case": modality, "requests": n, "latency": latency,
        "bare": statistics.median(f.seconds for f in bare),
        "asking": statistics.median(f.seconds for f in asking),
        "whole": statistics.median(f.seconds for f in whole),
        "asking_ratio": statistics.median(a.seconds / b.seconds for a, b in zip(asking, bare)),
        "whole_ratio": statistics.median(w.seconds / b.seconds for w, b in zip(whole, bare)),
        "asking_cpu_ratio": statistics.median(a.cpu / b.cpu for a, b in zip(asking, bare)),
        "whole_cpu_ratio": statistics.median(w.cpu / b.cpu for w, b in zip(whole, bare)),
        "load": statistics.median(f.load for f in bare + asking + whole),
        "steps": {name: statistics.median(dict(f.phases).get(name, 0.0) for f in whole) for name in WHOLE_STEPS.values()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-requests", type=int, default=18288, help="text requests at zero latency (the issue's size)")
    parser.add_argument("--audio-requests", type=int, default=4648, help="audio requests at zero latency (the issue's size; rounded up to whole items: 4656)")
    parser.add_argument("--latent-requests", type=int, default=480, help="requests per case at a non-zero latency")
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.2])
    parser.add_argument("--cases", nargs="+", choices=["text", "audio"], default=["text", "audio"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--peer-payloads", choices=["per-request", "in-memory"], default="per-request",
        help="the bare loop reads and base64-encodes each request's WAV clip (default), or holds every payload in memory",
    )
    parser.add_argument(
        "--peer-call", choices=["create", "post"], default="create",
        help="the bare loop calls client.chat.completions.create (default, what users write) or client.post with the JSON body, as biasbench does",
    )
    parser.add_argument(
        "--audio-format", choices=["flac", "wav"], default="flac",
        help="how biasbench stores its clips (flac: the default, decoded once per clip when sent; wav: sent as stored)",
    )
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = KEY
    from biasbench.voices.spec import load_pool

    voices = len(load_pool("demo_espeak", base_dir=Path.cwd()).voices)
    rows = []
    for latency in args.latencies:
        for case in args.cases:
            full = args.text_requests if case == "text" else args.audio_requests
            rows.append(measure_case(case, full if latency == 0 else args.latent_requests, latency, args, voices))
    print(f"\nmedians of {args.repeat} repeat(s); cpus={os.cpu_count()}; peer: {args.peer_call}, payloads {args.peer_payloads}; biasbench clips: {args.audio_format}; load = median 1-minute load average over the figures")
    header = (
        f"{'case':<6} {'requests':>8} {'conc':>4} {'latency':>7} {'bare s':>8} {'asking s':>8} {'whole s':>8} "
        f"{'ask/bare':>8} {'whole/bare':>10} {'cpu ask/bare':>12} {'cpu whole/bare':>14} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    failed = []
    for row in rows:
        print(
            f"{row['case']:<6} {row['requests']:>8} {args.concurrency:>4} {row['latency']:>7g} {row['bare']:>8.2f} {row['asking']:>8.2f} "
            f"{row['whole']:>8.2f} {row['asking_ratio']:>8.3f} {row['whole_ratio']:>10.3f} {row['asking_cpu_ratio']:>12.3f} "
            f"{row['whole_cpu_ratio']:>14.3f} {row['load']:>5.1f}"
        )
        if row["latency"] == 0:
            for phase, target in TARGETS.items():
                if row[f"{phase}_ratio"] > target:
                    failed.append(f"{row['case']} {phase}/bare {row[f'{phase}_ratio']:.3f} > {target}")
    print("\nwhole run, median wall seconds per step (plan, clip lookup, jobs, asking, table, scoring + report):")
    for row in rows:
        steps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in row["steps"].items())
        print(f"  {row['case']:<6} latency {row['latency']:g}: {steps} (whole {row['whole']:.2f})")
    print("targets at zero latency: asking/bare <= 1.10, whole/bare <= 1.15 ->", "PASS" if not failed else "FAIL: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
