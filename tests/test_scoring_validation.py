"""The planted-bias validation suite (fast variant) and its link to the simulated adapter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from biasbench.cli import main
from biasbench.scoring.simulation import PlantedDesign, correct_probability, simulate_rows, true_accuracy
from biasbench.scoring.validation import ALPHA, COVERAGE_GOAL, FAST, fast_design, validate_scorer


@pytest.fixture(scope="module")
def fast_report():
    return validate_scorer(design=fast_design(), **FAST)


def test_fast_validation_meets_the_acceptance_figures(fast_report):
    report = fast_report
    assert report.recovered
    assert report.coverage_cluster >= COVERAGE_GOAL
    assert report.rejection_rate_null <= ALPHA + report.monte_carlo_error
    assert report.passed


def test_naive_row_bootstrap_undercovers(fast_report):
    # rows are clustered by voice and item: resampling rows gives intervals about half as wide
    assert fast_report.coverage_naive < 0.9 < fast_report.coverage_cluster
    assert fast_report.mean_width_naive < 0.7 * fast_report.mean_width_cluster


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


def test_adapter_engine_recovers_the_planted_gap():
    design = replace(PlantedDesign(), n_items=50, voices_per_cell=3)
    report = validate_scorer(n_experiments=1, design=design, n_boot=300, n_perm=200, engine="adapter", seed=1)
    assert report.recovered
    low, high = report.first_estimate[1:]
    assert low < report.true_gap < high


def test_cli_validate_scorer_runs_and_reports(capsys):
    # seeded, so the verdicts are fixed: 4 experiments pass; with 2 the naive bootstrap covers as
    # often as the cluster bootstrap (100%), which the validation rejects -> FAILED and exit 1
    assert main(["validate-scorer", "--experiments", "4", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "permutation test" in out and out.strip().splitlines()[-1] == "PASSED"
    assert main(["validate-scorer", "--experiments", "2", "--seed", "0"]) == 1
    out = capsys.readouterr().out
    assert "naive row bootstrap:       100.0%" in out and out.strip().splitlines()[-1] == "FAILED"
    assert main(["validate-scorer", "--engine", "quantum"]) == 2
