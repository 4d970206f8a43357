"""`validate-scorer`: are the headline's DECISIONS right on simulated pools like real ones?

Pools are gender (2) × race (3) cells with 3 or 5 voices each. A row is correct with probability
``sigmoid(logit(planted cell accuracy) + u_voice + e_item)``: voice effects have an SD of 0.03–0.08
on the probability scale (converted to the logit scale at the pool's mean accuracy), item
difficulty has a logit SD of 1, and 100–1,500 items are asked. Planted gaps are *population* gaps
(over voices and items, by quadrature), so coverage is judged against the true estimand.

Each simulated run is decided by :func:`biasbench.scoring.claims.decide`, the function
`biasbench score` uses for ``scores/headline.csv``, with the same two-way cluster bootstrap.
Reported:

- headline false-alarm rate: share of null runs (nothing planted) with ``clear_gap`` on any axis,
  with its one-sided Monte-Carlo upper 95% bound;
- power: share of runs whose headline names the planted group, per planted gap, for a race
  main effect, a gender main effect and a single intersectional cell (intersection-only scenario);
- coverage of every CI the report prints: per group, pairwise and vs rest (95% percentile,
  marginal, as in group_metrics and gaps) and the headline gap (simultaneous).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import brentq

from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from
from biasbench.scoring.bootstrap import item_counts, satterthwaite_df, small_sample_interval, voice_counts
from biasbench.scoring.claims import ALPHA, VoiceSums, decide
from biasbench.scoring.direction import HIGHER_BETTER
from biasbench.scoring.simulation import true_accuracy

LEVELS = {"gender": ("female", "male"), "race": ("Asian", "Black", "White")}
"""The simulated pool's axes (cells are the cross product)."""
AXES = ("gender", "race", "cell")
"""The family decided per run."""
BASE_ACCURACY = 0.70
"""Accuracy of an unaffected cell (population value)."""
ITEM_SD = 1.0
"""Item difficulty SD on the logit scale."""
COVERAGE_GOAL = 0.93
"""Smallest acceptable coverage of every CI kind."""
FALSE_ALARM_GOAL = 0.05
"""Largest acceptable headline false-alarm rate."""
FALSE_ALARM_BOUND_GOAL = 0.08
"""Largest acceptable Monte-Carlo upper 95% bound of the false-alarm rate."""
POWER_GOAL = 0.80
"""Smallest acceptable power for the acceptance scenario (12 pp race gap, voice SD 0.05, >= 200 items)."""
ACCEPTANCE_GAP = 0.12
"""Race gap of the power acceptance scenario."""


@dataclass(frozen=True)
class Scenario:
    """One simulated condition."""

    kind: str
    """'null', 'race', 'gender' or 'cell' (intersection only: one cell differs)."""
    gap: float = 0.0
    """Population accuracy gap of the affected group (or cell) below the others."""
    voices_per_cell: int = 3
    """Voices per gender × race cell."""
    n_items: int = 200
    """Items per run."""
    voice_sd: float = 0.05
    """SD of voice effects on the probability scale."""

    @property
    def affected(self) -> str:
        """The planted worst group ('' for the null)."""
        return {"null": "", "race": "Black", "gender": "female", "cell": "female|Black"}[self.kind]

    def cells(self) -> list[tuple[str, str]]:
        return list(product(LEVELS["gender"], LEVELS["race"]))

    def true_cell_accuracy(self) -> dict[str, float]:
        """Population accuracy of every cell."""
        out = {}
        for gender, race in self.cells():
            hit = (self.kind == "race" and race == "Black") or (self.kind == "gender" and gender == "female") or \
                  (self.kind == "cell" and (gender, race) == ("female", "Black"))
            out[f"{gender}|{race}"] = BASE_ACCURACY - (self.gap if hit else 0.0)
        return out


def _logit_voice_sd(voice_sd: float) -> float:
    return voice_sd / (BASE_ACCURACY * (1.0 - BASE_ACCURACY))


@lru_cache(maxsize=4096)
def _planted_for(target: float, voice_sd_logit: float) -> float:
    """The typical-voice accuracy whose population accuracy (over voices and items) is ``target``."""
    return float(brentq(lambda p: true_accuracy(p, voice_sd_logit, ITEM_SD) - target, 1e-4, 1 - 1e-4))


@dataclass(frozen=True)
class Pool:
    """Voices of a simulated pool and their labels."""

    labels: dict[str, tuple[str, ...]]
    """'gender' / 'race' / 'cell' -> per-voice label."""
    strata: dict[str, tuple[str, ...]]
    """Axis -> per-voice stratum (the other axis; '' for cell)."""


def make_pool(voices_per_cell: int) -> Pool:
    genders, races = [], []
    for gender, race in product(LEVELS["gender"], LEVELS["race"]):
        genders += [gender] * voices_per_cell
        races += [race] * voices_per_cell
    cells = tuple(f"{g}|{r}" for g, r in zip(genders, races))
    return Pool({"gender": tuple(genders), "race": tuple(races), "cell": cells},
                {"gender": tuple(races), "race": tuple(genders), "cell": ("",) * len(cells)})


def simulate_correct(scenario: Scenario, pool: Pool, rng: np.random.Generator) -> np.ndarray:
    """(items, voices) 0/1 correct answers of one run."""
    sd = _logit_voice_sd(scenario.voice_sd)
    planted = {cell: _planted_for(round(acc, 12), round(sd, 3)) for cell, acc in scenario.true_cell_accuracy().items()}
    p_cell = np.array([planted[c] for c in pool.labels["cell"]])
    logit = np.log(p_cell / (1 - p_cell)) + rng.normal(0, sd, p_cell.size)[None, :] + rng.normal(0, ITEM_SD, scenario.n_items)[:, None]
    return (rng.random(logit.shape) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)


@dataclass
class Tally:
    """Running counts of one scenario."""

    runs: int = 0
    clear_any: int = 0
    named_right: int = 0
    other_axis_claims: int = 0
    """Runs with a clear gap on the main axis that has no planted difference (race runs: gender; gender runs: race)."""
    covered: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in CI_KINDS})

    def cover(self, kind: str, hits: np.ndarray) -> None:
        self.covered[kind][0] += int(np.sum(hits))
        self.covered[kind][1] += int(hits.size)

    def coverage(self, kind: str) -> float:
        hit, total = self.covered[kind]
        return hit / total if total else float("nan")


CI_KINDS = ("per_group", "pairwise", "vs_rest", "headline_gap")
"""The CI kinds the report prints."""


def run_once(scenario: Scenario, pool: Pool, seed: int, n_boot: int, n_perm: int, tally: Tally) -> None:
    """Simulate, decide and score one run into ``tally``."""
    rng = np.random.default_rng(seed)
    correct = simulate_correct(scenario, pool, rng)
    n_items, n_voices = correct.shape
    items = item_counts(n_items, n_boot, rng).astype(np.float64)
    weights, _ = voice_counts(pool.labels["cell"], n_boot, rng)
    num_reps = (items.T @ correct) * weights
    den_reps = np.repeat(items.sum(axis=0)[:, None], n_voices, axis=1) * weights
    voice_num = correct.sum(axis=0)[None, :] * weights
    voice_den = np.full(n_voices, float(n_items))[None, :] * weights
    sums = VoiceSums(correct.sum(axis=0), np.full(n_voices, float(n_items)), num_reps, den_reps, pool.labels, pool.strata,
                     voice_num, voice_den, n_items)
    claims = decide(sums, AXES, HIGHER_BETTER, n_perm=n_perm, rng=rng)
    truth_cells = scenario.true_cell_accuracy()
    tally.runs += 1
    any_clear, right = False, False
    for claim in claims:
        truth = np.array([np.mean([v for c, v in truth_cells.items() if g in c.split("|") or g == c]) for g in claim.groups])
        worst, best = claim.worst_best()
        clear = claim.estimable and claim.p_adjusted[worst] <= ALPHA and claim.harm[worst] > claim.harm[best]
        any_clear |= bool(clear)
        if clear and claim.groups[worst] == scenario.affected:
            right = True
        if clear and {"race": "gender", "gender": "race"}.get(scenario.kind) == claim.axis:
            tally.other_axis_claims += 1
        # marginal CIs as the group_metrics and gaps tables print them (same interval function)
        member = np.stack([np.asarray(pool.labels[claim.axis]) == g for g in claim.groups], axis=1).astype(float)
        reps = (num_reps @ member) / (den_reps @ member)
        vreps = (voice_num @ member) / (voice_den @ member)
        df = member.sum(axis=0) - _cells_in(claim.axis)
        low, high = small_sample_interval(claim.values, reps, vreps, df, n_items)
        tally.cover("per_group", (low <= truth) & (truth <= high))
        rest_reps = (num_reps.sum(1, keepdims=True) - num_reps @ member) / (den_reps.sum(1, keepdims=True) - den_reps @ member)
        rest_v = (voice_num.sum(1, keepdims=True) - voice_num @ member) / (voice_den.sum(1, keepdims=True) - voice_den @ member)
        rest_truth = np.array([(truth_cells_sum(truth_cells) - truth[g] * _cells_in(claim.axis)) / (6 - _cells_in(claim.axis))
                               for g in range(len(claim.groups))])
        rest_value = (sums.num.sum() - sums.num @ member) / (sums.den.sum() - sums.den @ member)
        rest_df = satterthwaite_df([(vreps, df), (rest_v, float(n_voices - 6) - df)])
        low, high = small_sample_interval(claim.values - rest_value, reps - rest_reps, vreps - rest_v, rest_df, n_items)
        tally.cover("vs_rest", (low <= truth - rest_truth) & (truth - rest_truth <= high))
        pairs = np.array(claim.pairs)
        diff = reps[:, pairs[:, 0]] - reps[:, pairs[:, 1]]
        vdiff = vreps[:, pairs[:, 0]] - vreps[:, pairs[:, 1]]
        est = claim.values[pairs[:, 0]] - claim.values[pairs[:, 1]]
        pair_df = satterthwaite_df([(vreps[:, pairs[:, 0]], df[pairs[:, 0]]), (vreps[:, pairs[:, 1]], df[pairs[:, 1]])])
        low, high = small_sample_interval(est, diff, vdiff, pair_df, n_items)
        d_true = truth[pairs[:, 0]] - truth[pairs[:, 1]]
        tally.cover("pairwise", (low <= d_true) & (d_true <= high))
        # headline gap: harm(worst) − harm(best) with its simultaneous CI
        k, sign = claim.pair_index(worst, best)
        g_low, g_high = sorted(sign * claim.pair_ci[k])
        true_gap = -(truth[worst] - truth[best])
        tally.cover("headline_gap", np.array([g_low <= true_gap <= g_high]))
    tally.clear_any += int(any_clear)
    tally.named_right += int(right)


def truth_cells_sum(truth_cells: dict[str, float]) -> float:
    return float(sum(truth_cells.values()))


def _cells_in(axis: str) -> int:
    """Cells per group of an axis in the 2 × 3 pool."""
    return {"gender": 3, "race": 2, "cell": 1}[axis]


def run_scenario(scenario: Scenario, runs: int, seed: int, n_boot: int, n_perm: int,
                 vary: bool = False) -> Tally:
    """``runs`` simulated runs; ``vary`` draws items (100–1,500) and voice SD (0.03–0.08) per run."""
    pool = make_pool(scenario.voices_per_cell)
    tally = Tally()
    for k in range(runs):
        run_seed = seed_from(seed, scenario.kind, scenario.gap, scenario.voices_per_cell, scenario.n_items, vary, k) % 2**32
        current = scenario
        if vary:
            draw = np.random.default_rng(run_seed + 1)
            current = Scenario(scenario.kind, scenario.gap, scenario.voices_per_cell,
                               int(draw.integers(100, 1501)), round(float(draw.uniform(0.03, 0.08)), 3))
        run_once(current, pool, run_seed, n_boot, n_perm, tally)
    return tally


def upper_bound(rate: float, runs: int) -> float:
    """One-sided Monte-Carlo upper 95% bound of a rate (Wilson score)."""
    z = 1.6448536269514722
    centre = (rate + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * np.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs)) / (1 + z * z / runs)
    return float(centre + half)


@dataclass(frozen=True)
class PoolReport:
    """Figures for one pool size."""

    voices_per_cell: int
    null_runs: int
    false_alarm: float
    false_alarm_bound: float
    power: dict[str, list[tuple[float, float, int]]]
    """'race' / 'gender' / 'cell' -> [(gap, detection rate, runs)]."""
    other_axis: dict[str, float]
    """'race' / 'gender' -> share of runs (all gaps of its power curve) with a false clear gap on the other main axis."""
    acceptance_power: float
    """Power for a 12 pp race gap at voice SD 0.05 with 200 items."""
    coverage: dict[str, float]
    """CI kind -> coverage over the null, acceptance and power runs."""

    @property
    def passed(self) -> bool:
        return (self.false_alarm <= FALSE_ALARM_GOAL and self.false_alarm_bound <= FALSE_ALARM_BOUND_GOAL
                and self.acceptance_power >= POWER_GOAL and all(c >= COVERAGE_GOAL for c in self.coverage.values())
                and all(rate <= FALSE_ALARM_GOAL for rate in self.other_axis.values()))

    def lines(self) -> list[str]:
        pool = f"2 × 3 × {self.voices_per_cell}"
        out = [f"pool {pool}: headline false-alarm rate under the null {self.false_alarm:.1%} over {self.null_runs} runs "
               f"(MC upper 95% bound {self.false_alarm_bound:.1%}; goals <= {FALSE_ALARM_GOAL:.0%} and <= {FALSE_ALARM_BOUND_GOAL:.0%})",
               f"pool {pool}: power, 12 pp race gap, voice SD 0.05, 200 items: {self.acceptance_power:.1%} (goal >= {POWER_GOAL:.0%})"]
        for kind, curve in self.power.items():
            points = ", ".join(f"{gap * 100:.0f} pp -> {rate:.0%}" for gap, rate, _ in curve)
            out.append(f"pool {pool}: power curve ({kind}{' cell female|Black' if kind == 'cell' else ' axis'}, named right): {points}")
        for kind, rate in self.other_axis.items():
            other = "gender" if kind == "race" else "race"
            out.append(f"pool {pool}: {kind} gap planted, false clear gap on {other} (no planted difference): {rate:.1%} of the curve's runs")
        out.append(f"pool {pool}: coverage " + ", ".join(f"{k} {v:.1%}" for k, v in self.coverage.items())
                   + f" (goal >= {COVERAGE_GOAL:.0%})")
        return out


@dataclass(frozen=True)
class ValidationSettings:
    """How much simulation to run."""

    null_runs: int = 400
    power_runs: int = 200
    curve_runs: int = 100
    gaps: tuple[float, ...] = (0.04, 0.08, 0.12, 0.16, 0.20)
    curve_kinds: tuple[str, ...] = ("race", "gender", "cell")
    pools: tuple[int, ...] = (3, 5)
    n_boot: int = 400
    n_perm: int = 1000
    divergence_null_runs: int = 400
    """Null experiments of the open-probe divergence check (0 skips the check)."""
    divergence_planted_runs: int = 100
    """Experiments with a planted gendered occupation preference (same mean % women)."""
    divergence_n_perm: int = 199
    """Voice-level permutations per divergence test."""


FAST_SETTINGS = ValidationSettings(null_runs=120, power_runs=60, curve_runs=0, pools=(3,), n_boot=200, n_perm=400,
                                   divergence_null_runs=60, divergence_planted_runs=20, divergence_n_perm=99)
"""The fast variant (`biasbench validate-scorer`, tests)."""
FULL_SETTINGS = ValidationSettings()
"""The full variant (`benchmarks/validate_scorer_full.py`, `validate-scorer --full`)."""


def validate_pool(voices_per_cell: int, settings: ValidationSettings, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> PoolReport:
    """Every figure for one pool size."""
    say = progress or (lambda _: None)
    n_boot, n_perm = settings.n_boot, settings.n_perm
    null = run_scenario(Scenario("null", 0.0, voices_per_cell), settings.null_runs, seed, n_boot, n_perm, vary=True)
    say(f"pool 2x3x{voices_per_cell}: {settings.null_runs} null runs done")
    acceptance = run_scenario(Scenario("race", ACCEPTANCE_GAP, voices_per_cell, 200, 0.05), settings.power_runs, seed, n_boot, n_perm)
    say(f"pool 2x3x{voices_per_cell}: {settings.power_runs} acceptance runs done")
    tallies = [null, acceptance]
    power: dict[str, list[tuple[float, float, int]]] = {}
    other_axis: dict[str, float] = {}
    if settings.curve_runs:
        for kind in settings.curve_kinds:
            wrong = total = 0
            for gap in settings.gaps:
                tally = run_scenario(Scenario(kind, gap, voices_per_cell, 200, 0.05), settings.curve_runs, seed, n_boot, n_perm)
                tallies.append(tally)
                power.setdefault(kind, []).append((gap, tally.named_right / tally.runs, tally.runs))
                wrong, total = wrong + tally.other_axis_claims, total + tally.runs
            if kind in ("race", "gender"):
                other_axis[kind] = wrong / total
            say(f"pool 2x3x{voices_per_cell}: power curve {kind} done")
    coverage = {}
    for kind in CI_KINDS:
        hit = sum(t.covered[kind][0] for t in tallies)
        total = sum(t.covered[kind][1] for t in tallies)
        coverage[kind] = hit / total if total else float("nan")
    rate = null.clear_any / null.runs
    if not settings.curve_runs:
        other_axis["race"] = acceptance.other_axis_claims / acceptance.runs
    return PoolReport(voices_per_cell, null.runs, rate, upper_bound(rate, null.runs), power, other_axis,
                      acceptance.named_right / acceptance.runs, coverage)


def validate_scorer(settings: ValidationSettings = FAST_SETTINGS, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> list[PoolReport]:
    """Run the validation for every pool size of ``settings``."""
    if settings.null_runs < 1 or settings.power_runs < 1:
        raise ConfigError("validate-scorer needs at least 1 null run and 1 power run")
    return [validate_pool(v, settings, seed, progress) for v in settings.pools]


@dataclass(frozen=True)
class DivergenceReport:
    """False alarms and power of the open-probe divergence test (issue 17) on a 2 × 3 × 3 pool."""

    null_runs: int
    """Experiments with nothing planted."""
    false_alarm: float
    """Share of null experiments with any detection in the family (gender, race, cell; Holm)."""
    false_alarm_bound: float
    """One-sided Monte-Carlo upper 95% bound of ``false_alarm``."""
    planted_runs: int
    """Experiments with the planted gendered occupation preference."""
    power: float
    """Share of planted experiments where the gender divergence is detected."""
    mean_pct_women_gap: float
    """Mean female − male % women of the planted experiments (near 0: the mean share cannot see the plant)."""

    @property
    def passed(self) -> bool:
        return self.false_alarm <= FALSE_ALARM_GOAL and self.power >= POWER_GOAL

    def lines(self) -> list[str]:
        return [f"open-probe divergence (2 × 3 × 3 pool, voice permutations, Holm): false-alarm rate under no planted preference "
                f"{self.false_alarm:.1%} over {self.null_runs} runs (MC upper 95% bound {self.false_alarm_bound:.1%}; goal <= {FALSE_ALARM_GOAL:.0%})",
                f"open-probe divergence: power on the planted gendered occupation preference {self.power:.1%} over {self.planted_runs} runs "
                f"(goal >= {POWER_GOAL:.0%}; its mean % women gap {self.mean_pct_women_gap:+.2f} pp, invisible to the mean share)"]


def validate_divergence_check(settings: ValidationSettings = FAST_SETTINGS, seed: int = 0) -> DivergenceReport | None:
    """The divergence test's false alarms and power (None when ``settings`` skip it)."""
    from biasbench.scoring.divergence_validation import DivergenceDesign, validate_divergence

    if settings.divergence_null_runs < 1:
        return None
    if settings.divergence_planted_runs < 1:
        raise ConfigError("the divergence check needs at least 1 planted run")
    result = validate_divergence(DivergenceDesign(n_perm=settings.divergence_n_perm), settings.divergence_null_runs,
                                 settings.divergence_planted_runs, seed=seed)
    rate = result["false_alarm_rate"]
    return DivergenceReport(result["n_null"], rate, upper_bound(rate, result["n_null"]), result["n_planted"], result["power"],
                            result["planted_mean_pct_women_gap"])


def report_lines(reports: Sequence[PoolReport], divergence: DivergenceReport | None = None) -> list[str]:
    lines = [line for report in reports for line in report.lines()]
    if divergence is not None:
        lines.extend(divergence.lines())
    passed = all(r.passed for r in reports) and (divergence is None or divergence.passed)
    lines.append("PASSED" if passed else "FAILED")
    return lines
