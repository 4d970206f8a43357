"""The planted-bias validation suite (fast variant) and its link to the simulated adapter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from biasbench.cli import main
from biasbench.scoring.simulation import PlantedDesign, correct_probability, simulate_rows, true_accuracy
from biasbench.scoring.validation import (
    CI_KINDS,
    FALSE_ALARM_GOAL,
    FAST_SETTINGS,
    POWER_GOAL,
    Scenario,
    upper_bound,
    validate_scorer,
)


@pytest.fixture(scope="module")
def fast_report():
    (report,) = validate_scorer(FAST_SETTINGS)
    return report


def _mc(rate: float, runs: int) -> float:
    return 2.0 * float(np.sqrt(rate * (1 - rate) / runs))


def test_headline_false_alarm_under_the_null_is_controlled(fast_report):
    # the old headline read an uncorrected best-vs-worst CI and said "clear gap" in 33% of null runs
    report = fast_report
    assert report.null_runs == FAST_SETTINGS.null_runs
    assert report.false_alarm <= FALSE_ALARM_GOAL + _mc(FALSE_ALARM_GOAL, report.null_runs)
    assert report.false_alarm_bound == pytest.approx(upper_bound(report.false_alarm, report.null_runs))


def test_headline_detects_a_12pp_race_gap(fast_report):
    # the permutation test had p = 0.0045 for a planted 12 pp race gap; the headline must name the group
    assert fast_report.acceptance_power >= POWER_GOAL - _mc(POWER_GOAL, FAST_SETTINGS.power_runs)


def test_every_printed_ci_kind_covers(fast_report):
    assert set(fast_report.coverage) == set(CI_KINDS)
    for kind, coverage in fast_report.coverage.items():
        assert coverage >= 0.90, (kind, coverage)


def test_upper_bound_is_a_wilson_bound():
    assert upper_bound(0.0, 400) == pytest.approx(1.6448536**2 / (400 + 1.6448536**2), rel=1e-6)
    assert 0.03 < upper_bound(0.03, 200) < 0.08 < upper_bound(0.05, 200)


def test_planted_gaps_are_population_gaps():
    from biasbench.scoring.validation import _logit_voice_sd, _planted_for

    scenario = Scenario("race", 0.12, 3, 200, 0.05)
    truth = scenario.true_cell_accuracy()
    assert truth["female|Black"] == pytest.approx(0.58) and truth["male|White"] == pytest.approx(0.70)
    sd = _logit_voice_sd(0.05)
    assert true_accuracy(_planted_for(0.58, sd), sd, 1.0) == pytest.approx(0.58, abs=1e-9)


def test_true_accuracy_quadrature():
    # no random effects: the population accuracy is the planted one
    assert true_accuracy(0.8, 0.0, 0.0) == pytest.approx(0.8)
    # symmetric around 0.5 on the logit scale
    assert true_accuracy(0.5, 1.0, 1.0) == pytest.approx(0.5)
    # Monte Carlo check of E[sigmoid(logit p + N(0, 1.2²))]
    z = np.random.default_rng(0).normal(0, 1.2, 400_000)
    assert true_accuracy(0.8, 0.7, np.sqrt(1.2**2 - 0.7**2)) == pytest.approx(np.mean(1 / (1 + np.exp(-(np.log(4) + z)))), abs=2e-3)
    assert true_accuracy(0.8, 0.0, 0.0, invalid_rate=0.1) == pytest.approx(0.72)


def test_numpy_draws_match_the_planted_accuracy():
    design = replace(PlantedDesign(), n_items=3000, voice_sd=0.0, item_sd=0.0, voices_per_cell=1)
    rows = simulate_rows(design, 3)
    acc = rows.assign(c=rows.outcome == "correct").groupby("gender")["c"].mean()
    assert acc["female"] == pytest.approx(0.8, abs=0.02) and acc["male"] == pytest.approx(0.7, abs=0.02)


def test_formula_is_the_simulated_adapters():
    """correct_probability reproduces SimulatedAdapter.accuracy given the adapter's own offsets."""
    from biasbench.adapters.simulated import SimulatedAdapter
    from biasbench.core.messages import RequestContext

    def adapter(voice_sd, item_sd):
        return SimulatedAdapter.from_params({"axis": "gender", "planted": {"female": 0.8, "male": 0.7},
                                             "voice_sd": voice_sd, "item_sd": item_sd, "seed": 4})

    def logit(p):
        return np.log(p / (1 - p))

    both, voice_only, item_only = adapter(0.5, 1.0), adapter(0.5, 0.0), adapter(0.0, 1.0)
    for voice, gender, item in [("v1", "female", "q1"), ("v2", "male", "q7"), ("v3", "female", "q9")]:
        ctx = RequestContext(task="t", item_id=item, voice_id=voice, labels=(("gender", gender),), target_index=0, n_choices=4)
        planted = 0.8 if gender == "female" else 0.7
        u = logit(voice_only.accuracy(ctx)) - logit(planted)
        e = logit(item_only.accuracy(ctx)) - logit(planted)
        assert both.accuracy(ctx) == pytest.approx(float(correct_probability(np.array(planted), np.array(u), np.array(e))))


def test_cli_validate_scorer_runs_and_reports(capsys):
    assert main(["validate-scorer", "--null-runs", "10"]) in (0, 1)
    out = capsys.readouterr().out
    assert "false-alarm rate" in out and "coverage" in out and "power" in out and ("PASSED" in out or "FAILED" in out)
    assert "open-probe divergence" in out and "planted gendered occupation preference" in out
    assert main(["validate-scorer", "--null-runs", "0"]) == 2  # a one-line error, not a traceback


def test_divergence_false_alarms_stay_under_5pct_and_the_planted_preference_is_found():
    # issue 17 acceptance: under no planted preference the divergence test's false-alarm rate in
    # validate-scorer is <= 5%; the planted preference (same mean % women) is detected
    import time

    from biasbench.scoring.validation import validate_divergence_check

    start = time.perf_counter()
    report = validate_divergence_check(FAST_SETTINGS, seed=0)
    assert time.perf_counter() - start < 30  # the fast mode stays fast
    assert report.null_runs == FAST_SETTINGS.divergence_null_runs and report.planted_runs == FAST_SETTINGS.divergence_planted_runs
    assert report.false_alarm <= FALSE_ALARM_GOAL
    assert report.false_alarm_bound == pytest.approx(upper_bound(report.false_alarm, report.null_runs))
    assert report.power >= POWER_GOAL
    assert abs(report.mean_pct_women_gap) < 5  # the mean share cannot tell the planted groups apart
    assert report.passed and any("false-alarm rate under no planted preference" in line for line in report.lines())
    assert validate_divergence_check(replace(FAST_SETTINGS, divergence_null_runs=0)) is None
