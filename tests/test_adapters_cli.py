"""Adapter-facing CLI: estimate-cost, one-line errors (exit 2), and no API key in any file a run writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from biasbench.cli import main

SNAPSHOT = "gpt-4o-audio-preview-2025-06-03"
KEY = "sk-scan-me-4b1d9e0c7a"

POOL = """\
description: two espeak voices (test pool)
purpose: demonstration
axes: [gender]
values: {gender: [female, male]}
min_per_cell: 1
max_per_cell: 1
engine: espeak
label_source: designed
corpus: espeak-ng presets
license: GPL-3.0-or-later
voices:
  - {id: f1, preset: en-us+f3, labels: {gender: female}}
  - {id: m1, preset: en-us+m3, labels: {gender: male}}
"""
TASK = """\
kind: multiple_choice
version: "1"
description: two test questions
path: items.jsonl
columns: {id: id, question: question, choices: choices, answer: answer}
answer_format: index
rendering: full
instruction: "Answer with the letter of the correct option ({letters}) only."
modalities: [audio, text]
rotations: 1
"""
ITEMS = (
    '{"id": "q1", "question": "What is the capital of France?", "choices": ["Berlin", "Paris", "Madrid", "Rome"], "answer": 1}\n'
    '{"id": "q2", "question": "How many legs does a spider have?", "choices": ["Six", "Four", "Eight", "Ten"], "answer": 2}\n'
)


def write_config(folder: Path, models: str, modalities: str = "[audio, text]", extra: str = "") -> Path:
    (folder / "pool.yaml").write_text(POOL)
    (folder / "task.yaml").write_text(TASK)
    (folder / "items.jsonl").write_text(ITEMS)
    config = folder / "run.yaml"
    config.write_text(f"pool: pool.yaml\ntasks: [task.yaml]\nmodalities: {modalities}\n{extra}models:\n{models}")
    return config


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_estimate_cost_prints_an_upper_bound_per_model(tmp_path, capsys):
    config = write_config(
        tmp_path,
        f"  - {{name: gpt, adapter: openai-audio, params: {{model: {SNAPSHOT}}}}}\n  - {{name: sim, adapter: simulated}}\n",
        extra="generation: {max_new_tokens: 8}\nmax_cost_usd: 0.000001\n",
    )
    from biasbench.runner.cost_estimate import estimate_run
    from biasbench.config import load_config

    estimates = {e.model: e for e in estimate_run(load_config(config), tmp_path)}
    assert estimates["gpt"].requests == 6 and estimates["gpt"].usd > 0 and estimates["sim"].usd == 0
    assert estimates["gpt"].audio_seconds > 0
    code, out, _ = run_cli(capsys, "estimate-cost", str(config))
    assert code == 0
    assert f"{estimates['gpt'].usd:.2f}" in out and "upper bound" in out and "exceeds max_cost_usd" in out


@pytest.mark.parametrize(
    "models, fragment",
    [
        ("  - {name: m, adapter: qwen2audio}\n", "did you mean 'qwen2-audio'"),
        (f"  - {{name: m, adapter: openai-audio, params: {{model: {SNAPSHOT}}}}}\n", "OPENAI_API_KEY is not set"),
        ("  - {name: m, adapter: openai-compatible, params: {model: x, base_url: 'http://127.0.0.1:9/v1'}}\n", "cannot reach http://127.0.0.1:9/v1"),
        ("  - {name: m, adapter: openai-audio, params: {model: gpt-4o-audio-preview}}\n", "not a dated snapshot"),
    ],
)
def test_adapter_problems_are_one_line_errors_with_exit_2(tmp_path, capsys, monkeypatch, models, fragment):
    pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = write_config(tmp_path, models, modalities="[text]")
    code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    assert code == 2 and fragment in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_a_missing_extra_is_an_install_hint_with_exit_2(tmp_path):
    shim = tmp_path / "shim" / "openai"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('openai is not installed (test shim)')\n")
    config = write_config(tmp_path, f"  - {{name: m, adapter: openai-audio, params: {{model: {SNAPSHOT}}}}}\n", modalities="[text]")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shim"), OPENAI_API_KEY=KEY, HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "biasbench", "run", str(config), "--out", str(tmp_path / "out"), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'biasbench[openai]'" in result.stderr and "Traceback" not in result.stderr


def texts_of(path: Path) -> list[bytes]:
    """Every byte string a file holds, unpacking zip containers (xlsx) and parquet tables."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [data] + [archive.read(name) for name in archive.namelist()]
    if path.suffix == ".parquet":
        import pandas as pd

        return [data, pd.read_parquet(path).to_csv().encode()]
    return [data]


def test_no_file_a_run_writes_contains_the_api_key(tmp_path, capsys, monkeypatch):
    pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
    pytest.importorskip("espeakng_loader", reason="needs espeakng-loader to speak the test pool")
    from biasbench.testing.openai_server import OpenAITestServer

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAITestServer(models=(SNAPSHOT,), api_key=KEY, fault_rate=0.3, faults=("429", "500"), retry_after_s=0.01) as server:
        models = f"  - {{name: gpt, adapter: openai-audio, params: {{model: {SNAPSHOT}, base_url: '{server.base_url}', backoff_initial_s: 0.01}}}}\n"
        config = write_config(tmp_path, models)
        out = tmp_path / "out"
        code, stdout, err = run_cli(capsys, "run", str(config), "--out", str(out), "-q")
        assert code == 0, err
        answered = sum(server.log.answered.values())
    files = [p for p in out.rglob("*") if p.is_file()]
    transcripts = out / "understanding" / "transcripts.jsonl"
    transcribed = len(transcripts.read_text().splitlines()) if transcripts.is_file() else 0
    # 6 planned rows + one transcribe request per clip the understanding step actually asked
    assert (out / "responses.jsonl").is_file() and (out / "manifest.json").is_file() and answered == 6 + transcribed
    leaks = [str(p.relative_to(out)) for p in files if any(KEY.encode() in blob for blob in texts_of(p))]
    assert leaks == []
    assert KEY not in stdout and KEY not in err


def test_validate_reports_adapter_rules_beyond_the_schema(tmp_path, capsys):
    config = write_config(
        tmp_path,
        "  - {name: a, adapter: openai-audio, params: {model: gpt-4o-audio-preview}}\n"
        "  - {name: b, adapter: openai-compatible, params: {model: x}}\n",
        modalities="[text]",
    )
    code, _, err = run_cli(capsys, "validate", str(config))
    assert code == 2 and "not a dated snapshot" in err and "needs params.base_url" in err


def test_max_cost_usd_stops_the_run_cleanly_and_keeps_finished_rows(tmp_path, capsys, monkeypatch):
    pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
    pytest.importorskip("espeakng_loader", reason="needs espeakng-loader to speak the test pool")
    from biasbench.testing.openai_server import OpenAITestServer

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAITestServer(models=(SNAPSHOT,), api_key=KEY) as server:
        models = f"  - {{name: gpt, adapter: openai-audio, params: {{model: {SNAPSHOT}, base_url: '{server.base_url}'}}}}\n"
        extra = "max_cost_usd: 0.005\nconcurrency: 4\nreport: false\ngeneration: {max_new_tokens: 8}\n"
        config = write_config(tmp_path, models, extra=extra)
        code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    lines = (tmp_path / "out" / "responses.jsonl").read_text().splitlines()
    assert code == 3 and "max_cost_usd" in err
    spent = sum(json.loads(line)["response"]["cost_usd"] for line in lines)
    assert 0 < spent <= 0.005  # requests in flight hold a reservation: the cap is never passed
    assert 1 <= len(lines) < 6  # finished rows kept, the rest not asked


def _understanding_run(tmp_path: Path, capsys, extra: str) -> tuple[int, dict, int, float]:
    from biasbench.testing.openai_server import OpenAITestServer

    with OpenAITestServer(models=(SNAPSHOT,), api_key=KEY) as server:
        models = f"  - {{name: gpt, adapter: openai-audio, params: {{model: {SNAPSHOT}, base_url: '{server.base_url}'}}}}\n"
        config = write_config(tmp_path, models, extra="report: false\ngeneration: {max_new_tokens: 8}\n" + extra)
        code, _, err = run_cli(capsys, "run", str(config), "--out", str(tmp_path / "out"), "-q")
        answered = sum(server.log.answered.values())
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    transcripts = tmp_path / "out" / "understanding" / "transcripts.jsonl"
    costs = [json.loads(line)["cost_usd"] for line in transcripts.read_text().splitlines()] if transcripts.is_file() else []
    return answered, manifest["understanding"], len(costs), sum(costs)


def test_a_priced_adapter_is_not_asked_for_transcripts_unless_opted_in_and_within_budget(tmp_path, capsys, monkeypatch):
    """The understanding step's transcribe requests are API spending: off for priced adapters by default
    (said in the manifest), asked when opted in, and counted in the budget."""
    pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
    pytest.importorskip("espeakng_loader", reason="needs espeakng-loader to speak the test pool")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "default").mkdir()
    answered, record, n, _ = _understanding_run(tmp_path / "default", capsys, "")
    assert answered == 6 and n == 0 and record["transcribed"] == []
    assert len(record["skipped"]) == 1 and "gpt" in record["skipped"][0] and "transcribe_priced" in record["skipped"][0]
    from biasbench.reports.run_report import write_run_report

    write_run_report(tmp_path / "default" / "out")
    assert record["skipped"][0] in (tmp_path / "default" / "out" / "summary.md").read_text()  # the summary says so too
    (tmp_path / "opted").mkdir()
    answered, record, n, cost = _understanding_run(
        tmp_path / "opted", capsys, "max_cost_usd: 5\nunderstanding: {transcribe_priced: true}\n")
    assert record == {"transcribed": ["gpt"], "skipped": []}
    assert n == 4 and answered == 6 + 4 and cost > 0  # 2 items x 2 voices, one request per clip, priced
    signal = (tmp_path / "opted" / "out" / "understanding.csv").read_text().splitlines()
    assert len(signal) == 1 + 4 and all(",model," in line for line in signal[1:])


def test_transcribe_decision_keeps_priced_requests_inside_the_budget():
    from biasbench.config import UnderstandingConfig
    from biasbench.runner.understanding import transcribe_decision

    opted = UnderstandingConfig(transcribe_priced=True)
    assert transcribe_decision("local", 0.0, UnderstandingConfig(), 0.01, 0.01) == ""  # free: always asked
    assert "transcribe_priced" in transcribe_decision("api", 0.5, UnderstandingConfig(), None, 0.0)
    assert transcribe_decision("api", 0.5, opted, None, 0.0) == "" and transcribe_decision("api", 0.5, opted, 1.0, 0.5) == ""
    assert "would pass max_cost_usd=1.0" in transcribe_decision("api", 0.5, opted, 1.0, 0.6)
