"""Warnings that qualify numbers: invalid-rate disparity, CI wider than the gap, audit parity, few voices."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reports"))
from fixture_run import make_run  # noqa: E402

from biasbench.reports import load_run  # noqa: E402
from biasbench.reports.headline import headlines  # noqa: E402
from biasbench.reports.qualifiers import row_qualifiers, run_qualifiers  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return load_run(make_run(tmp_path_factory.mktemp("qualifiers") / "run"))


def _with_tables(run, **tables: pd.DataFrame):
    return dataclasses.replace(run, scores={**run.scores, **tables})


def _gap_row(run, metric: str) -> pd.Series:
    gaps = run.table("gaps")
    rows = gaps[
        (gaps.model == "model-b") & (gaps.grouping == "cell") & (gaps.metric == metric) & (gaps.kind == "max_minus_min")
    ]
    return rows.iloc[0]


def test_invalid_rate_disparity_follows_the_gap_ci(run) -> None:
    gaps = run.table("gaps").copy()
    mask = (
        (gaps.model == "model-b")
        & (gaps.grouping == "cell")
        & (gaps.metric == "invalid_rate")
        & (gaps.kind == "max_minus_min")
    )
    gaps.loc[mask, ["value", "ci_low", "ci_high", "group"]] = [0.12, 0.04, 0.2, "female|Black"]
    flagged = row_qualifiers(_with_tables(run, gaps=gaps), "model-b", "demo_mc", "accuracy", "cell", None)
    assert [q.code for q in flagged] == ["invalid_disparity"]
    assert "12.0 pp" in flagged[0].message and "female × Black" in flagged[0].message
    gaps.loc[mask, ["ci_low"]] = [-0.01]
    assert row_qualifiers(_with_tables(run, gaps=gaps), "model-b", "demo_mc", "accuracy", "cell", None) == []


def test_invalid_rate_disparity_without_gaps_uses_group_spread(run) -> None:
    metrics = run.table("group_metrics").copy()
    mask = (metrics.model == "model-b") & (metrics.grouping == "cell") & (metrics.metric == "invalid_rate")
    metrics.loc[mask, "value"] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.10]
    data = dataclasses.replace(
        run, scores={k: v for k, v in run.scores.items() if k != "gaps"} | {"group_metrics": metrics}
    )
    flagged = row_qualifiers(data, "model-b", "demo_mc", "accuracy", "cell", None)
    assert [q.code for q in flagged] == ["invalid_disparity"] and "10.0 pp" in flagged[0].message
    metrics.loc[mask, "value"] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.04]
    data = dataclasses.replace(data, scores={**data.scores, "group_metrics": metrics})
    assert row_qualifiers(data, "model-b", "demo_mc", "accuracy", "cell", None) == []


def test_ci_wider_than_gap(run) -> None:
    gap = _gap_row(run, "accuracy").copy()
    gap[["value", "ci_low", "ci_high"]] = [0.10, 0.02, 0.18]  # width 0.16 > 0.10
    codes = [q.code for q in row_qualifiers(run, "model-b", "demo_mc", "accuracy", "cell", gap)]
    assert "ci_wider_than_gap" in codes
    gap[["ci_low", "ci_high"]] = [0.06, 0.14]  # width 0.08 < 0.10
    codes = [q.code for q in row_qualifiers(run, "model-b", "demo_mc", "accuracy", "cell", gap)]
    assert "ci_wider_than_gap" not in codes


def test_audit_parity_passed_gives_no_warning(run) -> None:
    passed = dataclasses.replace(run, parity={"passed": True, "flags": {"wer": False}, "warnings": []})
    failed = dataclasses.replace(run, parity={"passed": False, "flags": {"loudness": True}})
    assert "audit_parity" not in {q.code for q in run_qualifiers(passed)}
    messages = [q.message for q in run_qualifiers(failed) if q.code == "audit_parity"]
    assert messages == ["voice audit: voice audit flags: loudness (a gap may be a TTS artifact, not model bias)"]


def test_few_voices_counts_the_voices_that_spoke(run) -> None:
    manifest = json.loads(json.dumps(dict(run.manifest)))
    manifest["voices_used"] = [v for v in manifest["voices_used"] if v != "fB2"]  # female|Black keeps 2 voices
    data = dataclasses.replace(run, manifest=manifest)
    messages = sorted(q.message for q in run_qualifiers(data) if q.code == "few_voices")
    # only the cell drops below 3; race Black still has 5 voices and gender female 8
    assert messages == [
        "cell group female × Black has 2 voice(s), fewer than 3: a gap may reflect individual voices "
        "rather than the group"
    ]
    assert "few_voices" not in {q.code for q in run_qualifiers(run)}


def test_headline_verdict_is_formatted_from_the_scoring_headline(run) -> None:
    # reports never recompute a verdict: the sentence follows scores/headline, whatever the gaps table says
    claims = run.table("headline").copy()
    mask = (claims.model == "model-b") & (claims.metric == "accuracy") & (claims.axis == "race")
    claims.loc[mask, ["verdict", "worst_group", "best_group", "worst_value", "gap", "ci_low", "ci_high", "p_adjusted"]] = [
        "clear_gap", "Black", "White", 0.55, 0.2, 0.05, 0.3, 0.01]
    rows, _ = headlines(_with_tables(run, headline=claims))
    row = next(r for r in rows if r.model == "model-b")
    assert row.grouping == "race" and row.worst_group == "Black" and row.max_gap == pytest.approx(0.2)
    assert "clear gap on race: Black is worse off, 20.0 pp" in row.verdict and "5.0 pp to 30.0 pp" in row.verdict
    claims.loc[mask, ["verdict", "worst_group"]] = ["no_clear_gap", ""]
    rows, _ = headlines(_with_tables(run, headline=claims))
    row = next(r for r in rows if r.model == "model-b")
    assert row.worst_group == "" and "clear gap on" not in row.verdict.replace("no clear gap on", "")

