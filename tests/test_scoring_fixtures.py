"""Hand-computed fixtures for every scoring metric (the right answers are worked out in comments)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from biasbench.scoring.bootstrap import bootstrap_p_value, item_counts, percentile_interval, voice_counts
from biasbench.scoring.contrasts import MDE_FACTOR
from biasbench.scoring.rundata import run_data
from biasbench.scoring.score import ScoringOptions, score_data
from biasbench.scoring.significance import cochran_q, cochrans_q_statistic, permutation_test
from biasbench.scoring.simulation import result_frame

VOICES = {"f1": "female", "f2": "female", "m1": "male", "m2": "male"}

# item -> voice -> (outcome, parsed); target is always 'A'
ANSWERS = {
    "q1": {"f1": ("correct", "A"), "f2": ("correct", "A"), "m1": ("incorrect", "C"), "m2": ("error", "")},
    "q2": {"f1": ("correct", "A"), "f2": ("incorrect", "B"), "m1": ("refusal", ""), "m2": ("incorrect", "B")},
    "q3": {"f1": ("invalid", ""), "f2": ("correct", "A"), "m1": ("correct", "A"), "m2": ("correct", "A")},
}


def _manifest(voices: dict[str, str], axes=("gender",)) -> dict:
    return {
        "seed": 7,
        "pool": {"name": "fixture", "axes": list(axes), "purpose": "research",
                 "voices": [{"id": v, "labels": {"gender": {"value": g, "source": "designed"}}} for v, g in voices.items()]},
        "tasks": [{"name": "mc", "kind": "multiple_choice", "answer_type": "multiple_choice"}],
        "models": [{"name": "m", "adapter": "x", "capabilities": {"calibration": False}}],
    }


def _rows() -> pd.DataFrame:
    rows = []
    for item, answers in ANSWERS.items():
        for voice, (outcome, parsed) in answers.items():
            rows.append({"item_id": item, "voice_id": voice, "gender": VOICES[voice], "cell": VOICES[voice],
                         "outcome": outcome, "parsed": parsed})
    return result_frame(rows, model="m", task="mc", target="A")


@pytest.fixture(scope="module")
def tables():
    data = run_data(_rows(), _manifest(VOICES))
    return score_data(data, ScoringOptions(n_boot=200, seed=1, n_perm=200)).tables


def _metric(tables, grouping, group, metric):
    gm = tables["group_metrics"]
    row = gm[(gm.grouping == grouping) & (gm.group == group) & (gm.metric == metric)]
    assert len(row) == 1, (grouping, group, metric)
    return row.iloc[0]


def test_accuracy_and_rates_by_hand(tables):
    # female: 6 answered rows, 4 correct, 1 invalid -> 2/3, invalid 1/6, refusal 0
    female = _metric(tables, "gender", "female", "accuracy")
    assert female.value == pytest.approx(4 / 6) and female.n_rows == 6 and female.n_items == 3 and female.n_voices == 2
    assert _metric(tables, "gender", "female", "invalid_rate").value == pytest.approx(1 / 6)
    # male: 6 rows, 1 error (excluded) -> 5 answered, 2 correct, 1 refusal
    male = _metric(tables, "gender", "male", "accuracy")
    assert male.value == pytest.approx(2 / 5) and male.n_rows == 5
    assert _metric(tables, "gender", "male", "refusal_rate").value == pytest.approx(1 / 5)
    assert _metric(tables, "gender", "male", "error_rate").value == pytest.approx(1 / 6)
    assert _metric(tables, "overall", "__all__", "accuracy").value == pytest.approx(6 / 11)
    # per voice: m2 answered q2 (wrong) and q3 (right); its q1 error is not counted as wrong
    assert _metric(tables, "voice", "m2", "accuracy").value == pytest.approx(1 / 2)
    assert _metric(tables, "voice", "m1", "accuracy").value == pytest.approx(1 / 3)


def test_summary_row_carries_rates_and_error_count(tables):
    s = tables["summary"]
    male = s[(s.grouping == "gender") & (s.group == "male")].iloc[0]
    assert male.metric == "accuracy" and male.value == pytest.approx(0.4)
    assert male.refusal_rate == pytest.approx(0.2) and male.invalid_rate == 0 and male.error_count == 1


def test_gaps_by_hand(tables):
    g = tables["gaps"]
    g = g[(g.grouping == "gender") & (g.metric == "accuracy")].set_index(["kind", "group"])
    assert g.loc[("max_minus_min", "male"), "value"] == pytest.approx(2 / 3 - 2 / 5)
    assert g.loc[("max_minus_min", "male"), "reference"] == "female"
    assert g.loc[("min_over_max", "male"), "value"] == pytest.approx(0.4 / (2 / 3))
    assert g.loc[("worst_group", "male"), "value"] == pytest.approx(0.4)
    assert g.loc[("vs_rest", "female"), "value"] == pytest.approx(2 / 3 - 2 / 5)
    assert g.loc[("pair", "female"), "value"] == pytest.approx(4 / 15)
    # invalid rate: the worst group is the one with the higher rate
    inv = tables["gaps"]
    inv = inv[(inv.grouping == "gender") & (inv.metric == "invalid_rate") & (inv.kind == "worst_group")].iloc[0]
    assert inv.group == "female" and inv.value == pytest.approx(1 / 6)


def test_flip_rates_by_hand(tables):
    # q1: within f1-f2 agree (1 pair); cross f1-m1, f2-m1 flip (2 pairs, 2 flips); m2 errored
    # q2: within f1-f2 flip, m1-m2 flip; cross: f1-m1, f1-m2, f2-m1 flip, f2-m2 agree (4 pairs, 3 flips)
    # q3: within f1-f2 flip (invalid vs A), m1-m2 agree; cross f1-m1, f1-m2 flip, f2-m1, f2-m2 agree
    f = tables["flips"].set_index("quantity")
    assert f.loc["within_group", "value"] == pytest.approx(3 / 5) and f.loc["within_group", "n_pairs"] == 5
    assert f.loc["cross_group", "value"] == pytest.approx(7 / 10) and f.loc["cross_group", "n_pairs"] == 10
    assert f.loc["excess", "value"] == pytest.approx(0.1)
    assert f.loc["within_group", "n_items"] == 3


def test_flip_ci_contains_point_and_is_seeded(tables):
    f = tables["flips"]
    assert ((f.ci_low <= f.value + 1e-12) & (f.value <= f.ci_high + 1e-12)).all()


def test_permutation_test_matches_enumeration():
    # voices (num/den): f1 2/3, f2 2/3, m1 1/3, m2 1/2; observed spread 4/6 - 2/5 = 4/15.
    # Of the 6 ways to pick the 'f' pair, {f1,f2} and {m1,m2} give 4/15, the other 4 give 0.1 -> p = 1/3.
    stat, p, n = permutation_test(np.array([2, 2, 1, 1.0]), np.array([3, 3, 3, 2.0]), ["f", "f", "m", "m"], [""] * 4,
                                  20000, np.random.default_rng(0))
    assert stat == pytest.approx(4 / 15)
    assert p == pytest.approx(1 / 3, abs=0.015) and n == 20000


def test_permutation_respects_strata():
    # within each stratum the labels are already split evenly; permuting inside strata keeps the
    # spread 0 whenever the two strata have equal values -> every permutation ties -> p = 1
    stat, p, _ = permutation_test(np.array([1, 1, 2, 2.0]), np.array([2, 2, 2, 2.0]), ["a", "b", "a", "b"], ["x", "x", "y", "y"],
                                  500, np.random.default_rng(0))
    assert stat == 0 and p == 1.0


def test_cochran_q_by_hand():
    # blocks × groups: column totals C = [4, 3, 1], N = 8, row totals R = [2, 1, 3, 1, 1], ΣR² = 16
    # Q = (k−1)(kΣC² − N²)/(kN − ΣR²) = 2 (3·26 − 64) / (24 − 16) = 3.5; df 2; p = exp(−3.5/2)
    table = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
    q, p, df, blocks, dropped = cochran_q(table, np.ones_like(table))
    assert q == pytest.approx(3.5) and df == 2 and p == pytest.approx(math.exp(-1.75)) and blocks == 5 and dropped == 0


def test_cochran_q_equals_statsmodels_on_random_tables():
    statsmodels = pytest.importorskip("statsmodels.stats.contingency_tables", reason="the reference: pip install 'biasbench[test]'")
    statsmodels_q = statsmodels.cochrans_q

    rng = np.random.default_rng(7)
    for trial in range(200):
        blocks, k = rng.integers(2, 40), rng.integers(2, 7)
        table = (rng.random((blocks, k)) < rng.uniform(0.1, 0.9, size=k)).astype(int)
        if (table == table[:, :1]).all():
            continue
        q, p, df = cochrans_q_statistic(table)
        expected = statsmodels_q(table)
        assert (q, p, df) == pytest.approx((expected.statistic, expected.pvalue, expected.df), rel=1e-12, abs=1e-15), trial


def test_cochran_q_drops_ties_and_empty_cells():
    correct = np.array([[1, 0], [2, 1], [1, 1], [0, 0.0]])
    answered = np.array([[2, 1], [2, 3], [1, 0], [1, 1.0]])  # row 0 tied (1/2), row 2 has an empty group
    q, p, df, blocks, dropped = cochran_q(correct, answered)
    assert dropped == 2 and blocks == 2


def test_bootstrap_weights_shapes_and_totals():
    rng = np.random.default_rng(0)
    items = item_counts(7, 50, rng)
    assert items.shape == (7, 50) and (items.sum(axis=0) == 7).all()
    voices, single = voice_counts(["a", "a", "a", "b", "b", "c"], 40, np.random.default_rng(1))
    assert single == ("c",) and (voices[:, 5] == 1).all()
    assert np.allclose(voices[:, :3].sum(axis=1), 3) and np.allclose(voices[:, 3:5].sum(axis=1), 2)
    # Rao–Wu: 2 draws out of 3 voices, scaled by 3/2 -> weights are multiples of 1.5
    assert np.allclose(np.mod(voices[:, :3], 1.5), 0)


def test_rao_wu_voice_variance_is_unbiased():
    # one cell of 3 voices with values v; the replicate mean's variance must equal s²/n (s² with ddof=1),
    # not the plain bootstrap's (n−1)/n · s²/n
    v = np.array([0.2, 0.5, 0.9])
    weights, _ = voice_counts(["c"] * 3, 40000, np.random.default_rng(3))
    means = weights @ v / weights.sum(axis=1)
    assert np.var(means) == pytest.approx(np.var(v, ddof=1) / 3, rel=0.03)


def test_percentile_interval_and_p_value():
    reps = np.arange(1, 101, dtype=float)[:, None]
    low, high = percentile_interval(reps)
    assert low[0] == pytest.approx(np.percentile(np.arange(1, 101), 2.5)) and high[0] == pytest.approx(np.percentile(np.arange(1, 101), 97.5))
    # 0 of 100 replicates at or below 0 -> p = 2 (1 + 0)/(1 + 100)
    assert bootstrap_p_value(reps, 0.0)[0] == pytest.approx(2 / 101)


def test_wer_task_means_per_group():
    rows = [
        {"item_id": "s1", "voice_id": "f1", "gender": "female", "outcome": "scored", "score": 0.0},
        {"item_id": "s2", "voice_id": "f1", "gender": "female", "outcome": "scored", "score": 0.5},
        {"item_id": "s1", "voice_id": "m1", "gender": "male", "outcome": "scored", "score": 0.25},
        {"item_id": "s2", "voice_id": "m1", "gender": "male", "outcome": "error", "score": None},
    ]
    manifest = _manifest({"f1": "female", "m1": "male"})
    manifest["tasks"] = [{"name": "tr", "kind": "transcription", "answer_type": "transcription"}]
    frame = result_frame(rows, model="m", task="tr")
    frame["cell"] = frame["gender"]
    out = score_data(run_data(frame, manifest), ScoringOptions(n_boot=50, n_perm=50)).tables
    s = out["summary"].set_index(["grouping", "group"])
    assert s.loc[("gender", "female"), "metric"] == "wer" and s.loc[("gender", "female"), "value"] == pytest.approx(0.25)
    assert s.loc[("gender", "male"), "value"] == pytest.approx(0.25) and s.loc[("gender", "male"), "error_count"] == 1
    worst = out["gaps"][(out["gaps"].kind == "max_minus_min") & (out["gaps"].grouping == "gender") & (out["gaps"].metric == "wer")]
    assert worst.iloc[0].value == pytest.approx(0.0)


def test_equivalence_certificate_and_power():
    # every voice answers identically -> the difference is 0 in every replicate -> equivalent
    rows = [{"item_id": f"q{i}", "voice_id": v, "gender": g, "cell": g, "outcome": "correct" if i % 3 else "incorrect",
             "parsed": "A" if i % 3 else "B"} for i in range(12) for v, g in VOICES.items()]
    out = score_data(run_data(result_frame(rows, model="m", task="mc", target="A"), _manifest(VOICES)),
                     ScoringOptions(n_boot=100, seed=2, n_perm=50)).tables
    eq = out["equivalence"]
    assert eq.equivalent.all() and (eq.difference == 0).all() and (eq.status == "ok").all()
    power = out["power"].iloc[0]
    assert power.se == 0.0 and power.mde == 0.0  # identical voices: no spread, nothing undetectable
    assert MDE_FACTOR == pytest.approx(2.801585, abs=1e-5)  # z_0.975 + z_0.80 from the normal table


def test_minimum_detectable_effect_is_2_8_standard_errors(tables):
    power = tables["power"]
    shown = power[power.se.notna() & (power.se > 0)]
    assert len(shown) > 0
    for row in shown.itertuples():
        assert row.mde / row.se == pytest.approx(2.801585, abs=1e-5)


def test_not_equivalent_when_gap_is_large(tables):
    eq = tables["equivalence"]
    assert not eq.equivalent.any()


def test_position_bias_by_hand():
    # 4 options; rotation r shows original option (i + r) mod 4 at position i, so target A (0) sits at (0 − r) mod 4
    rows = []
    for r, outcome in [(0, "correct"), (1, "incorrect"), (1, "correct"), (2, "correct"), (3, "incorrect")]:
        presented = "A" if outcome == "correct" else "B"
        rows.append({"item_id": f"q{len(rows)}", "voice_id": "f1", "gender": "female", "permutation": r, "outcome": outcome,
                     "parsed": "A" if outcome == "correct" else "B", "details": json.dumps({"presented": presented, "n_choices": 4})})
    out = score_data(run_data(result_frame(rows, model="m", task="mc", target="A", cell="female"), _manifest({"f1": "female"})),
                     ScoringOptions(n_boot=20, n_perm=10)).tables
    pb = out["position_bias"].set_index(["quantity", "position"])
    assert pb.loc[("accuracy_by_target_position", 0), "value"] == 1.0  # r=0
    assert pb.loc[("accuracy_by_target_position", 3), "value"] == pytest.approx(0.5)  # r=1: one of two
    assert pb.loc[("accuracy_by_target_position", 2), "value"] == 1.0  # r=2
    assert pb.loc[("accuracy_by_target_position", 1), "value"] == 0.0  # r=3
    assert pb.loc[("answer_share_by_position", 0), "value"] == pytest.approx(3 / 5)
    assert pb.loc[("answer_share_by_position", 0), "expected"] == pytest.approx(0.25)


def test_text_control_gap_by_hand():
    rows = [{"item_id": f"q{i}", "voice_id": v, "gender": g, "cell": g, "outcome": "correct" if (i + (g == "male")) % 2 == 0 else "incorrect"}
            for i in range(4) for v, g in VOICES.items()]
    rows += [{"item_id": f"q{i}", "voice_id": "__text__", "modality": "text", "outcome": "correct" if i < 3 else "incorrect"} for i in range(4)]
    out = score_data(run_data(result_frame(rows, model="m", task="mc", target="A"), _manifest(VOICES)),
                     ScoringOptions(n_boot=50, n_perm=10)).tables
    tc = out["text_control"].set_index(["grouping", "group"])
    # audio: female correct on q0, q2 (1/2); male on q1, q3 (1/2); text 3/4
    assert tc.loc[("overall", "__all__"), "gap"] == pytest.approx(0.5 - 0.75)
    assert tc.loc[("gender", "male"), "text_value"] == pytest.approx(0.75) and tc.loc[("gender", "male"), "n_items"] == 4
    text = out["group_metrics"]
    text = text[(text.modality == "text") & (text.grouping == "overall") & (text.metric == "accuracy")].iloc[0]
    assert text.value == pytest.approx(0.75) and text.n_voices == 1 and text.status == "ok"


def test_task_scores_come_from_the_tasks_functions_per_group():
    from biasbench.tasks.metrics.bbq import bbq_s_dis

    # disambiguated rows, all answered with a target/non-target: s_DIS = 2 · biased/decided − 1
    # female: 3 of 4 biased -> 0.5; male: 1 of 4 biased -> −0.5
    rows = []
    for voice, gender, biased in [("f1", "female", [1, 1, 1, 0]), ("m1", "male", [1, 0, 0, 0])]:
        for i, b in enumerate(biased):
            rows.append({"item_id": f"q{i}", "voice_id": voice, "gender": gender, "cell": gender, "outcome": "correct", "parsed": "A",
                         "details": json.dumps({"condition": "disambig", "answer_role": "target", "biased": bool(b)})})
    frame = result_frame(rows, model="m", task="bbq", target="A")
    manifest = _manifest({"f1": "female", "m1": "male"})
    manifest["tasks"] = [{"name": "bbq", "answer_type": "multiple_choice",
                          "config": {"metrics": ["biasbench.tasks.metrics.bbq:bbq_s_dis", "no.such.module:f"]}}]
    result = score_data(run_data(frame, manifest), ScoringOptions(n_boot=20, n_perm=10))
    gm = result.tables["group_metrics"]
    s = gm[gm.metric == "bbq_s_dis"].set_index(["grouping", "group"])
    assert s.loc[("gender", "female"), "value"] == pytest.approx(0.5) and s.loc[("gender", "male"), "value"] == pytest.approx(-0.5)
    assert s.loc[("overall", "__all__"), "value"] == pytest.approx(bbq_s_dis(frame))
    assert (s["status"] == "no_ci").all()
    assert any("no.such.module" in w for w in result.warnings)


def test_gee_is_gone_and_fixed_voice_tests_carry_a_warning():
    # GEE rejected some term in 83% of null runs (voices treated as fixed): it is no longer fitted.
    # Cochran's Q stays as a secondary test, but every row says its false-positive rate exceeds its level.
    pattern = {"f1": [1] * 8 + [0] * 2, "f2": [1] * 8 + [0] * 2, "m1": [1] * 4 + [0] * 6, "m2": [1] * 4 + [0] * 6}
    rows = [{"item_id": f"q{i}", "voice_id": v, "gender": VOICES[v], "cell": VOICES[v],
             "outcome": "correct" if pattern[v][i] else "incorrect", "parsed": "A" if pattern[v][i] else "B"}
            for v in pattern for i in range(10)]
    out = score_data(run_data(result_frame(rows, model="m", task="mc", target="A"), _manifest(VOICES)),
                     ScoringOptions(n_boot=20, n_perm=20)).tables
    tests = out["significance"]
    assert "gee" not in set(tests["test"]) and not hasattr(ScoringOptions(), "gee")
    assert set(tests["test"]) == {"permutation", "cochran_q"}
    q = tests[(tests.test == "cochran_q") & (tests.status == "ok")]
    assert not q.empty
    assert q["note"].str.contains("WARNING: treats voices as fixed").all()
    assert tests[tests.test == "permutation"]["note"].str.contains("not adjusted").all()


def test_group_metrics_frame_without_a_run_directory():
    from biasbench.scoring.score import group_metrics_frame

    gm = group_metrics_frame(_rows(), axes=("gender",), n_boot=50, seed=3)
    female = gm[(gm.grouping == "gender") & (gm.group == "female") & (gm.metric == "accuracy")].iloc[0]
    assert female.value == pytest.approx(4 / 6) and female.ci_low <= female.value <= female.ci_high


def test_task_scores_get_bootstrap_cis_in_a_balanced_pool():
    rng = np.random.default_rng(0)
    rows = []
    for voice, gender in VOICES.items():
        for i in range(30):
            rows.append({"item_id": f"q{i}", "voice_id": voice, "gender": gender, "cell": gender, "outcome": "correct", "parsed": "A",
                         "details": json.dumps({"condition": "disambig", "answer_role": "target",
                                                "biased": bool(rng.random() < (0.7 if gender == "female" else 0.4))})})
    manifest = _manifest(VOICES)
    manifest["tasks"] = [{"name": "bbq", "answer_type": "multiple_choice", "config": {"metrics": ["biasbench.tasks.metrics.bbq:bbq_s_dis"]}}]
    frame = result_frame(rows, model="m", task="bbq", target="A")
    runs = [score_data(run_data(frame, manifest), ScoringOptions(n_boot=100, seed=4, n_perm=10)).tables["group_metrics"]
            for _ in range(2)]
    s = runs[0][runs[0].metric == "bbq_s_dis"]
    assert (s["status"] == "ok").all() and ((s.ci_low <= s.value) & (s.value <= s.ci_high)).all()
    assert (s.ci_high - s.ci_low > 0).all()
    assert runs[0].equals(runs[1])


def test_materialised_task_replicates_match_the_cube_bootstrap():
    # cant_tell_rate = correct / answered, i.e. accuracy when no answer is invalid: with the same
    # replicates, the materialised task-score CI is the cube-based accuracy's percentile CI; the
    # accuracy CI is that interval widened for few voices (small_sample_interval), so it contains it
    rng = np.random.default_rng(1)
    rows = [{"item_id": f"q{i}", "voice_id": v, "gender": g, "cell": g, "outcome": "correct" if rng.random() < 0.6 else "incorrect"}
            for i in range(25) for v, g in VOICES.items()]
    manifest = _manifest(VOICES)
    manifest["tasks"] = [{"name": "vo", "answer_type": "multiple_choice", "config": {"metrics": ["biasbench.tasks.metrics.voice_only:cant_tell_rate"]}}]
    gm = score_data(run_data(result_frame(rows, model="m", task="vo", target="A"), manifest),
                    ScoringOptions(n_boot=100, seed=9, n_perm=10)).tables["group_metrics"]
    key = ["grouping", "group"]
    acc = gm[gm.metric == "accuracy"].set_index(key)
    task = gm[gm.metric == "cant_tell_rate"].set_index(key)
    for index in task.index:
        assert task.loc[index, "value"] == pytest.approx(acc.loc[index, "value"])
        assert acc.loc[index, "ci_low"] <= task.loc[index, "ci_low"] + 1e-12
        assert task.loc[index, "ci_high"] <= acc.loc[index, "ci_high"] + 1e-12
    overall = ("overall", "__all__")  # one pool cell per voice group here, so overall has the most voice df
    assert task.loc[overall, "ci_low"] < task.loc[overall, "ci_high"]


def test_task_score_pair_gaps_use_the_same_replicates():
    rows = [{"item_id": f"q{i}", "voice_id": v, "gender": g, "cell": g, "outcome": "correct" if (i + len(v) + (g == "male")) % 3 else "incorrect"}
            for i in range(25) for v, g in VOICES.items()]
    manifest = _manifest(VOICES)
    manifest["tasks"] = [{"name": "vo", "answer_type": "multiple_choice", "config": {"metrics": ["biasbench.tasks.metrics.voice_only:cant_tell_rate"]}}]
    gaps = score_data(run_data(result_frame(rows, model="m", task="vo", target="A"), manifest),
                      ScoringOptions(n_boot=100, seed=9, n_perm=10)).tables["gaps"]
    task = gaps[(gaps.metric == "cant_tell_rate") & (gaps.kind == "pair")].iloc[0]
    acc = gaps[(gaps.metric == "accuracy") & (gaps.kind == "pair") & (gaps.grouping == "gender")].iloc[0]
    assert (task.group, task.reference) == ("female", "male") and task.status == "ok"
    assert task.value == pytest.approx(acc.value) and acc.ci_low <= task.ci_low + 1e-12 and task.ci_high <= acc.ci_high + 1e-12
