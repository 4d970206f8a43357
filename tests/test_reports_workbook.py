"""report.xlsx from a fixture run: every sheet, header, number format, and numbers equal to the score tables."""

from __future__ import annotations

import shutil
import sys
from dataclasses import fields
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.cli import main  # noqa: E402
from biasbench.reports import Sheet, write_run_report  # noqa: E402
from biasbench.reports.headline import Headline  # noqa: E402
from biasbench.reports.rundata import read_table  # noqa: E402
from biasbench.reports.workbook import header_row, read_sheet  # noqa: E402
from biasbench.scoring.schema import TABLES  # noqa: E402

SHEETS = [
    "Summary",
    "Warnings",
    "ByGroup",
    "ByCell",
    "ByVoice",
    "Gaps",
    "Ratios",
    "Flips",
    "Tests",
    "TextControl",
    "Equivalence",
    "Power",
    "PositionBias",
    "PerSubject",
    "Stereotype",
    "VoiceAudit",
    "VoiceAuditCells",
    "Exclusions",
    "Manifest",
    "Scoring",
    "Notes",
]
PARITY = "voice fB1 has ASR WER 30%, far above its cell"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    run_dir = make_run(tmp_path_factory.mktemp("reports") / "run", parity_warning=PARITY)
    return run_dir, write_run_report(run_dir, plots=False)


@pytest.fixture(scope="module")
def workbook(run: tuple[Path, object]) -> openpyxl.Workbook:
    return openpyxl.load_workbook(run[0] / "report.xlsx")


def scores(run_dir: Path, name: str) -> pd.DataFrame:
    table = read_table(run_dir / "scores", name)
    assert table is not None, f"fixture run lacks scores/{name}"
    return table


def sheet_frame(run_dir: Path, name: str) -> pd.DataFrame:
    return read_sheet(run_dir / "report.xlsx", name)


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Score-table group keys ('female|Black') as the sheets show them ('female × Black')."""
    frame = frame.copy()
    for column in ("group", "worst_group", "reference", "cell"):
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: v.replace("|", " × ") if isinstance(v, str) else v)
    return frame


def header(ws) -> list[str]:
    return [c.value for c in ws[header_row(ws)]]


def test_every_sheet_in_order_with_report_paths(run, workbook) -> None:
    run_dir, paths = run
    assert workbook.sheetnames == SHEETS
    assert paths.sheets == tuple(SHEETS)
    assert paths.workbook == run_dir / "report.xlsx"
    assert paths.summary_md.read_text().startswith("# biasbench report")
    assert {p.name for p in paths.tables} >= {"Summary.csv", "Summary.parquet", "ByGroup.csv", "ByGroup.parquet"}


def test_every_sheet_has_formatted_frozen_filtered_header(workbook) -> None:
    for ws in workbook:
        top = header_row(ws)  # 2 under a notice banner
        assert ws.freeze_panes == f"A{top + 1}", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{top}:"), ws.title
        for cell in ws[top]:
            assert cell.font.bold and cell.fill.fgColor.rgb.endswith("1F4E79"), (ws.title, cell.value)
        assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[top]), ws.title


def test_headers_follow_the_score_schema(workbook) -> None:
    def names(name: str) -> list[str]:
        return header(workbook[name])

    # the fixture has a calibration model: score sheets say so once, in a banner row above the header
    assert names("Summary") == [f.name for f in fields(Headline) if f.name != "notice"]
    assert names("ByGroup") == list(TABLES["group_metrics"].column_names)
    assert names("ByVoice") == list(TABLES["group_metrics"].column_names)
    assert names("Gaps") == list(TABLES["gaps"].column_names)
    assert names("Flips") == list(TABLES["flips"].column_names)
    assert names("Tests") == list(TABLES["significance"].column_names)
    assert names("ByCell") == [
        "model", "task", "modality", "metric", "gender", "Asian", "Asian 95% CI", "Black", "Black 95% CI", "White", "White 95% CI"
    ]
    for name in ("Summary", "ByGroup", "Gaps", "ByCell"):
        banner = workbook[name]["A1"].value
        assert banner.startswith("CALIBRATION INSTRUMENT") and banner.endswith(": planted-sim"), (name, banner)
    assert header_row(workbook["Exclusions"]) == 1 and header_row(workbook["Manifest"]) == 1
    assert names("Exclusions") == ["task", "item_id", "reason", "item_group"]
    assert names("Manifest") == ["key", "value"]
    assert names("Notes") == ["section", "term", "explanation"]
    assert names("Warnings") == ["model", "task", "code", "message"]


def test_number_formats(workbook) -> None:
    def formats(sheet: str, column: str) -> dict[object, set[str]]:
        ws = workbook[sheet]
        names = header(ws)
        index = names.index(column) + 1
        metric_index = names.index("metric") + 1 if "metric" in names else None
        out: dict[object, set[str]] = {}
        for row in ws.iter_rows(min_row=header_row(ws) + 1):
            if isinstance(row[index - 1].value, (int, float)):
                key = row[metric_index - 1].value if metric_index else None
                out.setdefault(key, set()).add(row[index - 1].number_format)
        return out

    assert formats("Summary", "overall") == {"accuracy": {"0.0%"}}
    assert formats("Summary", "max_gap") == {"accuracy": {"0.0%"}}
    assert formats("Summary", "test_p_value") == {"accuracy": {"0.0000"}}
    assert formats("Summary", "n_items") == {"accuracy": {"0"}}
    by_group = formats("ByGroup", "value")
    assert {"accuracy", "invalid_rate"} <= set(by_group) and set().union(*by_group.values()) == {"0.0%"}
    assert set().union(*formats("ByGroup", "n_voices").values()) == {"0"}
    ratios = workbook["Ratios"]
    ratio_names = header(ratios)
    for row in ratios.iter_rows(min_row=header_row(ratios) + 1, values_only=False):
        kind, value = row[ratio_names.index("kind")].value, row[ratio_names.index("value")]
        if isinstance(value.value, float):
            assert value.number_format == ("0.000" if kind == "min_over_max" else "0.0%"), kind
    assert formats("Tests", "statistic") == {None: {"0.000"}}
    assert formats("Tests", "p_value") == {None: {"0.0000"}}
    assert formats("Flips", "value") == {None: {"0.0%"}}
    assert formats("VoiceAudit", "loudness_lufs") == {None: {"0.000"}}


def test_gap_columns_have_colour_scales(workbook) -> None:
    def scaled(sheet: str) -> set[str]:
        ws = workbook[sheet]
        names = header(ws)
        ranges = {str(r.sqref).split(":")[0].rstrip("0123456789") for r in ws.conditional_formatting}
        return {names[openpyxl.utils.column_index_from_string(letter) - 1] for letter in ranges}

    assert scaled("Summary") == {"max_gap"}
    assert scaled("Gaps") == {"value"}


def test_numbers_equal_the_score_tables(run) -> None:
    run_dir, _ = run
    metrics = labelled(scores(run_dir, "group_metrics"))
    keys = ["model", "task", "modality", "grouping", "group", "metric"]
    for sheet, groupings in (
        ("ByGroup", ["overall", "gender", "race", "text"]),
        ("ByVoice", ["voice"]),
        ("PerSubject", ["item_group"]),
    ):
        shown = sheet_frame(run_dir, sheet).drop(columns="notice", errors="ignore")
        expected = metrics[metrics.grouping.isin(groupings)]
        assert len(shown) == len(expected) > 0, sheet
        merged = shown.merge(expected, on=keys, suffixes=("", "_score"))
        assert len(merged) == len(expected), sheet
        for column in ("value", "ci_low", "ci_high", "n_rows", "n_items", "n_voices"):
            pd.testing.assert_series_equal(
                merged[column], merged[f"{column}_score"], check_names=False, check_dtype=False, obj=f"{sheet}.{column}"
            )
    gaps = scores(run_dir, "gaps")
    differences = gaps.kind.isin(["max_minus_min", "vs_rest", "pair"])
    for sheet, expected in (
        ("Gaps", gaps[differences]),
        ("Ratios", gaps[~differences]),
        ("Flips", scores(run_dir, "flips")),
        ("Tests", scores(run_dir, "significance")),
        ("TextControl", scores(run_dir, "text_control")),
        ("Equivalence", scores(run_dir, "equivalence")),
        ("Power", scores(run_dir, "power")),
        ("PositionBias", scores(run_dir, "position_bias")),
    ):
        shown = sheet_frame(run_dir, sheet).drop(columns="notice", errors="ignore")
        expected = expected.reset_index(drop=True)
        numeric = [c for c in expected.columns if pd.api.types.is_float_dtype(expected[c])]
        pd.testing.assert_frame_equal(shown[numeric], expected[numeric], check_dtype=False, obj=sheet)


def test_summary_numbers_come_from_summary_flips_and_the_scoring_headline(run) -> None:
    run_dir, _ = run
    shown = sheet_frame(run_dir, "Summary")
    summary, claims, flips = scores(run_dir, "summary"), scores(run_dir, "headline"), scores(run_dir, "flips")
    assert len(shown) == 2  # two models × one task
    for row in shown.itertuples():
        overall = summary[
            (summary.model == row.model) & (summary.grouping == "overall") & (summary.modality == "audio")
        ].iloc[0]
        text = summary[(summary.model == row.model) & (summary.modality == "text")].iloc[0]
        claim = claims[(claims.model == row.model) & (claims.metric == "accuracy") & (claims.axis == row.grouping)].iloc[0]
        assert row.overall == pytest.approx(overall.value) and row.invalid_rate == pytest.approx(overall.invalid_rate)
        assert row.text_control == pytest.approx(text.value)
        assert (row.max_gap, row.max_gap_ci_low, row.max_gap_ci_high) == pytest.approx((claim.gap, claim.ci_low, claim.ci_high))
        assert row.test_p_value == pytest.approx(claim.p_adjusted)
        flip = flips[(flips.model == row.model) & (flips.grouping == row.grouping) & (flips.quantity == "excess")]
        if not flip.empty:
            assert row.flip_excess == pytest.approx(flip.iloc[0].value)
        if claim.verdict == "clear_gap":
            assert row.worst_group == claim.worst_group.replace("|", " × ") and f"clear gap on {row.grouping}" in row.verdict
        else:
            assert pd.isna(row.worst_group) or row.worst_group == ""


def test_by_cell_matrix_equals_cell_metrics(run) -> None:
    run_dir, _ = run
    shown = sheet_frame(run_dir, "ByCell")
    cells = scores(run_dir, "group_metrics")
    cells = cells[(cells.grouping == "cell") & (cells.metric == "accuracy")]
    assert len(shown) == cells.model.nunique() * 2  # one row per gender
    for row in cells.itertuples():
        gender, race = row.group.split("|")
        shown_row = shown[(shown.model == row.model) & (shown.gender == gender)].iloc[0]
        assert shown_row[race] == pytest.approx(row.value)
        assert shown_row[f"{race} 95% CI"] == f"{100 * row.ci_low:.1f}% to {100 * row.ci_high:.1f}%"  # CIs on ByCell


def test_csv_and_parquet_hold_the_same_tables(run) -> None:
    run_dir, _ = run
    for name in ("Summary", "ByGroup", "Gaps", "Manifest"):
        shown = sheet_frame(run_dir, name)
        parquet = pd.read_parquet(run_dir / "report" / f"{name}.parquet")
        numeric = [c for c in parquet.columns if pd.api.types.is_float_dtype(parquet[c])]
        for table in (pd.read_csv(run_dir / "report" / f"{name}.csv"), parquet):
            table = table.drop(columns="notice", errors="ignore")  # in the sheet it is the banner row
            assert list(table.columns) == list(shown.columns)
            assert len(table) == len(shown)
            pd.testing.assert_frame_equal(table[numeric], shown[numeric], check_dtype=False)


def test_calibration_model_and_warnings_are_prominent(run, workbook) -> None:
    run_dir, paths = run
    summary = sheet_frame(run_dir, "Summary").set_index("model")
    banner = workbook["Summary"]["A1"]  # once per sheet, naming the model it concerns (not model-b)
    assert "CALIBRATION INSTRUMENT" in banner.value and "planted-sim" in banner.value and "model-b" not in banner.value
    assert banner.font.bold and banner.fill.fgColor.rgb.endswith("FCE4D6")
    assert "notice" not in summary.columns
    warnings = sheet_frame(run_dir, "Warnings")
    assert {"calibration_model", "audit_parity"} <= set(warnings.code)
    assert any(PARITY in m for m in warnings.message)
    assert all(PARITY in w for w in summary.warnings)  # a run-wide audit failure qualifies every row
    md = paths.summary_md.read_text()
    assert "CALIBRATION INSTRUMENT" in md and PARITY in md


def test_missing_tables_say_why_and_other_sheets_still_build(run, tmp_path) -> None:
    source, _ = run
    run_dir = tmp_path / "partial"
    shutil.copytree(source, run_dir)
    for suffix in (".csv", ".parquet"):
        (run_dir / "scores" / f"flips{suffix}").unlink()
    shutil.rmtree(run_dir / "audit")
    (run_dir / "exclusions.csv").unlink()
    write_run_report(run_dir, plots=False)
    flips = sheet_frame(run_dir, "Flips")
    assert list(flips.columns) == ["note"] and "biasbench score" in flips.note[0]
    assert "did not run" in sheet_frame(run_dir, "VoiceAudit").note[0]
    assert "no exclusions.csv" in sheet_frame(run_dir, "Exclusions").note[0]
    assert sheet_frame(run_dir, "Summary").flip_excess.isna().all()
    assert not (run_dir / "report" / "Flips.csv").exists()


def test_unscored_run_gives_a_readable_workbook(tmp_path) -> None:
    run_dir = make_run(tmp_path / "unscored", score=False)
    paths = write_run_report(run_dir, plots=False)
    assert "biasbench score" in sheet_frame(run_dir, "Summary").note[0]
    assert "Manifest" in paths.sheets and "No scores yet" in paths.summary_md.read_text()


def test_demonstration_pool_and_few_voices_are_flagged(tmp_path) -> None:
    run_dir = make_run(tmp_path / "demo", purpose="demonstration", voices_per_cell=2)
    write_run_report(run_dir, plots=False)
    assert "DEMONSTRATION POOL" in openpyxl.load_workbook(run_dir / "report.xlsx")["Summary"]["A1"].value
    codes = set(sheet_frame(run_dir, "Warnings").code)
    assert {"demonstration_pool", "few_voices"} <= codes
    assert "DEMONSTRATION POOL" in (run_dir / "summary.md").read_text()


def test_extra_sheets_from_other_areas(run, tmp_path) -> None:
    source, _ = run
    run_dir = tmp_path / "extra"
    shutil.copytree(source, run_dir)
    table = pd.DataFrame({"model": ["m"], "accuracy_before": [0.7], "accuracy_after": [0.8]})
    provided = lambda data: Sheet("Debias", table, description="before/after", order=600)  # noqa: E731
    skipped = lambda data: None  # noqa: E731 - a provider that does not apply to this run
    paths = write_run_report(run_dir, plots=False, extra_sheets=[provided, skipped])
    assert paths.sheets.index("Debias") == paths.sheets.index("Manifest") - 1
    ws = openpyxl.load_workbook(run_dir / "report.xlsx")["Debias"]
    assert header_row(ws) == 1 and ws["B2"].number_format == "0.0%" and ws["B2"].value == pytest.approx(0.7)


def test_sheet_validates_itself() -> None:
    with pytest.raises(ValueError, match="empty_reason"):
        Sheet("X", pd.DataFrame())
    with pytest.raises(ValueError, match="1-31"):
        Sheet("a/b", pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="unknown formats"):
        Sheet("X", pd.DataFrame({"x": [1]}), formats={"x": "money"})


def test_cli_report_and_one_line_errors(run, tmp_path, capsys) -> None:
    source, _ = run
    run_dir = tmp_path / "cli"
    shutil.copytree(source, run_dir)
    (run_dir / "report.xlsx").unlink()
    assert main(["report", str(run_dir), "--no-plots"]) == 0
    assert (run_dir / "report.xlsx").is_file() and "report:" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no manifest.json" in err and "Traceback" not in err
    (run_dir / "manifest.json").write_text("{not json")
    assert main(["report", str(run_dir)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
