"""Progress for every stage of a run, an overall bar that counts earlier work on resume, and a terminal
summary that fits the width without cutting names (issue 16, item 3)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console

from biasbench.cli import main
from biasbench.cli.runs import print_summary
from biasbench.config import load_config
from biasbench.pipeline import run_experiment
from biasbench.runner.progress import OVERALL, ProgressEvent, RunProgress

SIM = {"adapter": "simulated", "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.6}, "seed": 0}}
CHEAP_AUDIT = {"enabled": True, "params": {"asr": False, "similarity": False, "texts": "run", "texts_per_voice": 1}}


def write_config(tmp: Path, **overrides) -> Path:
    config = {
        "name": "progress-test", "pool": "demo_espeak", "tasks": ["demo_mc"], "models": [{"name": "sim", **SIM}],
        "modalities": ["audio", "text"], "seed": 0, "limit": 2, "audit": CHEAP_AUDIT, "report": True,
    }
    config.update(overrides)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_recorded(path: Path, out: Path) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    run_experiment(load_config(path), out, path.parent, show_progress=False, echo=lambda line: None, progress_listener=events.append)
    return events


def test_every_stage_reports_progress_and_the_overall_bar_ends_full(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    events = run_recorded(path, tmp_path / "run")
    stages = list(dict.fromkeys(e.stage for e in events))
    assert [s for s in stages if s != OVERALL] == ["synthesis", "model sim", "audit", "understanding", "scoring", "report"]
    for stage in stages:
        last = [e for e in events if e.stage == stage][-1]
        assert last.completed == last.total > 0, stage
    overall = [e for e in events if e.stage == OVERALL]
    assert overall[0].completed == 0  # a fresh directory: nothing done before
    assert [e.completed for e in overall] == sorted(e.completed for e in overall)
    clips = [e for e in events if e.stage == "synthesis"][-1].total
    calls = [e for e in events if e.stage == "model sim"][-1].total
    assert overall[0].total == clips + calls + 4  # audit, understanding, scoring, report


def test_a_resumed_runs_overall_bar_starts_at_what_earlier_invocations_finished(tmp_path: Path) -> None:
    path = write_config(tmp_path, audit={"enabled": False}, report=False)
    out = tmp_path / "run"
    first = run_recorded(path, out)
    clips = [e for e in first if e.stage == "synthesis"][-1].total
    calls = [e for e in first if e.stage == "model sim"][-1].total
    log = out / "responses.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    kept = len(lines) // 2  # as if the first invocation had been killed half-way through the model calls
    log.write_text("".join(lines[:kept]))

    events = run_recorded(path, out)
    overall = [e for e in events if e.stage == OVERALL]
    assert overall[0].total == clips + calls + 2  # understanding, scoring
    assert overall[0].completed == clips + kept  # every clip cached, half the answers logged
    model = [e for e in events if e.stage == "model sim"]
    assert model[0].total == calls - kept  # the model bar shows the remaining calls
    assert overall[-1].completed == overall[-1].total
    synthesis = [e.completed for e in events if e.stage == "synthesis"]
    assert synthesis == [0, clips]  # the bar opens, then every cached clip arrives at once


def test_progress_events_without_bars_and_bars_only_when_enabled() -> None:
    events: list[ProgressEvent] = []
    with RunProgress(enabled=False, listener=events.append) as progress:
        progress.overall(10, 4, already={"synthesis": 3})
        synthesis = progress.add("synthesis", 5)
        synthesis(0, completed=3)  # the cached clips: already counted on the overall bar
        synthesis(0, completed=5)
        with progress.stage("scoring"):
            pass
    overall = [e.completed for e in events if e.stage == OVERALL]
    assert overall == [4, 6, 7]
    screen = io.StringIO()
    with RunProgress(enabled=True, console=Console(file=screen, width=100, force_terminal=True)) as progress:
        progress.overall(2)
        progress.add("model m", 2)(2)
    assert "overall" in screen.getvalue() and "model m" in screen.getvalue()


def test_quiet_run_draws_no_bars(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path, audit={"enabled": False}, report=False, understanding={"enabled": False})
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q"]) == 0
    quiet = capsys.readouterr().out
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0  # resumed: every stage up to date
    loud = capsys.readouterr().out
    assert "overall" not in quiet and "━" not in quiet
    assert "overall" in loud


def summary_table(models: list[str], tasks: list[str]) -> pd.DataFrame:
    rows = []
    for model in models:
        for task in tasks:
            for grouping, group in (("overall", "__all__"), ("gender", "female"), ("accent", "en-029")):
                rows.append({
                    "model": model, "task": task, "modality": "audio", "grouping": grouping, "group": group,
                    "metric": "accuracy", "value": 0.8125, "ci_low": 0.61, "ci_high": 0.94, "n_rows": 1234,
                    "n_voices": 12, "status": "ok",
                })
    return pd.DataFrame(rows)


def test_summary_fits_the_terminal_width_without_cutting_names() -> None:
    names = ["simulated-planted", "whisper-tiny.en"]
    tasks = ["demo_transcription", "demo_mc"]
    table = summary_table(names, tasks)
    for width in (80, 110):
        console = Console(width=width, record=True, file=io.StringIO())
        print_summary(table, console)
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        for name in names + tasks:
            assert name in text, (width, name)  # whole, not cut to 'demo_transcripti'
    claims = pd.DataFrame([{
        "model": "simulated-planted", "task": "demo_transcription", "metric": "accuracy", "axis": "accent",
        "verdict": "clear gap", "worst_group": "en-029", "gap": 0.25, "ci_low": 0.1, "ci_high": 0.4, "p_adjusted": 0.01,
    }])
    console = Console(width=80, record=True, file=io.StringIO())
    print_summary({"summary": table, "headline": claims}, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "claims" in text and "demo_transcription" in text and "simulated-planted" in text and "clear" in text
    wide = Console(width=140, record=True, file=io.StringIO())
    print_summary(table, wide)
    assert "voices" in wide.export_text() and "left out" not in wide.export_text()
