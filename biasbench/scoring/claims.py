"""Error-controlled claims about groups: the statistics behind every headline verdict.

A claim ("clear gap on race, worst group Black") is a decision over a family: every axis of the
pool plus the intersection ``cell``, every group of each. The decision rule, per model × task × metric:

1. **Primary contrasts, pre-specified**: each group vs the rest of its axis, on the *harm* scale of
   the metric's declared direction (``harm(group) − harm(rest)``, positive = the group is worse off).
2. **Per-axis test: max-statistic voice permutation test.** Voices are the sampled units, so whole
   voices (all their rows) are permuted among the axis' groups; in an unbalanced pool *within strata
   of the pool's other axes* (a gender effect cannot leak into the race test), in a balanced pool
   across all voices (see :func:`balanced`); the ``cell`` axis permutes all voices.
   The statistic is the largest studentised primary contrast of the axis, with a permutation-invariant
   scale (pooled voice SD × sqrt(1/n_g + 1/n_rest)). The Westfall–Young single-step adjusted p of a
   group is P*(max_g T*_g >= T_g).
3. **Across axes: Holm** on the axis p-values; a group's adjusted p is max(Holm-adjusted axis p,
   its Westfall–Young p). A group is named worst only when that p <= alpha. Under the global null
   (no group differs on any axis) this bounds the chance of any "clear gap" by alpha; when one axis
   truly differs, group claims on the other axes stay protected by their own stratified tests.
4. **Simultaneous CIs**: the contrasts the report prints (each group vs rest, every pair of groups,
   hence the data-selected worst − best gap) get max-|t| bootstrap intervals from the two-way
   cluster bootstrap (items × voices), simultaneous over every axis of the family.

Everything works on per-voice sums, so one permutation costs a bincount: validation runs thousands.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
from scipy.special import ndtri  # the normal quantile (scipy.stats.norm.ppf) without importing scipy.stats (0.5 s)

from biasbench.scoring.bootstrap import satterthwaite_df, small_sample_factor
from biasbench.scoring.direction import Direction

ALPHA = 0.05
"""Family-wise error rate of every claim."""

POWER_Z = float(ndtri(0.80))
"""z for 80% power (the minimum detectable effect adds it to the simultaneous critical value)."""


@dataclass(frozen=True)
class VoiceSums:
    """One model × task × metric as per-voice sums, with bootstrap replicates of those sums."""

    num: np.ndarray
    """(voices,) numerator sums."""
    den: np.ndarray
    """(voices,) denominator sums (0 = the voice has no scorable rows)."""
    num_reps: np.ndarray
    """(n_boot, voices) replicate numerators (item-resampled, voice-weighted)."""
    den_reps: np.ndarray
    """(n_boot, voices) replicate denominators."""
    labels: Mapping[str, tuple[str, ...]]
    """Axis (and 'cell') -> per-voice group label."""
    strata: Mapping[str, tuple[str, ...]]
    """Axis -> per-voice stratum label (the voice's values on the other axes; '' for 'cell')."""
    voice_num_reps: np.ndarray | None = None
    """(n_boot, voices) numerators with voices resampled and items fixed (for the few-voices widening)."""
    voice_den_reps: np.ndarray | None = None
    """Denominators of the same."""
    n_items: int = 0
    """Items (degrees of freedom of the item part of the variance)."""


@dataclass(frozen=True)
class AxisClaim:
    """The decision on one axis: groups, contrasts, adjusted p-values, simultaneous CIs."""

    axis: str
    """Pool axis or 'cell'."""
    groups: tuple[str, ...]
    """Groups with rows, sorted."""
    values: np.ndarray
    """(groups,) metric values."""
    harm: np.ndarray
    """(groups,) harm of each group (larger = worse; see Direction.harm)."""
    n_voices: np.ndarray
    """(groups,) voices with rows."""
    vs_rest: np.ndarray
    """(groups,) harm(group) − harm(rest)."""
    vs_rest_ci: np.ndarray
    """(groups, 2) simultaneous CI of vs_rest."""
    group_ci: np.ndarray
    """(groups, 2) simultaneous CI of each group's value."""
    pairs: tuple[tuple[int, int], ...]
    """(a, b) index pairs, a < b."""
    pair_diff: np.ndarray
    """(pairs,) harm(a) − harm(b)."""
    pair_ci: np.ndarray
    """(pairs, 2) simultaneous CI of pair_diff."""
    p_axis: float
    """Permutation p of the axis' max statistic (unadjusted across axes)."""
    p_group: np.ndarray
    """(groups,) Westfall–Young adjusted p within the axis."""
    n_perm: int
    """Permutations used."""
    p_adjusted: np.ndarray
    """(groups,) final adjusted p: max(Holm-adjusted axis p, p_group). Filled by :func:`decide`."""
    mde: float
    """Smallest worse-than-rest gap detected with about 80% power (simultaneous critical value + z_0.8) × SE."""
    note: str
    """Why something is missing ('' when all is well)."""

    @property
    def estimable(self) -> bool:
        return len(self.groups) >= 2 and np.isfinite(self.p_axis)

    def worst_best(self) -> tuple[int, int]:
        """Indices of the largest and smallest harm (distinct groups; first by name on ties)."""
        worst = int(np.argmax(self.harm))
        order = [g for g in np.argsort(self.harm, kind="stable") if g != worst]
        return worst, int(order[0])

    def pair_index(self, a: int, b: int) -> tuple[int, float]:
        """(position of the pair in ``pairs``, sign so that sign × pair_diff = harm(a) − harm(b))."""
        if (a, b) in self.pairs:
            return self.pairs.index((a, b)), 1.0
        return self.pairs.index((b, a)), -1.0

    def tied_with_worst(self) -> tuple[str, ...]:
        """Groups whose harm equals the worst group's (ties are reported as ties)."""
        worst = np.max(self.harm)
        return tuple(g for g, h in zip(self.groups, self.harm) if np.isclose(h, worst, rtol=0, atol=1e-12))


def harm_values(values: np.ndarray, direction: Direction) -> np.ndarray:
    """Vectorised Direction.harm."""
    if direction.kind == "higher_better":
        return -values
    if direction.kind == "lower_better":
        return values
    delta = values - float(direction.target)  # type: ignore[arg-type]
    if direction.harmful == "above":
        return np.maximum(delta, 0.0)
    if direction.harmful == "below":
        return np.maximum(-delta, 0.0)
    return np.abs(delta)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _group_totals(codes: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """(rows, groups) sums of ``weights`` per group code, for each row of ``codes`` (rows, voices)."""
    rows = codes.shape[0]
    flat = (codes + (np.arange(rows) * n_groups)[:, None]).ravel()
    return np.bincount(flat, weights=np.broadcast_to(weights, codes.shape).ravel(), minlength=rows * n_groups).reshape(rows, n_groups)


def permuted_codes(codes: np.ndarray, strata: np.ndarray, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """(n_perm, voices) group codes with whole voices shuffled within each stratum."""
    perms = np.tile(codes, (n_perm, 1))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        if members.size < 2:
            continue
        order = np.argsort(rng.random((n_perm, members.size)), axis=1)
        perms[:, members] = codes[members][order]
    return perms


def _max_t(codes: np.ndarray, num: np.ndarray, den: np.ndarray, n_groups: int, direction: Direction, scale: np.ndarray) -> np.ndarray:
    """(rows, groups) studentised worse-than-rest contrasts for each row of group codes."""
    g_num = _group_totals(codes, num, n_groups)
    g_den = _group_totals(codes, den, n_groups)
    value = _ratio(g_num, g_den)
    rest = _ratio(num.sum() - g_num, den.sum() - g_den)
    return (harm_values(value, direction) - harm_values(rest, direction)) / scale


def axis_test(sums: VoiceSums, axis: str, direction: Direction, n_perm: int, rng: np.random.Generator) -> tuple[tuple[str, ...], float, np.ndarray, int, str]:
    """(groups, p of the axis, Westfall–Young p per group, permutations, note) for one axis."""
    present = sums.den > 0
    labels = np.asarray(sums.labels[axis], dtype=object)[present]
    strata = np.asarray(sums.strata[axis], dtype=object)[present]
    num, den = sums.num[present], sums.den[present]
    groups, codes = np.unique(labels, return_inverse=True)
    groups = tuple(str(g) for g in groups)
    if balanced(labels, strata):
        strata = np.full(labels.shape, "", dtype=object)  # see balanced(): unrestricted is valid and finer
    if len(groups) < 2:
        return groups, float("nan"), np.full(len(groups), np.nan), 0, f"{len(groups)} group(s) with rows: nothing to compare"
    movable = any(len(set(labels[strata == s])) > 1 for s in np.unique(strata))
    if not movable or n_perm < 1:
        why = "no stratum holds voices of two groups: labels cannot be permuted" if not movable else "permutations disabled (n_perm = 0)"
        return groups, float("nan"), np.full(len(groups), np.nan), 0, why
    per_voice = _ratio(num, den)
    counts = np.bincount(codes, minlength=len(groups)).astype(float)
    spread = float(np.std(per_voice, ddof=1)) if per_voice.size > 1 else 0.0
    scale = max(spread, 1e-9) * np.sqrt(1.0 / counts + 1.0 / np.maximum(counts.sum() - counts, 1.0))
    observed = _max_t(codes[None, :], num, den, len(groups), direction, scale)[0]
    permuted = _max_t(permuted_codes(codes, strata, n_perm, rng), num, den, len(groups), direction, scale)
    best = np.nanmax(np.where(np.isfinite(permuted), permuted, -np.inf), axis=1)
    obs = np.where(np.isfinite(observed), observed, -np.inf)
    p_group = (1.0 + np.sum(best[:, None] >= obs[None, :] - 1e-12, axis=0)) / (1.0 + n_perm)
    return groups, float(np.min(p_group)), p_group, n_perm, ""


def balanced(labels: np.ndarray, strata: np.ndarray) -> bool:
    """True when every group × stratum (other axes' cell) has the same number of voices.

    Then each group's contrast is free of the other axes' effects, and permuting voices across
    strata only adds other-axis imbalance to the permuted contrasts: the unrestricted test stays
    valid (conservative when another axis has an effect) and has far more distinct permutations
    than a stratified one (with 2 voices per cell, a stratified 3-group test cannot go below
    p ≈ 0.013). Unbalanced pools are permuted within strata.
    """
    if len(set(strata.tolist())) < 2:
        return True
    pairs: dict[tuple[object, object], int] = {}
    for label, stratum in zip(labels.tolist(), strata.tolist()):
        pairs[(label, stratum)] = pairs.get((label, stratum), 0) + 1
    full = len(set(labels.tolist())) * len(set(strata.tolist()))
    return len(pairs) == full and len(set(pairs.values())) == 1


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out


def simultaneous_critical(deviations: np.ndarray, level: float = 1.0 - ALPHA) -> tuple[float, np.ndarray]:
    """(critical value, SEs): ``level`` quantile of max_k |t*_k| over bootstrap deviations (B, K)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a contrast undefined in every replicate has no SE
        se = np.nanstd(deviations, axis=0, ddof=1)
        t = np.abs(deviations) / np.where(se > 0, se, np.nan)
    finite = np.where(np.isfinite(t), t, -np.inf)
    maxima = finite.max(axis=1) if finite.shape[1] else np.zeros(0)
    maxima = maxima[np.isfinite(maxima)]
    if maxima.size == 0:
        return float("nan"), se
    return float(np.quantile(maxima, level)), se


def decide(
    sums: VoiceSums,
    axes: Sequence[str],
    direction: Direction,
    *,
    n_perm: int,
    rng: np.random.Generator,
    alpha: float = ALPHA,
) -> list[AxisClaim]:
    """One :class:`AxisClaim` per axis: permutation tests, Holm across axes, simultaneous CIs."""
    tests = {axis: axis_test(sums, axis, direction, n_perm, rng) for axis in axes}
    # bootstrap contrasts of every axis together (one family)
    pieces: list[np.ndarray] = []
    layout: dict[str, tuple[int, int, int]] = {}  # axis -> (start of group values, start of vs-rest, start of pairs)
    estimates: dict[str, dict[str, np.ndarray]] = {}
    factors: list[np.ndarray] = []
    for axis in axes:
        groups = tests[axis][0]
        labels = np.asarray(sums.labels[axis], dtype=object)
        member = np.stack([(labels == g) & (sums.den > 0) for g in groups], axis=1).astype(float) if groups else np.zeros((len(labels), 0))
        g_num, g_den = sums.num @ member, sums.den @ member
        value = _ratio(g_num, g_den)
        rest = _ratio(g_num.sum() - g_num, g_den.sum() - g_den)
        r_num, r_den = sums.num_reps @ member, sums.den_reps @ member
        r_value = _ratio(r_num, r_den)
        if sums.voice_num_reps is not None and sums.voice_den_reps is not None:
            cells = np.asarray(sums.labels["cell"], dtype=object)
            df = np.array([float(member[:, g].sum() - len(set(cells[member[:, g] > 0]))) for g in range(len(groups))])
            v_num, v_den = sums.voice_num_reps @ member, sums.voice_den_reps @ member
            v_value = _ratio(v_num, v_den)
            v_rest = _ratio(v_num.sum(1, keepdims=True) - v_num, v_den.sum(1, keepdims=True) - v_den)
            v_harm = harm_values(v_value, direction)
            v_pairs = [v_harm[:, a] - v_harm[:, b] for a, b in combinations(range(len(groups)), 2)]
            fac_value = small_sample_factor(r_value, v_value, df, sums.n_items)
            fac_rest = np.array([small_sample_factor(
                r_value[:, g] - _ratio(r_num.sum(1) - r_num[:, g], r_den.sum(1) - r_den[:, g]), v_harm[:, g] - harm_values(v_rest[:, g], direction),
                satterthwaite_df([(v_value[:, g], df[g]), (v_rest[:, g], df.sum() - df[g])]), sums.n_items) for g in range(len(groups))])
            fac_pairs = np.array([small_sample_factor(
                r_value[:, a] - r_value[:, b], vp, satterthwaite_df([(v_value[:, a], df[a]), (v_value[:, b], df[b])]), sums.n_items)
                for (a, b), vp in zip(combinations(range(len(groups)), 2), v_pairs)])
            factors.append(np.concatenate([np.ravel(fac_value), np.ravel(fac_rest), np.ravel(fac_pairs)]))
        else:
            factors.append(np.ones(2 * len(groups) + len(groups) * (len(groups) - 1) // 2))
        r_rest = _ratio(r_num.sum(1, keepdims=True) - r_num, r_den.sum(1, keepdims=True) - r_den)
        harm, r_harm = harm_values(value, direction), harm_values(r_value, direction)
        vs_rest = harm - harm_values(rest, direction)
        r_vs_rest = r_harm - harm_values(r_rest, direction)
        pairs = list(combinations(range(len(groups)), 2))
        pair_diff = np.array([harm[a] - harm[b] for a, b in pairs])
        r_pairs = np.stack([r_harm[:, a] - r_harm[:, b] for a, b in pairs], axis=1) if pairs else np.zeros((r_harm.shape[0], 0))
        start = sum(p.shape[1] for p in pieces)
        layout[axis] = (start, start + len(groups), start + 2 * len(groups))
        pieces += [r_value - value, r_vs_rest - vs_rest, r_pairs - pair_diff]
        estimates[axis] = {"value": value, "harm": harm, "vs_rest": vs_rest, "pair_diff": pair_diff,
                           "n_voices": member.sum(axis=0), "pairs": np.array(pairs, dtype=int).reshape(-1, 2)}
    deviations = np.concatenate(pieces, axis=1) if pieces else np.zeros((0, 0))
    # group values get their own simultaneous family; contrasts (vs rest, pairs) another
    value_cols = np.concatenate([np.arange(layout[a][0], layout[a][1]) for a in axes]) if axes else np.zeros(0, int)
    contrast_cols = np.setdiff1d(np.arange(deviations.shape[1]), value_cols)
    no_boot = deviations.shape[0] < 2
    q_value, se_all = (float("nan"), np.full(deviations.shape[1], np.nan)) if no_boot else simultaneous_critical(deviations[:, value_cols])
    q_contrast, se_contrast = (float("nan"), np.full(len(contrast_cols), np.nan)) if no_boot else simultaneous_critical(deviations[:, contrast_cols])
    se = np.full(deviations.shape[1], np.nan)
    if not no_boot:
        se[value_cols], se[contrast_cols] = se_all, se_contrast
    # few voices: each interval widens by its own t / z (Satterthwaite df), as the marginal CIs do
    widen = np.concatenate(factors) if factors else np.ones(0)
    if widen.size == se.size:
        se = se * widen
    adjusted_axis = holm([tests[a][1] for a in axes])
    claims = []
    for k, axis in enumerate(axes):
        groups, p_axis, p_group, used, note = tests[axis]
        est = estimates[axis]
        v0, r0, p0 = layout[axis]
        n = len(groups)

        def band(estimate: np.ndarray, start: int, q: float) -> np.ndarray:
            s = se[start:start + estimate.size]
            return np.stack([estimate - q * s, estimate + q * s], axis=1) if estimate.size else np.zeros((0, 2))

        p_adjusted = np.maximum(adjusted_axis[k], p_group) if n else np.zeros(0)
        rest_se = se[r0:r0 + n]
        mde = float((q_contrast + POWER_Z) * np.nanmedian(rest_se)) if n >= 2 and np.isfinite(rest_se).any() else float("nan")
        if no_boot and not note:
            note = "no bootstrap replicates: no CIs"
        claims.append(AxisClaim(
            axis=axis, groups=groups, values=est["value"], harm=est["harm"], n_voices=est["n_voices"].astype(int),
            vs_rest=est["vs_rest"], vs_rest_ci=band(est["vs_rest"], r0, q_contrast),
            group_ci=band(est["value"], v0, q_value),
            pairs=tuple((int(a), int(b)) for a, b in est["pairs"]), pair_diff=est["pair_diff"],
            pair_ci=band(est["pair_diff"], p0, q_contrast), p_axis=p_axis, p_group=p_group, n_perm=used,
            p_adjusted=p_adjusted, mde=mde, note=note,
        ))
    return claims
