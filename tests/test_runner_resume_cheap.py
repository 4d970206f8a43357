"""Cheap resume (issue 13, item 6): a finished run resumed leaves its tables, understanding and scores as they
are (bytes and modification times); any change to the answers, the items or the table files rebuilds them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from biasbench.cli import main
from biasbench.config import load_config
from biasbench.pipeline import run_experiment
from biasbench.runner.freshness import frame_digest, results_content_digest
from biasbench.runner.progress import OVERALL, ProgressEvent
from biasbench.core.rundir import RunDir

ITEMS = [
    {"id": f"q{i}", "question": f"Which number is {i} plus one?", "choices": [str(i + 1), str(i + 2), str(i + 3), str(i)], "answer": 0}
    for i in range(6)
]


def write_task(folder: Path, items: list[dict]) -> None:
    (folder / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    (folder / "task.yaml").write_text(yaml.safe_dump({
        "kind": "multiple_choice", "version": "1", "description": "cheap resume items", "path": "items.jsonl",
        "columns": {"id": "id", "question": "question", "choices": "choices", "answer": "answer"},
        "answer_format": "index", "rendering": "full", "instruction": "Answer with the letter ({letters}) only.",
        "modalities": ["audio", "text"], "rotations": 2,
    }))


def write_config(folder: Path, cache: Path) -> Path:
    write_task(folder, ITEMS)
    config = {
        "name": "cheap-resume", "pool": "demo_espeak", "voice_split": "eval", "tasks": ["task.yaml"],
        "models": [{"name": "sim", "adapter": "simulated",
                    "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.7, "en-029": 0.5}, "seed": 0}}],
        "modalities": ["audio", "text"], "seed": 0, "repeats": 2, "report": False, "cache_dir": str(cache),
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished run, resumed once so that its table is stamped by this version (the original for every test)."""
    tmp = tmp_path_factory.mktemp("cheap")
    config = write_config(tmp, tmp / "cache")
    out = tmp / "origin" / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    return config, out


def copy_run(finished: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """The finished run in a fresh folder; it keeps its name (its run id) and every file its modification
    time, so the copy's table is as current as the original's."""
    config, source = finished
    run_dir = tmp_path / source.name
    shutil.copytree(source, run_dir)  # copy2: times kept
    return config, run_dir


def snapshot(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of the tables, understanding.csv and every score file."""
    paths = [run_dir / "results.parquet", run_dir / "results.csv", run_dir / "understanding.csv", *sorted((run_dir / "scores").iterdir())]
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def invocations(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "manifest.json").read_text())["invocations"]


def test_a_finished_run_resumed_leaves_tables_understanding_and_scores_untouched(finished, tmp_path):
    config, run_dir = copy_run(finished, tmp_path)
    before = snapshot(run_dir)
    planned = json.loads((run_dir / "manifest.json").read_text())["planned_rows"]
    events: list[ProgressEvent] = []
    outcome = run_experiment(load_config(config), run_dir, config.parent, show_progress=False, echo=lambda line: None,
                             progress_listener=events.append)
    assert outcome.exit_code == 0 and outcome.table is None  # nothing rewritten ...
    assert snapshot(run_dir) == before  # ... byte for byte, modification times included
    last = invocations(run_dir)[-1]
    assert last["status"] == "complete" and last["phase"] == "done" and last["index"] == len(invocations(run_dir)) - 1
    assert (last["rows_total"], last["rows_from_log"], last["rows_unanswered"]) == (planned, planned, 0)
    assert last["model_calls"] == 0 and last["tts_calls"] == 0 and last["clips_cached"] > 0
    # the outcome still serves the table (read on demand), and the summary is the scored one
    pd.testing.assert_frame_equal(outcome.results, pd.read_parquet(run_dir / "results.parquet"))
    assert outcome.summary_tables is not None and not outcome.summary_tables["summary"].empty
    overall = [e for e in events if e.stage == OVERALL]
    assert overall[0].completed == overall[0].total - 2  # every clip and answer done; understanding, scoring left
    assert overall[-1].completed == overall[-1].total


def test_the_stamped_content_digest_is_the_digest_of_the_file(finished):
    _, run_dir = finished
    stamp = json.loads((run_dir / "manifest.json").read_text())["results_table"]
    assert stamp["content"] == frame_digest(pd.read_parquet(run_dir / "results.parquet")) == results_content_digest(RunDir(run_dir))


def test_one_new_answer_rewrites_the_table(finished, tmp_path):
    config, run_dir = copy_run(finished, tmp_path)
    log = run_dir / "responses.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    dropped = json.loads(lines[3])["key"]
    log.write_text("".join(lines[:3] + lines[4:]))  # one answer lost: the resume asks it again
    before = snapshot(run_dir)
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    assert invocations(run_dir)[-1]["model_calls"] == 1
    after = pd.read_parquet(run_dir / "results.parquet")
    assert (run_dir / "results.parquet").stat().st_mtime_ns != before["results.parquet"][1]
    assert (run_dir / "results.csv").stat().st_mtime_ns != before["results.csv"][1]
    asked_again = after[after["response_key"] == dropped]
    assert len(asked_again) == 1 and not asked_again["cached"].any() and after.drop(asked_again.index)["cached"].all()


@pytest.mark.parametrize("damage", ["delete csv", "truncate parquet", "delete parquet"])
def test_a_deleted_or_damaged_table_file_is_rebuilt(finished, tmp_path, damage):
    config, run_dir = copy_run(finished, tmp_path)
    original = pd.read_parquet(run_dir / "results.parquet")
    parquet, csv = run_dir / "results.parquet", run_dir / "results.csv"
    if damage == "delete csv":
        csv.unlink()
    elif damage == "delete parquet":
        parquet.unlink()
    else:
        parquet.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    assert invocations(run_dir)[-1]["model_calls"] == 0
    rebuilt = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(rebuilt.drop(columns="cached"), original.drop(columns="cached"))
    assert len(pd.read_csv(csv)) == len(original)


def test_a_corrected_answer_key_reparses_the_table(finished, tmp_path):
    config = write_config(tmp_path, finished[0].parent / "cache")  # its own task file, the module's clip cache
    run_dir = tmp_path / "run"
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    before = pd.read_parquet(run_dir / "results.parquet")
    corrected = [dict(item, answer=1) if item["id"] == "q2" else item for item in ITEMS]
    write_task(tmp_path, corrected)  # same prompts and version: the run directory still belongs to the config
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    assert invocations(run_dir)[-1]["model_calls"] == 0
    after = pd.read_parquet(run_dir / "results.parquet")
    changed = after["target"] != before["target"]
    assert set(after.loc[changed, "item_id"]) == {"q2"}
    assert changed.sum() == (before["item_id"] == "q2").sum()
