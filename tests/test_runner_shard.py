"""Sharded runs: two shards + merge equal one run (rows and scores); a missing or foreign shard is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from biasbench.cli import main
from biasbench.runner.shard import Shard, shard_of

IGNORED = ["run_id", "latency_s", "cached"]
"""Columns that say where and when an answer was obtained, not what it was."""


def write_config(tmp: Path, name: str = "config.yaml", **overrides) -> Path:
    config = {
        "name": "shard-test",
        "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 8}}],
        "models": [
            {
                "name": "sim",
                "adapter": "simulated",
                "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.6}, "text_accuracy": 0.9, "seed": 0},
            }
        ],
        "modalities": ["audio", "text"],
        "seed": 0,
        "batch_size": 8,
        "report": False,
    }
    config.update(overrides)
    path = tmp / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("shard")
    config = write_config(tmp)
    dirs = {"full": tmp / "full", "s0": tmp / "s0", "s1": tmp / "s1", "merged": tmp / "merged", "config": config, "tmp": tmp}
    assert main(["run", str(config), "--out", str(dirs["full"]), "--quiet"]) == 0
    for i in (0, 1):
        assert main(["run", str(config), "--out", str(dirs[f"s{i}"]), "--shard", f"{i}/2", "--quiet"]) == 0
    assert main(["merge", str(dirs["s1"]), str(dirs["s0"]), "--out", str(dirs["merged"])]) == 0  # any order
    return dirs


def test_shard_of_is_stable_and_independent_of_order():
    assert Shard.parse("1/4") == Shard(1, 4) and str(Shard(1, 4)) == "1/4"
    ids = [f"item-{i}" for i in range(200)]
    first = [shard_of("demo_mc", i, 4) for i in ids]
    assert first == [shard_of("demo_mc", i, 4) for i in reversed(ids)][::-1]
    assert set(first) == {0, 1, 2, 3}  # every shard gets items
    assert first != [shard_of("other_task", i, 4) for i in ids]  # the task is part of the hash


def test_shards_split_by_item_and_synthesize_only_their_clips(runs):
    full = pd.read_parquet(runs["full"] / "results.parquet")
    parts = [pd.read_parquet(runs[f"s{i}"] / "results.parquet") for i in (0, 1)]
    assert len(parts[0]) > 0 and len(parts[1]) > 0 and len(parts[0]) + len(parts[1]) == len(full)
    assert not set(parts[0]["item_id"]) & set(parts[1]["item_id"])  # every row of an item in one shard
    for i in (0, 1):
        meta = manifest(runs[f"s{i}"])
        assert meta["shard"] == {"index": i, "count": 2} and meta["planned_rows"] == len(parts[i])
        assert not (runs[f"s{i}"] / "scores").exists()  # a shard is scored once merged
    tts = [manifest(runs[f"s{i}"])["invocations"][-1]["tts_calls"] for i in (0, 1)]
    assert sum(tts) == manifest(runs["full"])["invocations"][-1]["tts_calls"]
    assert manifest(runs["s0"])["tasks"][0]["content_digest"] == manifest(runs["full"])["tasks"][0]["content_digest"]


def test_merge_equals_one_run(runs):
    full = pd.read_parquet(runs["full"] / "results.parquet").drop(columns=IGNORED)
    merged = pd.read_parquet(runs["merged"] / "results.parquet").drop(columns=IGNORED)
    pd.testing.assert_frame_equal(merged, full)  # same rows, same order
    tables = sorted(p.name for p in (runs["full"] / "scores").glob("*.parquet"))
    assert tables and tables == sorted(p.name for p in (runs["merged"] / "scores").glob("*.parquet"))
    for name in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(runs["merged"] / "scores" / name), pd.read_parquet(runs["full"] / "scores" / name), obj=name
        )
    meta = manifest(runs["merged"])
    assert meta["shard"] is None and meta["status"] == "complete"
    assert sorted(source["shard"]["index"] for source in meta["merged_from"]) == [0, 1]
    assert meta["output_config"] == manifest(runs["full"])["output_config"]


def test_merge_is_idempotent_and_the_merged_run_resumes_from_the_log(runs, capsys):
    merged = runs["merged"]
    before = {p.name: p.read_bytes() for p in [*merged.glob("*.*"), *(merged / "scores").glob("*")] if p.is_file()}
    capsys.readouterr()
    assert main(["merge", str(runs["s0"]), str(runs["s1"]), "--out", str(merged)]) == 0
    assert "already merged" in capsys.readouterr().out
    after = {p.name: p.read_bytes() for p in [*merged.glob("*.*"), *(merged / "scores").glob("*")] if p.is_file()}
    assert after == before
    again = runs["tmp"] / "merged-again"
    assert main(["merge", str(runs["s0"]), str(runs["s1"]), "--out", str(again)]) == 0
    for name in ("results.parquet", "responses.jsonl", "exclusions.csv"):
        if name == "results.parquet":
            pd.testing.assert_frame_equal(
                pd.read_parquet(again / name).drop(columns=["run_id"]), pd.read_parquet(merged / name).drop(columns=["run_id"])
            )
        else:
            assert (again / name).read_bytes() == (merged / name).read_bytes()
    # the merged directory is the full config's run: resuming it asks nothing
    assert main(["run", str(runs["config"]), "--out", str(merged), "--quiet"]) == 0
    assert manifest(merged)["invocations"][-1]["model_calls"] == 0
    assert len(manifest(merged)["merged_from"]) == 2  # the resumed run still says where it came from


def test_a_missing_shard_is_a_one_line_error(runs, capsys):
    capsys.readouterr()
    assert main(["merge", str(runs["s0"]), "--out", str(runs["tmp"] / "half")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing shard(s) 1/2" in err and len(err.splitlines()) <= 2  # the line and its hint
    assert not (runs["tmp"] / "half").exists()


def test_a_shard_of_another_config_or_a_plain_run_is_refused(runs, capsys):
    tmp = runs["tmp"]
    other = write_config(tmp, "other.yaml", seed=1)
    assert main(["run", str(other), "--out", str(tmp / "o1"), "--shard", "1/2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["merge", str(runs["s0"]), str(tmp / "o1"), "--out", str(tmp / "mixed")]) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "seed" in err
    assert main(["merge", str(runs["s0"]), str(runs["full"]), "--out", str(tmp / "mixed")]) != 0
    assert "not a shard run" in capsys.readouterr().err
    # a shard directory is not the full config's directory, nor another shard's
    assert main(["run", str(runs["config"]), "--out", str(runs["s0"]), "--quiet"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert main(["run", str(runs["config"]), "--out", str(runs["s0"]), "--shard", "1/2", "--quiet"]) == 2


def test_a_duplicated_row_is_refused(runs, capsys):
    tmp = runs["tmp"]
    forged = tmp / "forged"
    shutil.copytree(runs["s1"], forged)
    shard_file = forged / "shard.json"
    data = json.loads(shard_file.read_text())
    data["positions"][0] = json.loads((runs["s0"] / "shard.json").read_text())["positions"][0]
    shard_file.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["merge", str(runs["s0"]), str(forged), "--out", str(tmp / "dup")]) != 0
    assert "more than one shard" in capsys.readouterr().err
