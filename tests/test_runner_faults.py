"""The run directory under faults (issue 12): one configuration per directory, exit codes that tell the
truth, a circuit breaker, a budget never passed, Ctrl-C recorded, no lock held by a dead run's children."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import cli_command

from biasbench.cli import main
from biasbench.core.rundir import EXIT_CODES, RunDir
from biasbench.runner.lock import RunLock

MODEL = "served-model"
N_ITEMS = 90


def write_task(folder: Path, n_items: int) -> Path:
    items = folder / "items.jsonl"
    with items.open("w") as handle:
        for i in range(n_items):
            handle.write(json.dumps({"id": f"q{i}", "question": f"Question number {i}?", "choices": ["a", "b", "c", "d"], "answer": i % 4}) + "\n")
    spec = folder / "task.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "kind": "multiple_choice", "version": "1", "description": "fault test items", "path": "items.jsonl",
                "columns": {"id": "id", "question": "question", "choices": "choices", "answer": "answer"},
                "answer_format": "index", "rendering": "full", "instruction": "Answer with the letter ({letters}) only.",
                "modalities": ["text"], "rotations": 1,
            }
        )
    )
    return spec


def write_config(folder: Path, model: dict, **extra) -> Path:
    write_task(folder, extra.pop("n_items", N_ITEMS))
    config = {"pool": "demo_espeak", "tasks": ["task.yaml"], "models": [model], "modalities": ["text"], "seed": 0, "report": False, **extra}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def api_model(base_url: str, **params) -> dict:
    return {
        "name": "m", "adapter": "openai-compatible",
        "params": {"model": MODEL, "base_url": base_url, "max_attempts": 1, "backoff_initial_s": 0.0, **params},
    }


def sim_model(**params) -> dict:
    return {"name": "sim", "adapter": "simulated", "params": {"seed": 0, **params}}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


# ----- a directory belongs to one configuration ------------------------------------------------------
@pytest.fixture()
def finished(tmp_path) -> tuple[Path, Path]:
    config = write_config(tmp_path, sim_model(), n_items=6)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    return config, out


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"seed": 7}, "seed"),
        ({"generation": {"temperature": 0.7}}, "generation.temperature"),
        ({"tasks": ["demo_mc"]}, "tasks"),
    ],
)
def test_a_changed_output_setting_is_refused_with_one_line(finished, capsys, change, key):
    config, out = finished
    before = (out / "responses.jsonl").read_text()
    data = yaml.safe_load(config.read_text()) | change
    config.write_text(yaml.safe_dump(data))
    code, _, err = run_cli(capsys, "run", str(config), "--out", str(out), "-q")
    assert code == 2 and "different configuration" in err and key in err and "--new" in err
    assert err.strip().count("\n") == 0
    assert (out / "responses.jsonl").read_text() == before  # nothing asked, nothing appended
    assert len(manifest(out)["invocations"]) == 1


def test_the_same_config_resumes_and_non_output_settings_may_change(finished, capsys):
    config, out = finished
    code, stdout, _ = run_cli(capsys, "run", str(config), "--out", str(out), "-q", "--concurrency", "3", "--batch-size", "2")
    assert code == 0 and "0 model calls" in stdout
    invocations = manifest(out)["invocations"]
    assert [i["status"] for i in invocations] == ["complete", "complete"]
    assert invocations[1]["rows_from_log"] == invocations[1]["rows_total"] > 0


def test_new_starts_a_fresh_directory(finished, capsys):
    config, out = finished
    code, stdout, _ = run_cli(capsys, "run", str(config), "--out", str(out), "-q", "--seed", "3", "--new")
    assert code == 0 and f"fresh run directory {out}-2" in stdout
    assert manifest(out.with_name("out-2"))["seed"] == 3 and manifest(out)["seed"] == 0


# ----- failures before the first answer, and a breaker after it ----------------------------------------
def test_an_unreachable_endpoint_fails_with_the_connection_error_in_one_line(tmp_path, capsys):
    pytest.importorskip("openai")
    config = write_config(tmp_path, api_model("http://127.0.0.1:9/v1", preflight=False), n_items=40)
    code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    assert code == EXIT_CODES["failed"], err
    assert err.strip().count("\n") == 0 and "All connection attempts failed" in err and "0 of 40 planned rows answered" in err
    assert "ByCell" not in err and "Traceback" not in err
    meta = manifest(tmp_path / "out")
    assert meta["status"] == "failed" and meta["invocations"][-1]["model_calls"] <= 25 + 16


def test_an_endpoint_that_dies_after_50_answers_trips_the_breaker_and_keeps_them(tmp_path, capsys):
    pytest.importorskip("openai")
    from biasbench.runner.executor import CONSECUTIVE_FAILURE_LIMIT
    from biasbench.testing.openai_server import OpenAITestServer

    with OpenAITestServer(models=(MODEL,), api_key=None, fail_after=50) as server:
        config = write_config(tmp_path, api_model(server.base_url), concurrency=4)
        started = time.perf_counter()
        code, stdout, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
        elapsed = time.perf_counter() - started
        sent = len(server.log.requests)
    assert code == EXIT_CODES["incomplete"], err
    assert "40 of 90 planned rows missing" in err and "in a row failed after 50 answers" in err
    # The breaker's contract, read from the log (written in the order answers came back): it trips on the
    # LIMIT-th failure in a row, and only the requests then in flight (concurrency - 1) finish after it.
    # A late 50th answer can land after a few failures and restart the count, so no fixed total is exact.
    failed = [json.loads(line)["response"]["error"] is not None for line in (tmp_path / "out" / "responses.jsonl").read_text().splitlines()]
    trailing = len(failed) - 1 - max(i for i, bad in enumerate(failed) if not bad)
    assert CONSECUTIVE_FAILURE_LIMIT <= trailing <= CONSECUTIVE_FAILURE_LIMIT + 3
    assert sent == len(failed) < N_ITEMS  # every request sent was logged; the run stopped before the end
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(results) == N_ITEMS and int((results.outcome != "error").sum()) == 50
    meta = manifest(tmp_path / "out")
    assert meta["status"] == "incomplete" and "50 answers" in meta["missing_reason"]
    assert meta["invocations"][-1]["rows_unanswered"] == 40 and "40 missing" in stdout
    assert elapsed < 30


def test_an_incomplete_run_says_so_in_its_summary(tmp_path, capsys):
    pytest.importorskip("openai")
    from biasbench.testing.openai_server import OpenAITestServer

    with OpenAITestServer(models=(MODEL,), api_key=None, fail_after=30) as server:
        config = write_config(tmp_path, api_model(server.base_url), concurrency=2, n_items=60, report=True)
        code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    assert code == EXIT_CODES["incomplete"], err
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Incomplete run — 30 of 60 planned rows missing" in summary


# ----- the cost cap holds with requests in flight --------------------------------------------------------
def test_budget_reserves_requests_in_flight(tmp_path, capsys):
    pytest.importorskip("openai")
    from biasbench.testing.openai_server import OpenAITestServer

    prices = {"input_text": 2.5, "input_audio": 40.0, "output_text": 10.0}
    with OpenAITestServer(models=(MODEL,), api_key=None, latency_s=0.05) as server:
        config = write_config(
            tmp_path, api_model(server.base_url, prices=prices), concurrency=16, max_cost_usd=0.002, generation={"max_new_tokens": 8}
        )
        code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    spent = sum(json.loads(line)["response"]["cost_usd"] for line in (tmp_path / "out" / "responses.jsonl").read_text().splitlines())
    assert code == EXIT_CODES["budget"] and "max_cost_usd" in err
    assert 0 < spent <= 0.002


# ----- Ctrl-C and killed invocations -------------------------------------------------------------------------
def _sigint_as(disposition: signal.Handlers):
    """A child's SIGINT as a terminal gives it (SIG_DFL: Ctrl-C works), or as a script's background job
    inherits it (SIG_IGN), whatever this test process was started with."""
    return lambda: signal.signal(signal.SIGINT, disposition)


@pytest.mark.parametrize(
    ("signum", "sigint"),
    [(signal.SIGINT, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_IGN)],
    ids=["ctrl-c", "sigterm", "sigterm-in-a-background-job"],
)
def test_ctrl_c_records_the_invocation_writes_the_table_and_prints_the_hint(tmp_path, signum, sigint):
    pytest.importorskip("openai")
    from biasbench.testing.openai_server import OpenAITestServer

    with OpenAITestServer(models=(MODEL,), api_key=None, latency_s=0.1) as server:
        config = write_config(tmp_path, api_model(server.base_url), concurrency=2)
        out = tmp_path / "out"
        process = subprocess.Popen(
            cli_command("run", str(config), "--out", str(out), "-q"), stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_as(sigint)
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "responses.jsonl"
            if log.exists() and len(log.read_text().splitlines()) >= 6:
                break
            time.sleep(0.02)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        kept = int((pd.read_parquet(out / "results.parquet").outcome != "error").sum())
        resumed = subprocess.run(cli_command("run", str(config), "--out", str(out), "-q"), capture_output=True, text=True, timeout=120)
    assert process.returncode == 130, err
    assert "interrupted:" in err and "run the same command again to resume" in err and "Traceback" not in err
    interrupted, final = manifest(out)["invocations"]
    assert interrupted["status"] == "interrupted" and interrupted["phase"] == "model calls", (interrupted, err)
    assert kept >= 6 and kept == interrupted["rows_total"] - interrupted["rows_unanswered"]
    assert resumed.returncode == 0, resumed.stderr
    assert final["status"] == "complete" and final["rows_from_log"] == kept  # the interrupted invocation's rows count as earlier
    assert final["model_calls"] == N_ITEMS - kept


def test_a_killed_invocation_is_found_and_recorded_on_the_next_start(finished, capsys):
    config, out = finished
    run = RunDir(out)
    meta = run.manifest()
    killed = meta.invocations[-1].model_copy(update={"status": "running", "finished": "", "phase": "model calls", "index": 1})
    run.write_manifest(meta.model_copy(update={"invocations": [*meta.invocations, killed], "status": "running"}))
    code, stdout, _ = run_cli(capsys, "run", str(config), "--out", str(out), "-q")
    assert code == 0 and "1 earlier invocation(s) were killed" in stdout
    statuses = [(i["index"], i["status"]) for i in manifest(out)["invocations"]]
    assert statuses == [(0, "complete"), (1, "interrupted"), (2, "complete")]


# ----- the lock ------------------------------------------------------------------------------------------
def _sleep(started, seconds: float) -> None:
    started.set()
    time.sleep(seconds)


def test_forked_workers_never_hold_the_run_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    lock = RunLock(tmp_path)
    lock.acquire()
    started = context.Event()
    child = context.Process(target=_sleep, args=(started, 30))
    child.start()
    try:
        assert started.wait(10)
        os.close(lock._fd)  # the run dies without unlocking; only its forked child lives on
        from biasbench.runner import lock as lock_module

        lock_module._HELD.discard(lock._fd)
        lock._fd = None
        again = RunLock(tmp_path)
        again.acquire()  # would raise RunLockedError if the child had inherited the lock
        again.release()
    finally:
        child.kill()
        child.join()


def test_a_lock_held_by_an_orphan_of_a_dead_run_is_stale(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'999999999'); print('locked', flush=True); time.sleep(60)",
         str(RunDir(tmp_path).lock_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with RunLock(tmp_path):  # pid 999999999 is dead: the lock is stale, not "another process"
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_live_holder_is_still_refused(tmp_path):
    from biasbench.core.errors import RunLockedError

    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('locked', flush=True); time.sleep(60)",
         str(RunDir(tmp_path).lock_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_children_die_with_their_parent(tmp_path):
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import os, time; from biasbench.core.lifecycle import die_with_parent; "
        "die_with_parent(int(os.sys.argv[1])); print(os.getpid(), flush=True); time.sleep(60)', str(os.getpid())], stdout=subprocess.PIPE, text=True)\n"
        "print(child.stdout.readline().strip(), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child_pid}/stat").exists() and Path(f"/proc/{child_pid}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


# ----- derived outputs never stale --------------------------------------------------------------------------
def test_report_refuses_when_results_vanished_or_changed(finished, capsys):
    config, out = finished
    assert main(["score", str(out)]) == 0
    capsys.readouterr()
    results = out / "results.parquet"
    frame = pd.read_parquet(results)
    frame.loc[0, "outcome"] = "invalid"
    time.sleep(0.01)
    frame.to_parquet(results, index=False)
    os.utime(results, None)
    code, _, err = run_cli(capsys, "report", str(out), "--no-plots")
    assert code == 2 and "older than results.parquet" in err
    results.unlink()
    (out / "results.csv").unlink()
    code, _, err = run_cli(capsys, "report", str(out), "--no-plots")
    assert code == 2 and "no results table" in err


def test_leaderboard_refuses_runs_whose_task_asked_different_items(tmp_path, capsys):
    runs = []
    for n_items in (4, 6):
        folder = tmp_path / f"n{n_items}"
        folder.mkdir()
        config = write_config(folder, sim_model(), n_items=n_items)
        assert main(["run", str(config), "--out", str(folder / "run"), "-q"]) == 0
        runs.append(str(folder / "run"))
    assert manifest(Path(runs[0]))["tasks"][0]["version"] == manifest(Path(runs[1]))["tasks"][0]["version"]
    capsys.readouterr()
    code, _, err = run_cli(capsys, "leaderboard", *runs, "--out", str(tmp_path / "board"))
    assert code == 2 and "asked different content" in err and err.strip().count("\n") == 0


def test_a_capped_concurrency_is_said_in_one_line(tmp_path):
    from biasbench.config import load_config
    from biasbench.runner.plan import load_plan
    from biasbench.runner.run import batching_notes

    config = write_config(tmp_path, api_model("http://127.0.0.1:9/v1", concurrency_per_key=16), n_items=2, concurrency=32)
    cfg = load_config(config)
    notes = batching_notes(cfg, load_plan(cfg, tmp_path))
    assert notes == [
        "model 'm': concurrency 32 is capped at 16 requests in flight (its params.concurrency_per_key owns the per-server limit; set it there)"
    ]
    uncapped = load_config(config, concurrency=8)
    assert batching_notes(uncapped, load_plan(uncapped, tmp_path)) == []
