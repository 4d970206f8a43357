"""Acceptance (issue 12): SIGKILL `biasbench run` in every phase, then resume.

One run directory against the loopback OpenAI-compatible server is killed during synthesis (espeak
pool workers alive), model calls, tables, scoring and report; each next start must begin within 5 s
(no lock left behind, no orphan workers), and the final run must hold exactly the planned rows, no
duplicates, and no logged answer sent twice.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import cli_command

from biasbench.runner.store import FLUSH_INTERVAL_S

pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
pytest.importorskip("espeakng_loader", reason="needs espeakng-loader to speak the test pool")

MODEL = "served-model"
PHASES = ("synthesis", "model calls", "tables", "scoring", "report")
RESUME_START_LIMIT_S = 5.0
ROW_IDENTITY = ["model", "task", "item_id", "voice_id", "modality", "permutation", "repeat"]


def write_config(folder: Path, base_url: str) -> Path:
    items = [
        {"id": "q1", "question": "What is the capital of France?", "choices": ["Berlin", "Paris", "Madrid", "Rome"], "answer": 1},
        {"id": "q2", "question": "How many legs does a spider have?", "choices": ["Six", "Four", "Eight", "Ten"], "answer": 2},
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    (folder / "task.yaml").write_text(
        yaml.safe_dump(
            {
                "kind": "multiple_choice", "version": "1", "description": "kill test items", "path": "items.jsonl",
                "columns": {"id": "id", "question": "question", "choices": "choices", "answer": "answer"},
                "answer_format": "index", "rendering": "full", "instruction": "Answer with the letter ({letters}) only.",
                "modalities": ["audio", "text"], "rotations": 1,
            }
        )
    )
    config = {
        "pool": "demo_espeak",
        "tasks": ["task.yaml"],
        "models": [{"name": "m", "adapter": "openai-compatible", "params": {"model": MODEL, "base_url": base_url}}],
        "modalities": ["audio", "text"],
        "seed": 0,
        "concurrency": 2,
        "tts_workers": 2,
        "understanding": {"enabled": False},  # its transcription requests are not the planned rows counted here
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def read_manifest(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def log_lines(run_dir: Path) -> int:
    try:
        return len((run_dir / "responses.jsonl").read_bytes().splitlines())
    except OSError:
        return 0


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start(config: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cli_command("run", str(config), "--out", str(out), "-q"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def wait_started(out: Path, index: int, process: subprocess.Popen, began: float) -> float:
    """Seconds until invocation ``index`` is recorded as running (the lock is taken, the history written)."""
    while time.monotonic() - began < 60:
        manifest = read_manifest(out)
        invocations = manifest["invocations"] if manifest else []
        if len(invocations) > index and invocations[index]["status"] in ("running", "complete"):
            return time.monotonic() - began
        if process.poll() is not None:
            pytest.fail(f"run exited with {process.returncode} before starting: {process.stderr.read()}")
        time.sleep(0.005)
    pytest.fail("the run did not start within 60 s")


def reached(out: Path, index: int, target: str, log_before: int, pid: int) -> str | None:
    """The phase invocation ``index`` is in, once it is at (or past) ``target`` and ready to be killed there."""
    manifest = read_manifest(out)
    if not manifest or len(manifest["invocations"]) <= index:
        return None
    phase = manifest["invocations"][index].get("phase", "")
    order = {name: i for i, name in enumerate(("", *PHASES, "done"))}
    if order.get(phase, 0) < order[target]:
        return None
    if phase == target == "synthesis" and len(children_of(pid)) < 2:
        return None  # wait for the pool workers, so the kill leaves would-be orphans
    if phase == target == "model calls" and log_lines(out) < log_before + 3:
        return None  # kill mid-way through the calls
    return phase


def test_sigkill_in_every_phase_then_resume(tmp_path):
    from biasbench.testing.openai_server import OpenAITestServer

    out = tmp_path / "run"
    killed_in: list[str] = []
    starts: list[float] = []
    leftovers: list[int] = []
    with OpenAITestServer(models=(MODEL,), api_key=None, latency_s=0.1) as server:
        config = write_config(tmp_path, server.base_url)
        index = 0
        for target in PHASES:
            for _ in range(3):  # a phase can be over before the poll sees it: try again on the next invocation
                began = time.monotonic()
                process = start(config, out)
                starts.append(wait_started(out, index, process, began))
                log_before = log_lines(out)
                phase = None
                while phase is None and process.poll() is None:
                    phase = reached(out, index, target, log_before, process.pid)
                    time.sleep(0.002)
                assert process.poll() is None, f"run ended before phase {target}: {process.stderr.read()}"
                workers = children_of(process.pid)
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                process.stderr.close()
                leftovers += [pid for pid in workers if _outlives(pid)]
                killed_in.append(phase)
                index += 1
                if phase == target:
                    break
        began = time.monotonic()
        final = start(config, out)
        starts.append(wait_started(out, index, final, began))
        _, err = final.communicate(timeout=120)
        answered = Counter(server.log.answered)

    assert final.returncode == 0, err
    assert set(PHASES) <= set(killed_in), f"killed in {killed_in}"
    assert not leftovers, f"worker processes outlived the killed run: {leftovers}"
    assert max(starts) < RESUME_START_LIMIT_S, f"start times {starts}"
    manifest = read_manifest(out)
    history = manifest["invocations"]
    assert [i["status"] for i in history] == ["interrupted"] * len(killed_in) + ["complete"]
    assert [i["phase"] for i in history[:-1]] == killed_in and manifest["status"] == "complete"
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == manifest["planned_rows"] == 2 * 12 + 2
    assert not results.duplicated(ROW_IDENTITY).any() and (results.outcome != "error").all()
    lines = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    ok_per_key = Counter(line["key"] for line in lines if line["response"].get("error") is None)
    assert set(ok_per_key.values()) == {1}, "a logged answer was asked for again"
    assert len(ok_per_key) == len(set(results.response_key))
    # lost at the kill: at most the requests in flight (concurrency 2) and the answers buffered for the
    # log's next batch (the last FLUSH_INTERVAL_S seconds: 2 requests per 0.1 s latency)
    assert sum(answered.values()) <= len(ok_per_key) + 2 + math.ceil(2 / 0.1 * FLUSH_INTERVAL_S)
    assert (out / "report.xlsx").is_file() and (out / "scores" / "summary.parquet").is_file()


def _outlives(pid: int, grace_s: float = 3.0) -> bool:
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return False
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)  # a process this test started (a worker of its run): do not leak it
    return True
