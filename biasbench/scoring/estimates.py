"""Group metrics with bootstrap replicates: the one pure function family every score table uses.

Rows of one model × task × modality are first summed into an item × voice cube (numerator and
denominator of each metric), so a replicate costs one matrix product instead of a pass over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from biasbench.scoring.bootstrap import BootstrapWeights
from biasbench.scoring.metrics import RowMetric


@dataclass(frozen=True)
class GroupEstimates:
    """Point estimates, counts and bootstrap replicates of every metric for the groups of one grouping."""

    grouping: str
    """Grouping name (see scoring.schema.GROUPINGS)."""
    groups: tuple[str, ...]
    """Group labels, sorted."""
    metrics: tuple[str, ...]
    """Metric names."""
    num: np.ndarray
    """(metrics, groups) numerator sums."""
    den: np.ndarray
    """(metrics, groups) denominator sums (rows counted)."""
    num_reps: np.ndarray
    """(n_boot, metrics, groups) replicate numerators."""
    den_reps: np.ndarray
    """(n_boot, metrics, groups) replicate denominators."""
    n_items: np.ndarray
    """(metrics, groups) distinct items with a non-zero denominator."""
    n_voices: np.ndarray
    """(metrics, groups) distinct voices with a non-zero denominator."""
    voices_resampled: bool
    """False when the CI reflects items only (the 'voice' grouping)."""
    voice_num_reps: np.ndarray | None = None
    """(n_boot, metrics, groups) numerators with voices resampled and items fixed (None when not a voice grouping)."""
    voice_den_reps: np.ndarray | None = None
    """Denominators of the same."""
    voice_df: np.ndarray | None = None
    """(groups,) voices − pool cells among the group's voices: degrees of freedom of its voice variance."""

    @property
    def value(self) -> np.ndarray:
        """(metrics, groups) metric values (NaN where the denominator is 0)."""
        with np.errstate(all="ignore"):
            return self.num / self.den

    @property
    def replicates(self) -> np.ndarray:
        """(n_boot, metrics, groups) replicate metric values."""
        with np.errstate(all="ignore"):
            return self.num_reps / self.den_reps

    @property
    def voice_replicates(self) -> np.ndarray | None:
        """(n_boot, metrics, groups) values with voices resampled and items fixed (None if unavailable)."""
        if self.voice_num_reps is None or self.voice_den_reps is None:
            return None
        with np.errstate(all="ignore"):
            return self.voice_num_reps / self.voice_den_reps

    def voice_rest(self) -> np.ndarray | None:
        """Voice-only replicates of 'every other group pooled'."""
        if self.voice_num_reps is None or self.voice_den_reps is None:
            return None
        n, d = self.voice_num_reps, self.voice_den_reps
        with np.errstate(all="ignore"):
            return (n.sum(2, keepdims=True) - n) / (d.sum(2, keepdims=True) - d)

    def rest(self) -> tuple[np.ndarray, np.ndarray]:
        """Value and replicates of 'every other group pooled' for each group (groups must partition the rows)."""
        with np.errstate(all="ignore"):
            value = (self.num.sum(1, keepdims=True) - self.num) / (self.den.sum(1, keepdims=True) - self.den)
            reps = (self.num_reps.sum(2, keepdims=True) - self.num_reps) / (self.den_reps.sum(2, keepdims=True) - self.den_reps)
        return value, reps


@dataclass(frozen=True)
class Cube:
    """One slice's rows summed per item × voice: numerators then denominators of every metric."""

    sums: np.ndarray
    """(items, 2 × metrics, voices): numerators of each metric, then denominators."""
    metrics: tuple[str, ...]
    """Metric names."""


def build_cube(item_codes: np.ndarray, voice_codes: np.ndarray, n_items: int, n_voices: int, metrics: Sequence[RowMetric]) -> Cube:
    """Sum each metric's numerator and denominator per item × voice (codes index the task's items and voices)."""
    planes = 2 * len(metrics)
    base = item_codes.astype(np.int64) * planes * n_voices + voice_codes.astype(np.int64)
    flat = np.concatenate([base + p * n_voices for p in range(planes)])
    values = np.concatenate([m.x for m in metrics] + [m.d for m in metrics])
    sums = np.bincount(flat, weights=values, minlength=n_items * planes * n_voices)
    return Cube(sums.reshape(n_items, planes, n_voices), tuple(m.name for m in metrics))


def voice_replicates(cube: Cube, weights: BootstrapWeights | None) -> np.ndarray:
    """(n_boot, 2 × metrics, voices) item-resampled sums per voice (before voice weights)."""
    n_items, planes, n_voices = cube.sums.shape
    if weights is None:
        return np.zeros((0, planes, n_voices))
    return _replicate_sums(weights.items, cube.sums.reshape(n_items, planes * n_voices)).reshape(-1, planes, n_voices)


EXACT_FLOAT32 = float(2**24)
"""Integers below this are exact in float32."""


def _replicate_sums(item_weights: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """(n_boot, columns) = item_weightsᵀ @ sums, in float64.

    Item weights are integer counts; when the sums are integers too (counts of correct, invalid,
    answered rows) and every result stays below 2**24, float32 arithmetic is exact and twice as fast.
    """
    bound = float(sums.sum(axis=0).max(initial=0.0)) * float(item_weights.max(initial=0.0))
    if bound < EXACT_FLOAT32 and np.array_equal(sums, np.round(sums)):
        return (item_weights.T @ sums.astype(np.float32)).astype(np.float64)
    return item_weights.T.astype(np.float64) @ sums


def by_voice_groups(
    cube: Cube,
    per_voice_reps: np.ndarray,
    voice_weights: np.ndarray | None,
    grouping: str,
    membership: np.ndarray,
    groups: Sequence[str],
    cells: Sequence[str] | None = None,
) -> GroupEstimates:
    """Estimates for groups made of whole voices (overall, an axis, cells, single voices).

    ``membership`` is (voices, groups) 0/1; ``voice_weights`` (n_boot, voices) or None for an
    items-only bootstrap (each voice its own group). ``cells`` (per voice) enables the voices-only
    replicates and degrees of freedom used by the small-sample interval.
    """
    k = len(cube.metrics)
    totals = cube.sums.sum(axis=0) @ membership  # (2k, G)
    reps = per_voice_reps if voice_weights is None else per_voice_reps * voice_weights[:, None, :]
    rep_totals = reps @ membership  # (B, 2k, G)
    den_cube = cube.sums[:, k:, :]
    n_items = np.stack([((den_cube[:, m, :] @ membership) > 0).sum(axis=0) for m in range(k)])
    n_voices = (den_cube.sum(axis=0) > 0).astype(np.float64) @ membership
    voice_num = voice_den = voice_df = None
    if cells is not None and voice_weights is not None:
        per_voice = cube.sums.sum(axis=0)  # (2k, voices)
        voice_totals = (voice_weights[:, None, :] * per_voice[None, :, :]) @ membership  # (B, 2k, G)
        voice_num, voice_den = voice_totals[:, :k], voice_totals[:, k:]
        cells_arr = np.asarray(cells, dtype=object)
        used = den_cube.sum(axis=(0, 1)) > 0
        voice_df = np.array([float(np.sum(used & (membership[:, g] > 0)) - len(set(cells_arr[used & (membership[:, g] > 0)])))
                             for g in range(membership.shape[1])])
    return GroupEstimates(
        grouping, tuple(groups), cube.metrics, totals[:k], totals[k:], rep_totals[:, :k], rep_totals[:, k:],
        n_items.astype(np.int64), n_voices.astype(np.int64), voice_weights is not None, voice_num, voice_den, voice_df,
    )


def by_row_groups(
    parts: Sequence[tuple[np.ndarray, np.ndarray, Sequence[RowMetric]]],
    n_voices: int,
    weights: BootstrapWeights | None,
    grouping: str,
    groups: Sequence[str],
    resample_voices: bool = True,
) -> GroupEstimates:
    """Estimates for groups made of rows (item stratum, option rotation).

    ``parts`` holds, per group, the rows' task item codes, slice voice codes (columns of
    ``weights.voices``) and metric contributions. Each group's cube covers only its own items, so
    groups that split the items (subjects) cost one matrix product in all.
    """
    estimates = []
    for item_codes, voice_codes, metrics in parts:
        used_items, local = np.unique(item_codes, return_inverse=True)
        cube = build_cube(local, voice_codes, len(used_items), n_voices, metrics)
        if weights is None:
            reps = np.zeros((0, cube.sums.shape[1], n_voices))
            voice_weights = None
        else:
            reps = _replicate_sums(weights.items[used_items], cube.sums.reshape(len(used_items), -1)).reshape(-1, cube.sums.shape[1], n_voices)
            voice_weights = weights.voices if resample_voices else None
        estimates.append(by_voice_groups(cube, reps, voice_weights, grouping, np.ones((n_voices, 1)), ("",)))
    return GroupEstimates(
        grouping,
        tuple(groups),
        estimates[0].metrics,
        np.concatenate([e.num for e in estimates], axis=1),
        np.concatenate([e.den for e in estimates], axis=1),
        np.concatenate([e.num_reps for e in estimates], axis=2),
        np.concatenate([e.den_reps for e in estimates], axis=2),
        np.concatenate([e.n_items for e in estimates], axis=1),
        np.concatenate([e.n_voices for e in estimates], axis=1),
        weights is not None and resample_voices,
    )


def membership_matrix(labels: Sequence[str], declared: Sequence[str] = ()) -> tuple[np.ndarray, tuple[str, ...]]:
    """(voices, groups) 0/1 matrix for per-voice group labels; groups sorted. ``declared`` groups
    without voices get an all-zero column (an empty group, reported as such)."""
    groups = tuple(sorted(set(labels) | set(declared)))
    index = {g: i for i, g in enumerate(groups)}
    matrix = np.zeros((len(labels), len(groups)))
    matrix[np.arange(len(labels)), [index[label] for label in labels]] = 1.0
    return matrix, groups
