"""Spoken MMLU on the real data: stratified counts, seeds, exclusions, both CSV layouts, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from biasbench.cli import main
from biasbench.core.errors import ConfigError, DataError
from biasbench.tasks.loading import load_task
from biasbench.tasks.mmlu import stratum_size

MMLU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlu"
pytestmark = pytest.mark.skipif(not (MMLU / "test").is_dir(), reason=f"MMLU data not found at {MMLU}")


@pytest.fixture(scope="module")
def mmlu10():
    return load_task("mmlu", {"path": str(MMLU), "fraction": 0.1, "seed": 0})


def test_fraction_gives_documented_counts_for_all_57_subjects(mmlu10) -> None:
    table = mmlu10.stratification()
    assert len(table) == 57
    for row in table:
        n = row["available"]
        expected = max(1, (n * 10 + 50) // 100)  # round half up of 0.1 × n in integers, minimum 1
        assert row["target"] == expected, row
        assert row["kept"] == min(expected, row["speakable"]), row  # screened first, then drawn
        assert row["excluded"] + row["speakable"] == n, row
        assert (row["shortfall"] > 0) == bool(row["shortfall_reason"]), row
    by_subject = {row["subject"]: row for row in table}
    assert by_subject["professional_law"]["target"] == 153  # 1534 × 0.1 = 153.4
    assert by_subject["electrical_engineering"]["target"] == 15  # 145 × 0.1 = 14.5 rounds up
    assert sum(row["available"] for row in table) == 14042


def test_rounding_rule() -> None:
    assert stratum_size(145, 0.1, None) == 15 and stratum_size(144, 0.1, None) == 14
    assert stratum_size(3, 0.1, None) == 1 and stratum_size(100, 1.0, None) == 100
    assert stratum_size(7, None, 10) == 7


def test_same_seed_same_items_other_seed_other_items(mmlu10) -> None:
    few = ["astronomy", "virology", "professional_law", "world_religions"]  # a subset keeps the test fast
    again = load_task("mmlu", {"path": str(MMLU), "fraction": 0.1, "seed": 0, "subjects": few})
    other = load_task("mmlu", {"path": str(MMLU), "fraction": 0.1, "seed": 1, "subjects": few})
    ids = [item.id for item in mmlu10.items() if item.metadata["subject"] in few]
    assert ids == [item.id for item in again.items()]
    assert ids != [item.id for item in other.items()]


def test_subject_filter_keeps_other_draws(mmlu10) -> None:
    one = load_task("mmlu", {"path": str(MMLU), "fraction": 0.1, "subjects": ["astronomy"]})
    assert {i.metadata["subject"] for i in one.items()} == {"astronomy"}
    assert [i.id for i in one.items()] == [i.id for i in mmlu10.items() if i.metadata["subject"] == "astronomy"]
    assert one.item_group(one.items()[0]) == "astronomy"


def test_max_audio_seconds_exclusions_listed_with_reasons(mmlu10) -> None:
    long = [e for e in mmlu10.exclusions() if "max_audio_seconds=30" in e.reason]
    assert long and all("estimated " in e.reason and e.metadata["subject"] for e in long)
    kept_ids = {i.id for i in mmlu10.items()}
    assert not kept_ids & {e.item_id for e in mmlu10.exclusions()}
    unlimited = load_task("mmlu", {"path": str(MMLU), "fraction": 0.1, "max_audio_seconds": None})
    assert not any("max_audio_seconds" in e.reason for e in unlimited.exclusions())
    assert len(unlimited.items()) > len(mmlu10.items())
    unspeakable = [e for e in mmlu10.exclusions() if "notation" in e.reason or "code" in e.reason]
    assert unspeakable  # formal logic symbols, LaTeX


def test_original_layout_without_header_gives_same_items(tmp_path: Path) -> None:
    for subject in ("astronomy", "virology"):
        with open(MMLU / "test" / f"{subject}_test.csv", newline="") as src:
            rows = list(csv.reader(src))[1:]
        with open(tmp_path / f"{subject}_test.csv", "w", newline="") as dst:
            csv.writer(dst).writerows(row[:5] + ["ABCD"[int(row[5])]] for row in rows)
    original = load_task("mmlu", {"path": str(tmp_path), "fraction": 0.2})
    reformatted = load_task("mmlu", {"path": str(MMLU), "fraction": 0.2, "subjects": ["astronomy", "virology"]})
    assert [(i.id, i.text, i.choices, i.target) for i in original.items()] == [
        (i.id, i.text, i.choices, i.target) for i in reformatted.items()
    ]


def test_question_only_spec() -> None:
    task = load_task("mmlu_question_only", {"path": str(MMLU), "subjects": ["virology"]})
    prompt = task.render(task.items()[0], "audio", 1)
    assert "Option" not in prompt.spoken_text and "A. " in prompt.text


@pytest.mark.parametrize(
    "params,error,match",
    [
        ({"subjects": ["astronmy"]}, ConfigError, "did you mean 'astronomy'"),
        ({"fraction": 0}, ConfigError, "fraction"),
        ({"fraction": 1.5}, ConfigError, "fraction"),
        ({"fraction": 0.1, "n_per_subject": 3}, ConfigError, "not both"),
        ({"path": "/no/such/mmlu"}, DataError, "not found"),
    ],
)
def test_bad_input(params, error, match) -> None:
    with pytest.raises(error, match=match):
        load_task("mmlu", {"path": str(MMLU), **params})


@pytest.mark.parametrize("setting", ["subjects=[astronmy]", "fraction=0", "fraction=1.5", "path=/no/such/mmlu"])
def test_cli_bad_input_exit_2_one_line(setting: str, capsys) -> None:
    assert main(["tasks", "show", "mmlu", "--set", f"path={MMLU}", "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


def test_cli_show_prints_rendered_example(capsys) -> None:
    assert main(["tasks", "show", "mmlu", "--set", f"path={MMLU}", "--set", "subjects=[virology]", "--rotation", "1"]) == 0
    out = capsys.readouterr().out
    assert "virology: 166 / 159 / 17 / 17" in out and "[audio]" in out and "[text]" in out and "Option A:" in out


def test_ten_percent_is_drawn_from_speakable_items(mmlu10) -> None:
    """Regression: sampling before screening kept 872 of 1,405 items (about 6%) and re-drew nothing."""
    table = {row["subject"]: row for row in mmlu10.stratification()}
    assert sum(row["target"] for row in table.values()) == 1405
    assert len(mmlu10.items()) == sum(row["kept"] for row in table.values()) == 1235  # on screening sp-1
    short = {s for s, row in table.items() if row["shortfall"]}
    assert short == {"high_school_european_history", "high_school_us_history", "high_school_world_history",
                     "moral_scenarios", "professional_law", "professional_medicine"}
    assert table["professional_law"]["kept"] == table["professional_law"]["speakable"] == 55
    assert "too long" in table["high_school_us_history"]["shortfall_reason"]
    assert table["astronomy"]["kept"] == table["astronomy"]["target"] == 15
    excluded = {e.item_id for e in mmlu10.exclusions()}
    assert all(item.id not in excluded for item in mmlu10.items())


def test_question_only_keeps_about_1350() -> None:
    task = load_task("mmlu_question_only", {"path": str(MMLU)})
    assert len(task.items()) == 1349  # on screening sp-1


def test_tasks_show_prints_coverage_and_shortfalls(capsys) -> None:
    assert main(["tasks", "show", "mmlu", "--set", f"path={MMLU}"]) == 0
    out = capsys.readouterr().out
    assert "coverage: 1235 of 1405 target items kept" in out
    assert "shortfalls: 6 group(s) below target" in out
    assert "professional_law: 55 of 153 (98 short): only 55 of 1534 items are speakable" in out
