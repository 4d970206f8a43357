"""Reports read at a glance: verdict-coloured gaps, capped row heights, the TTS-artifact qualifier in the verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.reports import write_run_report  # noqa: E402
from biasbench.reports.verdict_text import artifact_qualifier  # noqa: E402
from biasbench.reports.workbook import header_row, read_sheet  # noqa: E402

LONG = "voice fB1 has ASR WER 30%, far above its cell; " * 6


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = {"planted-sim": (True, {("female", "Black"): -0.6}), "model-b": (False, {})}
    run_dir = make_run(tmp_path_factory.mktemp("glance") / "run", parity_warning=LONG, models=models, n_items=24)
    summary = pd.read_csv(run_dir / "scores" / "gaps.csv")
    worst = summary[(summary.kind == "max_minus_min") & (summary.grouping == "cell") & (summary.ci_low > 0)]
    assert not worst.empty, "the fixture must have a clear gap to qualify"
    race = str(worst.iloc[0].group).split("|")[1]
    parity = json.loads((run_dir / "audit" / "parity.json").read_text())
    parity["flags"] = [{"grouping": "race", "group": race, "metric": "wer"}]
    (run_dir / "audit" / "parity.json").write_text(json.dumps(parity))
    write_run_report(run_dir, plots=False)
    return run_dir


def test_verdict_carries_the_tts_qualifier_when_the_audit_flags_the_worst_group(report: Path) -> None:
    summary = read_sheet(report / "report.xlsx", "Summary")
    flagged = json.loads((report / "audit" / "parity.json").read_text())["flags"][0]["group"]
    clear = summary[summary.verdict.str.startswith("clear gap")]
    assert not clear.empty
    for row in clear.itertuples():
        covered = flagged in str(row.worst_group).split(" × ")  # the sheet shows the label style
        first_clause = row.verdict.split(";")[0]  # clear gaps come first, each with its own qualifier
        assert ("possibly a TTS artifact" in first_clause) == covered, row.verdict
    assert any("possibly a TTS artifact" in v for v in clear.verdict)


def test_qualifier_rules() -> None:
    flags = {("accent", "en-029")}
    assert artifact_qualifier("female|en-029", "cell", flags) == (
        ", possibly a TTS artifact (the voice audit flags en-029 voices as hard to understand)")
    assert artifact_qualifier("en-029", "accent", flags).startswith(", possibly a TTS artifact")
    assert artifact_qualifier("female|en-us", "cell", flags) == ""
    assert artifact_qualifier("female", "gender", flags) == ""


def test_gap_cells_are_coloured_by_verdict_and_rows_stay_short(report: Path) -> None:
    ws = openpyxl.load_workbook(report / "report.xlsx")["Summary"]
    top = header_row(ws)
    header = [c.value for c in ws[top]]
    gap_letter = openpyxl.utils.get_column_letter(header.index("max_gap") + 1)
    verdict_letter = openpyxl.utils.get_column_letter(header.index("verdict") + 1)
    rules = [(str(r.sqref), rule) for r in ws.conditional_formatting for rule in r.rules]
    assert rules and all(sqref.startswith(gap_letter) for sqref, _ in rules)
    formulas = [rule.formula[0] for _, rule in rules]
    first = top + 1
    assert formulas == [f'LEFT(${verdict_letter}{first},9)="clear gap"', f'LEFT(${verdict_letter}{first},12)="no clear gap"']
    assert all(rule.type == "expression" for _, rule in rules)  # no colour scale over mixed metrics
    warnings = header.index("warnings") + 1
    long_rows = [r for r in range(top + 1, ws.max_row + 1) if len(str(ws.cell(r, warnings).value or "")) > 200]
    assert long_rows and all(0 < ws.row_dimensions[r].height <= 60 for r in long_rows)


def test_group_row_counts_link_to_the_viewer_rows(report: Path) -> None:
    from urllib.parse import parse_qs, urlparse

    ws = openpyxl.load_workbook(report / "report.xlsx")["ByGroup"]
    top = header_row(ws)
    names = [c.value for c in ws[top]]
    col = {name: names.index(name) + 1 for name in ("model", "task", "modality", "grouping", "group", "n_rows")}
    checked = 0
    for row in range(top + 1, ws.max_row + 1):
        value = {name: ws.cell(row, index).value for name, index in col.items()}
        link = ws.cell(row, col["n_rows"]).hyperlink
        assert link is not None and link.target.startswith("http://127.0.0.1:8765/?")
        query = {k: v[0] for k, v in parse_qs(urlparse(link.target).query).items()}
        assert query["model"] == value["model"] and query["task"] == value["task"]
        if value["grouping"] == "cell":
            assert query["group"] == value["group"]  # already in the 'female × Black' label style
            checked += 1
        elif value["grouping"] in ("gender", "race"):
            assert query["group"] == f"{value['grouping']}: {value['group']}"
            checked += 1
    assert checked > 0
