"""Two-way cluster bootstrap weights (items × voices) and percentile intervals.

Every item is spoken by every voice, so rows are clustered twice. One replicate draws items with
replacement (multinomial counts over all items) and, independently, voices with replacement
*within each pool cell*. Voices use the Rao–Wu rescaled bootstrap with m = n − 1 draws out of the
n voices of a cell, each count scaled by n / (n − 1): with 3–5 voices per cell the plain bootstrap
understates the voice variance by the factor (n − 1)/n, the rescaled one does not. A cell with a
single voice cannot be resampled: its voice keeps weight 1 and the caller reports 'one_voice'.
A replicate's statistic is the weighted ratio sum(w_item · w_voice · x) / sum(w_item · w_voice · d).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from biasbench.core.hashing import seed_from


@dataclass(frozen=True)
class BootstrapWeights:
    """Replicate weights shared by every model and grouping of one task (so comparisons are paired)."""

    items: np.ndarray
    """(n_items, n_boot) multinomial item counts as float32 (exact integers; item-major, so a subset of
    items is a fast row slice)."""
    voices: np.ndarray
    """(n_boot, n_voices) rescaled within-cell voice counts (1 for single-voice cells)."""
    single_voice_cells: tuple[str, ...]
    """Cells with one voice (their voice variance is not represented)."""

    @property
    def n_boot(self) -> int:
        return int(self.items.shape[1])


def item_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_items, n_boot) float32 counts of each item in each replicate's with-replacement draw of n_items."""
    draws = rng.integers(0, n_items, size=(n_boot, n_items))  # one call: the seeded stream stays the same
    counts = np.empty((n_items, n_boot), dtype=np.float32)
    for b in range(n_boot):  # one replicate at a time: no (n_boot, n_items) int64 temporaries beside the draws
        counts[:, b] = np.bincount(draws[b], minlength=n_items)
    return counts


def voice_counts(cells: Sequence[str], n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n_boot, n_voices) Rao–Wu weights: n−1 draws within each cell, scaled by n/(n−1)."""
    cells = np.asarray(cells, dtype=object)
    weights = np.ones((n_boot, len(cells)), dtype=np.float64)
    single: list[str] = []
    for cell in sorted(set(cells.tolist())):
        members = np.flatnonzero(cells == cell)
        n = len(members)
        if n == 1:
            single.append(str(cell))
            continue
        draws = rng.integers(0, n, size=(n_boot, n - 1))
        offsets = (np.arange(n_boot) * n)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)
        weights[:, members] = counts * (n / (n - 1))
    return weights, tuple(single)


def bootstrap_weights(n_items: int, voice_cells: Sequence[str], n_boot: int, seed: int, *key: object) -> BootstrapWeights:
    """Seeded weights for one task: the same (seed, key) always gives the same weights."""
    items = item_counts(n_items, n_boot, np.random.default_rng(seed_from(seed, "items", *key)))
    voices, single = voice_counts(voice_cells, n_boot, np.random.default_rng(seed_from(seed, "voices", *key)))
    return BootstrapWeights(items, voices, single)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring replicates where the statistic is undefined (NaN)."""
    tail = (1.0 - level) / 2.0 * 100.0
    if not np.isnan(replicates).any():  # the common case: the plain percentile is much faster
        low, high = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
        return low, high
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN; callers mark them
        low = np.nanpercentile(replicates, tail, axis=0)
        high = np.nanpercentile(replicates, 100.0 - tail, axis=0)
    return low, high


def bootstrap_p_value(replicates: np.ndarray, null: float = 0.0) -> np.ndarray:
    """Two-sided percentile-inversion p-value for 'statistic = null' (axis 0 = replicates).

    p = 2 (1 + #{replicates on the far side of null}) / (1 + #replicates), capped at 1: never 0,
    since B replicates cannot show a p-value below about 2 / B.
    """
    valid = np.sum(~np.isnan(replicates), axis=0)
    below = np.sum(replicates <= null, axis=0)
    above = np.sum(replicates >= null, axis=0)
    with np.errstate(all="ignore"):
        p = 2.0 * (1.0 + np.minimum(below, above)) / (1.0 + valid)
    return np.minimum(p, 1.0)


def satterthwaite_df(parts: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Degrees of freedom of a sum of independent voice-variance parts, each (its replicates, its df)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        variances = [np.nanvar(reps, axis=0, ddof=1) for reps, _ in parts]
        total = sum(variances)
        denominator = sum(v**2 / np.maximum(np.asarray(df, dtype=float), 1.0) for v, (_, df) in zip(variances, parts))
        return np.where(denominator > 0, total**2 / denominator, 1e9)


def small_sample_factor(replicates: np.ndarray, voice_replicates: np.ndarray, df_voice: np.ndarray | float,
                        n_items: np.ndarray | float, level: float = 0.95) -> np.ndarray:
    """t / z widening factor (>= 1) of :func:`small_sample_interval`."""
    from scipy.special import ndtri, stdtrit  # scipy.stats' t.ppf and norm.ppf, without importing scipy.stats

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        total = np.nanvar(replicates, axis=0, ddof=1)
        voice = np.minimum(np.nanvar(voice_replicates, axis=0, ddof=1), total)
        items = np.maximum(total - voice, 0.0)
        df_v = np.maximum(np.asarray(df_voice, dtype=float), 1.0)
        df_i = np.maximum(np.asarray(n_items, dtype=float) - 1.0, 1.0)
        df = total**2 / (voice**2 / df_v + items**2 / df_i)
        factor = stdtrit(np.where(np.isfinite(df) & (df > 0), df, 1e9), 0.5 + level / 2.0) / ndtri(0.5 + level / 2.0)
    return np.where(np.isfinite(factor), np.maximum(factor, 1.0), 1.0)


def small_sample_interval(
    estimate: np.ndarray, replicates: np.ndarray, voice_replicates: np.ndarray | None, df_voice: np.ndarray | float,
    n_items: np.ndarray | float, level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval widened for few voices (Satterthwaite degrees of freedom).

    With 3–5 voices per cell the voice part of the variance is estimated from a handful of voices:
    a normal-theory interval then undercovers (85% for a 3-voice cell when voices dominate the
    variance). The two-way variance is split into its voice part (``voice_replicates``: voices
    resampled, items fixed) and the rest; their Satterthwaite degrees of freedom (voice part:
    voices − cells; item part: items − 1) give a t critical value, and both ends of the percentile
    interval move away from the estimate by t / z. With many voices or few items the factor is ~1.
    """
    low, high = percentile_interval(replicates, level)
    if voice_replicates is None or voice_replicates.shape[0] < 2:
        return low, high
    factor = small_sample_factor(replicates, voice_replicates, df_voice, n_items, level)
    return estimate - factor * (estimate - low), estimate + factor * (high - estimate)
