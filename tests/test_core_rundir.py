"""core.rundir: the typed manifest, the one loader, the file names, the config-difference report."""

from __future__ import annotations

import json

import pytest

from biasbench.core.errors import DataError
from biasbench.core.rundir import EXIT_CODES, Invocation, Manifest, RunDir, differing_keys, open_run_dir, parse_manifest


def test_manifest_round_trip_keeps_unknown_fields_and_types_known_ones(tmp_path):
    run = RunDir(tmp_path)
    manifest = Manifest(
        run_id="r", seed=3, pool={"axes": ["gender"], "purpose": "research", "voices": [{"id": "f1", "labels": {"gender": {"value": "female"}}}]},
        voices_used=["f1"], invocations=[Invocation(index=0, status="interrupted", phase="synthesis")],
    )
    data = manifest.to_json() | {"from_a_newer_version": {"x": 1}}
    run.write_manifest(data)
    back = run.manifest()
    assert back.seed == 3 and back.axes == ("gender",) and back.voice_labels() == {"f1": {"gender": "female"}}
    assert back.invocations[0].status == "interrupted" and back.invocations[0].phase == "synthesis"
    assert back.to_json()["from_a_newer_version"] == {"x": 1}
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed into place


def test_an_older_manifest_loads():
    old = {
        "seed": 1, "voices_used": [{"id": "a"}, "b"], "tasks": [{"name": "t", "version": "2"}], "git_sha": "abc",
        "invocations": [{"status": "stopped: cost budget reached", "finished": "2026-01-01T00:00:00+00:00"}],
    }
    manifest = parse_manifest(old)
    assert manifest.invocations[0].status == "incomplete" and manifest.invocations[0].reason == "cost budget reached"
    assert manifest.voices_used == ["a", "b"] and manifest.task("t").version == "2" and manifest.git_sha == "abc"
    assert manifest.task("t").content_digest == "" and manifest.status == "running"


@pytest.mark.parametrize("bad", [{"seed": "seven"}, {"invocations": [{"status": "exploded"}]}, {"tasks": "demo_mc"}])
def test_a_malformed_manifest_is_a_one_line_data_error(bad):
    with pytest.raises(DataError, match="manifest.json is malformed at") as caught:
        parse_manifest(bad)
    assert "\n" not in str(caught.value)


def test_the_one_loader_names_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_run_dir(tmp_path / "nope")
    with pytest.raises(DataError, match="not a biasbench run directory"):
        open_run_dir(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError):
        open_run_dir(tmp_path)


def test_every_file_of_a_run_directory_is_named_by_rundir(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.run_id == "r"
    named = {
        run.manifest_path: "manifest.json", run.log: "responses.jsonl", run.results_parquet: "results.parquet",
        run.results_csv: "results.csv", run.exclusions_csv: "exclusions.csv", run.summary_parquet: "scores/summary.parquet",
        run.headline_csv: "scores/headline.csv", run.parity_json: "audit/parity.json", run.report_xlsx: "report.xlsx",
        run.summary_md: "summary.md", run.lock_path: ".biasbench.lock", run.stamps_path: ".stamps.json",
    }
    for path, relative in named.items():
        assert path.relative_to(run.path).as_posix() == relative
    assert run.results_table() is None
    run.path.mkdir()
    run.results_csv.write_text("x\n")
    assert run.results_table() == run.results_csv


def test_differing_keys_names_nested_changes():
    old = {"seed": 0, "generation": {"temperature": 0.0, "top_p": 1.0}, "tasks": {"a": {"content": "x"}}}
    new = {"seed": 1, "generation": {"temperature": 0.7, "top_p": 1.0}, "tasks": {"b": {"content": "x"}}}
    assert differing_keys(old, new) == ["generation.temperature", "seed", "tasks.a", "tasks.b"]
    assert differing_keys(old, json.loads(json.dumps(old))) == []


def test_exit_codes_are_distinct():
    assert EXIT_CODES["complete"] == 0
    codes = [code for name, code in EXIT_CODES.items() if name != "complete"]
    assert len(set(codes)) == len(codes) and 0 not in codes and 2 not in codes


def test_fresh_run_dir_suffixes(tmp_path):
    from biasbench.pipeline import fresh_run_dir

    base = tmp_path / "run"
    assert fresh_run_dir(base) == base
    RunDir(base).write_manifest(Manifest())
    assert fresh_run_dir(base) == tmp_path / "run-2"
    RunDir(tmp_path / "run-2").write_manifest(Manifest())
    assert fresh_run_dir(base) == tmp_path / "run-3"
