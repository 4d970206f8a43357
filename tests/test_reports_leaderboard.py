"""Leaderboard merging: ranks, tables, and refusals for runs that measured different things."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.cli import main  # noqa: E402
from biasbench.reports.workbook import read_sheet  # noqa: E402
from biasbench.core.errors import ConfigError, DataError  # noqa: E402
from biasbench.reports.leaderboard import merge_runs, write_leaderboard  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("board")
    make_run(base / "v1", seed=3)
    make_run(base / "v2", task_version="2", seed=3, score=False)
    return base


RENAME = {"model-b": "model-y", "planted-sim": "model-z"}


def _renamed_copy(source: Path, target: Path) -> Path:
    """A copy of a run whose models are renamed (a second run of other models on the same pool and task)."""
    shutil.copytree(source, target)
    for path in [target / "manifest.json", *target.glob("scores/*.csv"), target / "summary.csv"]:
        text = path.read_text()
        for old, new in RENAME.items():
            text = text.replace(old, new)
        path.write_text(text)
    for path in target.glob("scores/*.parquet"):
        frame = pd.read_parquet(path)
        if "model" in frame.columns:
            frame["model"] = frame["model"].replace(RENAME)
        frame.to_parquet(path, index=False)
    return target


def test_write_leaderboard_ranks_and_tables(runs: Path, tmp_path: Path) -> None:
    other = _renamed_copy(runs / "v1", tmp_path / "other")
    paths = write_leaderboard([runs / "v1", other], tmp_path / "out")
    table = pd.read_csv(paths.csv)
    assert sorted(table.model) == ["model-b", "model-y", "model-z", "planted-sim"]
    assert set(table.run) == {"v1", "other"}
    # gap rank: 1 + the number of models whose whole gap CI lies below this model's whole gap CI
    low, high = table.max_gap_ci_low.fillna(table.max_gap), table.max_gap_ci_high.fillna(table.max_gap)
    expected = [1 + int((high < lo).sum()) for lo in low]
    assert list(table.rank_max_gap) == expected
    # worst-group rank never puts a model with a worse point estimate ahead of a better one
    for (_, a), (_, b) in ((x, y) for x in table.iterrows() for y in table.iterrows()):
        if a.worst_value > b.worst_value:
            assert a.rank_worst_group <= b.rank_worst_group
    assert table.manifest.map(lambda m: (paths.csv.parent / m).resolve().is_file()).all()
    book = openpyxl.load_workbook(paths.workbook)
    assert book.sheetnames == ["Leaderboard", "Groups", "Runs", "Warnings", "Notes"]
    sheet = read_sheet(paths.workbook, "Leaderboard")
    pd.testing.assert_series_equal(sheet.max_gap, table.max_gap, check_dtype=False)
    assert book["Leaderboard"].freeze_panes in ("A2", "A3")  # A3 under a notice banner
    assert {p.suffix for p in paths.plots} == {".png", ".svg"}
    html = paths.html.read_text()
    assert "<script src" not in html and "http://" not in html and "https://" not in html  # self-contained


def test_same_model_from_two_runs_appears_under_run_labels(runs: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(runs / "v1", tmp_path / "copy")
    merged = merge_runs([runs / "v1", copy], tmp_path)
    labels = set(merged.table.model)
    assert {"model-b [v1]", "model-b [copy]"} <= labels
    assert "model-b" not in labels
    assert set(merged.groups.model) <= labels


def test_same_task_with_different_content_is_refused(runs: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(runs / "v1", tmp_path / "copy")
    manifest_path = copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for task in manifest["tasks"]:
        task["content_digest"] = "a" * 16
    manifest_path.write_text(json.dumps(manifest))
    original = json.loads((runs / "v1" / "manifest.json").read_text())
    for task in original["tasks"]:
        task["content_digest"] = "b" * 16
    other = shutil.copytree(runs / "v1", tmp_path / "orig")
    (other / "manifest.json").write_text(json.dumps(original))
    with pytest.raises(ConfigError, match="asked different content in run 'orig' and run 'copy'"):
        merge_runs([other, copy], tmp_path)


def test_different_task_versions_are_refused(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="task 'demo_mc' is version 1 in run 'v1' but version 2 in run 'v2'"):
        merge_runs([runs / "v1", runs / "v2"], runs / "out")
    assert main(["leaderboard", str(runs / "v1"), str(runs / "v2"), "--out", str(runs / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot merge" in err and "one leaderboard per task version" in err


def test_different_voice_pools_are_refused(runs: Path, tmp_path: Path) -> None:
    other = _renamed_copy(runs / "v1", tmp_path / "pool2")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["pool"]["voices"][0]["labels"]["race"]["value"] = "White"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="different voices or labels"):
        merge_runs([runs / "v1", other], tmp_path)


def test_unscored_run_and_bad_paths_give_one_line_errors(runs: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(DataError, match="has no scores"):
        merge_runs([runs / "v2"], tmp_path)
    assert main(["leaderboard", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_cli_leaderboard(runs: Path, tmp_path: Path, capsys) -> None:
    assert main(["leaderboard", str(runs / "v1"), "--out", str(tmp_path / "lb")]) == 0
    assert (tmp_path / "lb" / "leaderboard.html").is_file()
    assert "leaderboard:" in capsys.readouterr().out


def test_overlapping_cis_share_a_rank_and_clear_gaps_do_not() -> None:
    from biasbench.reports.tie_ranks import tied_ranks

    # higher is better: A and B overlap (share rank 1); C lies wholly below both
    assert tied_ranks([0.9, 0.85, 0.5], [0.8, 0.75, 0.4], [0.95, 0.9, 0.6], higher_better=True) == [1, 1, 3]
    # a chain: A overlaps B, B overlaps C, A is clearly above C
    assert tied_ranks([0.9, 0.8, 0.7], [0.85, 0.72, 0.6], [0.95, 0.88, 0.74], higher_better=True) == [1, 1, 2]
    # lower is better (gaps); no CI: the point stands for it, plain competition ranks; no estimate: no rank
    assert tied_ranks([0.1, 0.3, 0.3, None], [None] * 4, [None] * 4, higher_better=False) == [1, 2, 2, None]
