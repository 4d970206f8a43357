"""The planted-bias validation suite: does the scorer recover known gaps with honest uncertainty?

Each experiment draws a fresh pool of voice offsets and item offsets from the `simulated`
adapter's generative model (:mod:`biasbench.scoring.simulation`) and scores it with the same
functions `biasbench score` uses. Reported:

- recovery: the planted gap (population value) lies inside the first experiment's 95% CI;
- coverage of the 95% two-way cluster bootstrap CI of the gap over all experiments (goal >= 93%);
- the same for a naive row bootstrap (rows resampled as if independent, as fairlearn does),
  which under-covers because voices and items are clusters;
- the rejection rate of the voice-level permutation test at alpha 0.05 when no bias is
  planted (goal <= 5% + Monte-Carlo error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from
from biasbench.scoring.bootstrap import percentile_interval
from biasbench.scoring.rundata import run_data
from biasbench.scoring.significance import permutation_test
from biasbench.scoring.simulation import PlantedDesign, simulate_rows, simulate_rows_with_adapter, true_group_accuracy
from biasbench.scoring.slices import slice_estimates, task_frames

COVERAGE_GOAL = 0.93
"""Smallest acceptable coverage of the 95% cluster CI."""
ALPHA = 0.05
"""Level of the permutation test."""


@dataclass(frozen=True)
class ValidationReport:
    """Figures of one validation run."""

    n_experiments: int
    """Experiments per condition."""
    true_gap: float
    """Planted population gap (first − second value of the planted axis)."""
    recovered: bool
    """The first experiment's 95% CI contains the true gap."""
    first_estimate: tuple[float, float, float]
    """(estimate, CI low, CI high) of the first experiment."""
    coverage_cluster: float
    """Share of experiments whose cluster CI contains the true gap."""
    coverage_naive: float
    """Same for the naive row bootstrap."""
    mean_width_cluster: float
    """Mean width of the cluster CI."""
    mean_width_naive: float
    """Mean width of the naive CI."""
    rejection_rate_null: float
    """Share of no-bias experiments where the permutation test rejects at alpha."""
    coverage_null: float
    """Coverage of the cluster CI (true gap 0) in the no-bias experiments."""

    @property
    def monte_carlo_error(self) -> float:
        """Two standard errors of a rejection rate of alpha over these experiments."""
        return 2.0 * float(np.sqrt(ALPHA * (1 - ALPHA) / self.n_experiments))

    @property
    def passed(self) -> bool:
        return (
            self.recovered
            and self.coverage_cluster >= COVERAGE_GOAL
            and self.rejection_rate_null <= ALPHA + self.monte_carlo_error
            and self.coverage_naive < self.coverage_cluster
        )

    def lines(self) -> list[str]:
        """Human-readable summary."""
        low, high = self.first_estimate[1:]
        return [
            f"experiments per condition: {self.n_experiments}",
            f"planted gap (population): {self.true_gap:.4f}; first experiment: {self.first_estimate[0]:.4f} "
            f"[{low:.4f}, {high:.4f}] -> {'recovered' if self.recovered else 'NOT recovered'}",
            f"95% CI coverage, two-way cluster bootstrap: {self.coverage_cluster:.1%} (goal >= {COVERAGE_GOAL:.0%}); "
            f"mean width {self.mean_width_cluster:.4f}",
            f"95% CI coverage, naive row bootstrap:       {self.coverage_naive:.1%}; mean width {self.mean_width_naive:.4f}",
            f"no planted bias: permutation test rejects in {self.rejection_rate_null:.1%} at alpha {ALPHA} "
            f"(goal <= {ALPHA:.0%} + MC error {self.monte_carlo_error:.1%}); cluster CI covers 0 in {self.coverage_null:.1%}",
            "PASSED" if self.passed else "FAILED",
        ]


def _experiment(rows: pd.DataFrame, design: PlantedDesign, n_boot: int, n_perm: int, seed: int) -> tuple[float, float, float, float, float, float]:
    """(estimate, cluster low, cluster high, naive low, naive high, permutation p) for the planted axis gap."""
    data = run_data(rows, design.manifest())
    tf = next(task_frames(data.frame, data.axes, n_boot, seed))
    se = slice_estimates(tf, "sim", "audio", "multiple_choice", data.axes, {})
    est = se.groupings[design.axis]
    first, second = sorted(design.planted)[:2]
    a, b = est.groups.index(first), est.groups.index(second)
    m = est.metrics.index("accuracy")
    estimate = float(est.value[m, a] - est.value[m, b])
    low, high = percentile_interval(est.replicates[:, m, a] - est.replicates[:, m, b])
    naive_low, naive_high = _naive_interval(se.metrics[m].x, se.metrics[m].d, se.rows[design.axis].to_numpy(), first, second, n_boot, seed)
    voice = se.groupings["voice"]
    labels = [tf.voice_labels[v][design.axis] for v in voice.groups]
    strata = ["|".join(tf.voice_labels[v][x] for x in design.axes if x != design.axis) for v in voice.groups]
    rng = np.random.default_rng(seed_from(seed, "permutation"))
    _, p, _ = permutation_test(voice.num[m], voice.den[m], labels, strata, n_perm, rng)
    return estimate, float(low), float(high), naive_low, naive_high, p


def _naive_interval(x: np.ndarray, d: np.ndarray, labels: np.ndarray, first: str, second: str, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile CI of the gap when rows are resampled as if independent.

    Resampling N rows with replacement only changes how many rows of each kind (group × correct ×
    answered) are drawn, so the replicate counts are drawn from that multinomial directly.
    """
    rng = np.random.default_rng(seed_from(seed, "naive"))
    kinds = np.select([labels == first, labels == second], [0, 1], 2) * 4 + x.astype(int) * 2 + d.astype(int)
    counts = rng.multinomial(len(x), np.bincount(kinds, minlength=12) / len(x), size=n_boot)
    with np.errstate(all="ignore"):
        gaps = counts[:, 3] / (counts[:, 1] + counts[:, 3]) - counts[:, 7] / (counts[:, 5] + counts[:, 7])
    low, high = percentile_interval(gaps)
    return float(low), float(high)


def validate_scorer(
    n_experiments: int = 200,
    design: PlantedDesign | None = None,
    *,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
    engine: str = "numpy",
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Run the validation suite (see the module docstring); ``engine`` 'numpy' or 'adapter'."""
    if n_experiments < 1:
        raise ConfigError(f"n_experiments must be >= 1, got {n_experiments}")
    if engine not in ("numpy", "adapter"):
        raise ConfigError(f"engine must be 'numpy' or 'adapter', got '{engine}'")
    design = design or PlantedDesign()
    simulate = simulate_rows if engine == "numpy" else simulate_rows_with_adapter
    truth = true_group_accuracy(design)
    first, second = sorted(design.planted)[:2]
    true_gap = truth[first] - truth[second]
    null_design = design.without_bias()
    biased, null = [], []
    for k in range(n_experiments):
        biased.append(_experiment(simulate(design, seed_from(seed, "biased", k) % 2**32), design, n_boot, n_perm, seed + k))
        null.append(_experiment(simulate(null_design, seed_from(seed, "null", k) % 2**32), null_design, n_boot, n_perm, seed + k))
        if progress:
            progress(k + 1, n_experiments)
    b, z = np.array(biased), np.array(null)
    covered = (b[:, 1] <= true_gap) & (true_gap <= b[:, 2])
    naive_covered = (b[:, 3] <= true_gap) & (true_gap <= b[:, 4])
    return ValidationReport(
        n_experiments=n_experiments,
        true_gap=float(true_gap),
        recovered=bool(covered[0]),
        first_estimate=(float(b[0, 0]), float(b[0, 1]), float(b[0, 2])),
        coverage_cluster=float(covered.mean()),
        coverage_naive=float(naive_covered.mean()),
        mean_width_cluster=float(np.mean(b[:, 2] - b[:, 1])),
        mean_width_naive=float(np.mean(b[:, 4] - b[:, 3])),
        rejection_rate_null=float(np.mean(z[:, 5] < ALPHA)),
        coverage_null=float(np.mean((z[:, 1] <= 0) & (0 <= z[:, 2]))),
    )


FAST = dict(n_experiments=150, n_boot=400, n_perm=400)
"""Settings of the fast variant (`biasbench validate-scorer`, CI tests)."""


def fast_design() -> PlantedDesign:
    """The fast variant's design: fewer items than the default."""
    return replace(PlantedDesign(), n_items=120)
