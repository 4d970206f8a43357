"""score_run on run directories: files, determinism, edge cases, bad input and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biasbench.cli import main
from biasbench.core.errors import DataError
from biasbench.scoring.schema import STATUSES, TABLES
from biasbench.scoring.score import SCORES_DIR, format_terminal_summary, score_run
from biasbench.scoring.simulation import PlantedDesign, result_frame, simulate_rows

DESIGN = replace(PlantedDesign(), n_items=40, voices_per_cell=3, invalid_rate=0.05)


def _write_run(folder: Path, frame: pd.DataFrame, manifest: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "results.parquet", index=False)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    frame = simulate_rows(DESIGN, 11)
    manifest = DESIGN.manifest()
    manifest["seed"] = 5
    return _write_run(tmp_path_factory.mktemp("run"), frame, manifest)


@pytest.fixture(scope="module")
def scored(run_dir):
    return score_run(run_dir, n_boot=200, n_perm=200)


def test_writes_every_table_with_its_schema(run_dir, scored):
    for name, spec in TABLES.items():
        csv, parquet = run_dir / SCORES_DIR / f"{name}.csv", run_dir / SCORES_DIR / f"{name}.parquet"
        assert csv.is_file() and parquet.is_file(), name
        frame = pd.read_parquet(parquet)
        assert tuple(frame.columns) == spec.column_names, name
    assert (run_dir / "summary.csv").is_file()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert {"overall", "gender", "race", "cell", "voice"} <= set(summary["grouping"])
    assert set(scored.tables["group_metrics"]["status"]) <= set(STATUSES)


def test_same_input_and_seed_give_identical_bytes(run_dir, scored, tmp_path):
    before = {p.name: p.read_bytes() for p in sorted((run_dir / SCORES_DIR).iterdir())}
    score_run(run_dir, n_boot=200, n_perm=200)
    after = {p.name: p.read_bytes() for p in sorted((run_dir / SCORES_DIR).iterdir())}
    assert before == after
    copy = _write_run(tmp_path / "copy", pd.read_parquet(run_dir / "results.parquet"), json.loads((run_dir / "manifest.json").read_text()))
    score_run(copy, n_boot=200, n_perm=200)
    assert (copy / SCORES_DIR / "gaps.csv").read_bytes() == before["gaps.csv"]


def test_seed_defaults_to_the_manifest_and_changes_cis(run_dir, scored, tmp_path):
    copy = _write_run(tmp_path / "other", pd.read_parquet(run_dir / "results.parquet"), json.loads((run_dir / "manifest.json").read_text()))
    explicit = score_run(copy, n_boot=200, n_perm=200, seed=5)
    assert explicit.tables["group_metrics"].equals(scored.tables["group_metrics"])
    other = score_run(copy, n_boot=200, n_perm=200, seed=6)
    a, b = scored.tables["group_metrics"], other.tables["group_metrics"]
    assert np.allclose(a["value"], b["value"], equal_nan=True) and not np.allclose(a["ci_low"], b["ci_low"], equal_nan=True)
    assert scored.tables["scoring"].set_index("key").at["seed", "value"] == "5"


def test_ok_rows_are_nan_free(scored):
    for name in ("group_metrics", "gaps", "summary", "power"):
        table = scored.tables[name]
        ok = table[table["status"] == "ok"]
        numeric = [c for c in ("value", "ci_low", "ci_high", "se", "mde") if c in ok.columns]
        assert not ok[numeric].isna().any().any(), name


def test_planted_gap_recovered(scored):
    from biasbench.scoring.simulation import true_group_accuracy

    truth = true_group_accuracy(DESIGN)
    gaps = scored.tables["gaps"]
    pair = gaps[(gaps.grouping == "gender") & (gaps.kind == "pair") & (gaps.metric == "accuracy")].iloc[0]
    assert (pair.group, pair.reference) == ("female", "male")
    assert pair.ci_low <= truth["female"] - truth["male"] <= pair.ci_high


def test_terminal_summary_lists_groups(scored):
    text = format_terminal_summary(scored)
    assert "gender=female" in text and "race=Black" in text and "95% CI" in text


def _edge_frame() -> tuple[pd.DataFrame, dict]:
    """female: 2 voices; male: 1 voice (one_voice); 'x': all answers invalid; 'y' declared, no rows."""
    rows = []
    for i in range(6):
        rows += [
            {"item_id": f"q{i}", "voice_id": "f1", "gender": "female", "outcome": "correct" if i % 2 else "incorrect", "parsed": "A" if i % 2 else "B"},
            {"item_id": f"q{i}", "voice_id": "f2", "gender": "female", "outcome": "correct", "parsed": "A"},
            {"item_id": f"q{i}", "voice_id": "m1", "gender": "male", "outcome": "incorrect", "parsed": "C"},
            {"item_id": f"q{i}", "voice_id": "x1", "gender": "x", "outcome": "invalid"},
            {"item_id": f"q{i}", "voice_id": "x2", "gender": "x", "outcome": "refusal"},
        ]
    frame = result_frame(rows, model="m", task="mc", target="A")
    frame["cell"] = frame["gender"]
    voices = {"f1": "female", "f2": "female", "m1": "male", "x1": "x", "x2": "x", "y1": "y"}
    manifest = {"seed": 1, "pool": {"axes": ["gender"], "voices": [{"id": v, "labels": {"gender": {"value": g}}} for v, g in voices.items()]},
                "tasks": [{"name": "mc", "answer_type": "multiple_choice"}], "models": [{"name": "m", "capabilities": {}}]}
    return frame, manifest


def test_edge_cases_are_marked_and_warned(tmp_path):
    frame, manifest = _edge_frame()
    result = score_run(_write_run(tmp_path / "edge", frame, manifest), n_boot=100, n_perm=100)
    gm = result.tables["group_metrics"]
    acc = gm[(gm.grouping == "gender") & (gm.metric == "accuracy")].set_index("group")
    assert acc.loc["y", "status"] == "no_rows" and pd.isna(acc.loc["y", "value"]) and acc.loc["y", "n_rows"] == 0
    assert acc.loc["x", "status"] == "all_invalid" and acc.loc["x", "value"] == 0.0
    assert acc.loc["male", "status"] == "one_voice" and acc.loc["male", "value"] == 0.0
    assert acc.loc["female", "status"] == "ok" and acc.loc["female", "value"] == pytest.approx(9 / 12)
    codes = set(result.tables["warnings"]["code"])
    assert {"one_voice", "no_rows", "all_invalid"} <= codes
    assert any("'y'" in w and "no rows" in w for w in result.warnings)
    # every missing value is explained by its status
    for name, table in result.tables.items():
        if "status" in table.columns and "value" in table.columns:
            assert (table.loc[table["value"].isna(), "status"] != "ok").all(), name


def test_all_rows_errors_for_a_group_is_not_a_zero(tmp_path):
    frame, manifest = _edge_frame()
    frame.loc[frame["voice_id"] == "m1", "outcome"] = "error"
    result = score_run(_write_run(tmp_path / "errors", frame, manifest), n_boot=50, n_perm=50)
    gm = result.tables["group_metrics"]
    male = gm[(gm.grouping == "gender") & (gm.group == "male") & (gm.metric == "accuracy")].iloc[0]
    assert male.status == "no_rows" and pd.isna(male.value) and "errors" in male.note
    errors = gm[(gm.grouping == "gender") & (gm.group == "male") & (gm.metric == "error_rate")].iloc[0]
    assert errors.value == 1.0


def test_cli_score_prints_summary_and_is_idempotent(run_dir, capsys):
    assert main(["score", str(run_dir), "--n-boot", "200", "--n-perm", "200"]) == 0
    out = capsys.readouterr().out
    assert "gender=female" in out and "score tables:" in out


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "no manifest.json"),
        (lambda d: (d.mkdir(), (d / "manifest.json").write_text("{}")), "no results.parquet"),
        (lambda d: (d.mkdir(), (d / "manifest.json").write_text("{not json")), "cannot read"),
        (lambda d: (d.mkdir(), (d / "manifest.json").write_text("{}"), (d / "results.parquet").write_bytes(b"garbage")), "cannot read the results"),
    ],
)
def test_bad_run_directories_give_one_line_errors(tmp_path, capsys, setup, message):
    target = tmp_path / "bad"
    setup(target)
    assert main(["score", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_unknown_outcome_and_missing_columns_are_data_errors(tmp_path):
    frame, manifest = _edge_frame()
    bad = frame.copy()
    bad.loc[0, "outcome"] = "maybe"
    with pytest.raises(DataError, match="unknown outcomes maybe"):
        score_run(_write_run(tmp_path / "o", bad, manifest))
    with pytest.raises(DataError, match="lacks columns voice_id"):
        score_run(_write_run(tmp_path / "c", frame.drop(columns=["voice_id"]), manifest))


def test_bad_options_are_config_errors(run_dir, capsys):
    assert main(["score", str(run_dir), "--n-boot", "1"]) == 2
    assert "n_boot" in capsys.readouterr().err


def test_a_model_with_only_errors_is_reported_not_crashed(tmp_path):
    frame, manifest = _edge_frame()
    frame["outcome"] = "error"
    frame["parsed"] = ""
    result = score_run(_write_run(tmp_path / "allerr", frame, manifest), n_boot=30, n_perm=30)
    summary = result.tables["summary"]
    assert (summary["status"] == "no_rows").all() and summary["value"].isna().all()
    assert (summary.loc[summary.grouping == "overall", "error_count"] == 30).all()
    sig = result.tables["significance"]
    assert set(sig["status"]) == {"not_applicable"}
    assert result.tables["flips"].empty


def test_without_bootstrap_every_value_is_marked_no_ci(run_dir, tmp_path):
    copy = _write_run(tmp_path / "noboot", pd.read_parquet(run_dir / "results.parquet"), json.loads((run_dir / "manifest.json").read_text()))
    result = score_run(copy, n_boot=0, n_perm=0)
    gm = result.tables["group_metrics"]
    assert (gm["status"] == "no_ci").all() and gm["ci_low"].isna().all() and gm["value"].notna().all()
    assert set(result.tables["significance"]["test"]) == {"cochran_q"}
