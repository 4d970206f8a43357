"""The runner's promises: resumable, append-only, locked, cached (acceptance of the foundation issue)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import cli_command

from biasbench.cli import main
from biasbench.runner.lock import RunLock

N_ITEMS_DEMO_MC = None  # taken from the plan in each test


def write_config(tmp: Path, **overrides) -> Path:
    config = {
        "name": "resume-test",
        "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 20}}],  # the first 20 items keep the test fast
        "models": [
            {
                "name": "sim",
                "adapter": "simulated",
                "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.6}, "seed": 0},
            }
        ],
        "modalities": ["audio", "text"],
        "seed": 0,
        "batch_size": 4,
        "report": False,
    }
    config.update(overrides)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def last_invocation(run_dir: Path) -> dict:
    return manifest(run_dir)["invocations"][-1]


def log_keys(run_dir: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (run_dir / "responses.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("finished")
    config = write_config(tmp)
    run_dir = tmp / "run"
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    return config, run_dir


def test_run_writes_the_tidy_table_and_manifest(finished_run):
    _, run_dir = finished_run
    results = pd.read_parquet(run_dir / "results.parquet")
    meta = manifest(run_dir)
    assert len(results) == meta["planned_rows"]
    assert set(results["modality"]) == {"audio", "text"}
    assert (results["outcome"] != "error").all()
    audio = results[results["modality"] == "audio"]
    # every audio item is heard in every voice of the pool
    assert audio.groupby("item_id")["voice_id"].nunique().eq(len(meta["voices_used"])).all()
    assert meta["seed"] == 0 and meta["packages"]["numpy"] and meta["platform"]["python"]
    assert last_invocation(run_dir)["model_calls"] == len(results)
    # only the clips the counterbalanced design needs are synthesized (one option order per voice and item)
    assert last_invocation(run_dir)["tts_calls"] == len(audio) == audio[["voice_id", "item_id"]].drop_duplicates().shape[0]


def test_rerun_makes_no_tts_and_no_model_calls(tmp_path, finished_run):
    config, source = finished_run
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(source), str(run_dir)], check=True)  # the module's run stays as first written
    before = pd.read_parquet(run_dir / "results.parquet")
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    stats = last_invocation(run_dir)
    assert stats["tts_calls"] == 0 and stats["model_calls"] == 0
    after = pd.read_parquet(run_dir / "results.parquet")
    assert after["cached"].all()
    pd.testing.assert_frame_equal(before.drop(columns="cached"), after.drop(columns="cached"))


def test_torn_last_line_is_dropped_and_recomputed(tmp_path, finished_run):
    config, source = finished_run
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(source), str(run_dir)], check=True)
    log = run_dir / "responses.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last write was cut off
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    assert last_invocation(run_dir)["model_calls"] == 1
    keys = log_keys(run_dir)
    assert len(keys) == len(set(keys)) == manifest(run_dir)["planned_rows"]


def test_kill_9_halfway_then_resume_recomputes_nothing_finished(tmp_path):
    # slow answers so the run is still going when it is killed
    config = write_config(
        tmp_path,
        models=[{"name": "sim", "adapter": "simulated", "params": {"axis": "accent", "planted": {"en-us": 0.9}, "latency_s": 0.01}}],
        batch_size=2,
    )
    run_dir = tmp_path / "run"
    process = subprocess.Popen(cli_command("run", str(config), "--out", str(run_dir), "--quiet"), stderr=subprocess.PIPE)
    log = run_dir / "responses.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_bytes().splitlines()) >= 40:
            break
        if process.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    answered_before = set(log_keys(run_dir)[:-1])  # the last line may be torn
    assert len(answered_before) >= 39
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    planned = manifest(run_dir)["planned_rows"]
    results = pd.read_parquet(run_dir / "results.parquet")
    assert len(results) == planned and results["response_key"].is_unique
    assert (results["outcome"] != "error").all()
    calls = last_invocation(run_dir)["model_calls"]
    assert planned - len(answered_before) - 1 <= calls <= planned - len(answered_before)
    keys = log_keys(run_dir)
    assert len(keys) == len(set(keys))  # nothing finished was asked twice


def test_second_concurrent_run_stops_with_a_clear_message(tmp_path, capsys):
    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        code = main(["run", str(config), "--out", str(run_dir), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "another biasbench process" in err and len(err.strip().splitlines()) == 1
