"""Per-grouping tests of 'no difference between groups': voice-level permutation test, Cochran's Q.

These are single tests, each at its own level: the family-wise decisions (the claims a report
prints) are in the headline table (:mod:`biasbench.scoring.headline`). The permutation test permutes
whole voices (within strata of the pool's other axes). Cochran's Q (items as blocks) treats voices
as fixed: with voice-to-voice variation its false-positive rate exceeds its level, so every Q row
carries that warning. The GEE logistic regression was removed: it rejected some term in 83% of
runs with no planted bias (voices treated as fixed, many terms, no multiplicity control).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from biasbench.core.hashing import seed_from
from biasbench.scoring.contrasts import VOICE_AXIS_GROUPINGS
from biasbench.scoring.slices import SliceEstimates, TaskFrame

UNADJUSTED = "one test at its own level, not adjusted for the other groupings: claims come from scores/headline"
"""Note on every permutation row."""
COCHRAN_WARNING = ("WARNING: treats voices as fixed, so its false-positive rate exceeds its level when voices differ; "
                   "not a claim about groups (see scores/headline)")
"""Note on every Cochran's Q row."""


def stratified_label_permutations(
    labels: Sequence[str], strata: Sequence[str], n_perm: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group names, observed group codes per voice, ``n_perm`` × voices permuted codes): each row shuffles
    the labels among the voices of every stratum, so a voice keeps its rows and strata keep their make-up."""
    groups, codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    strata_arr = np.asarray(strata, dtype=object)
    perms = np.tile(codes, (n_perm, 1))
    for stratum in np.unique(strata_arr):
        members = np.flatnonzero(strata_arr == stratum)
        order = np.argsort(rng.random((n_perm, members.size)), axis=1)
        perms[:, members] = codes[members][order]
    return groups, codes, perms


def permutation_test(
    num: np.ndarray, den: np.ndarray, labels: Sequence[str], strata: Sequence[str], n_perm: int, rng: np.random.Generator
) -> tuple[float, float, int]:
    """(observed max − min of group ratios, p-value, permutations) for per-voice sums ``num``/``den``.

    Labels are shuffled within each stratum; p = (1 + #{T* >= T}) / (1 + n_perm).
    """
    groups, codes, perms = stratified_label_permutations(labels, strata, n_perm, rng)
    observed = _spread(codes[None, :], num, den, len(groups))[0]
    permuted = _spread(perms, num, den, len(groups))
    p = (1.0 + np.sum(permuted >= observed - 1e-12)) / (1.0 + n_perm)
    return float(observed), float(p), n_perm


def _spread(codes: np.ndarray, num: np.ndarray, den: np.ndarray, n_groups: int) -> np.ndarray:
    """max − min over groups of sum(num)/sum(den), for each row of label codes."""
    rows = codes.shape[0]
    flat = (codes + (np.arange(rows) * n_groups)[:, None]).ravel()
    g_num = np.bincount(flat, weights=np.tile(num, rows), minlength=rows * n_groups).reshape(rows, n_groups)
    g_den = np.bincount(flat, weights=np.tile(den, rows), minlength=rows * n_groups).reshape(rows, n_groups)
    with np.errstate(all="ignore"):
        ratio = g_num / g_den
    return np.nanmax(ratio, axis=1) - np.nanmin(ratio, axis=1)


def cochran_q(correct: np.ndarray, answered: np.ndarray) -> tuple[float, float, float, int, int]:
    """Cochran's Q over (items, groups) sums: an item-group is 1 when most of its answers are correct.

    Items where some group has no answer or an exact tie are dropped. Returns (Q, p, df, blocks, dropped).
    """
    with np.errstate(all="ignore"):
        share = correct / answered
    usable = (answered > 0).all(axis=1) & ~(share == 0.5).any(axis=1)
    table = (share[usable] > 0.5).astype(int)
    dropped = int((~usable).sum())
    if table.shape[0] < 2:
        return float("nan"), float("nan"), float(table.shape[1] - 1), int(table.shape[0]), dropped
    if (table == table[:, :1]).all():
        return 0.0, 1.0, float(table.shape[1] - 1), int(table.shape[0]), dropped
    statistic, p_value, df = cochrans_q_statistic(table)
    return statistic, p_value, df, int(table.shape[0]), dropped


def cochrans_q_statistic(table: np.ndarray) -> tuple[float, float, float]:
    """(Q, p, df) of Cochran's Q for a blocks × treatments 0/1 table, with its chi-square(k − 1) p-value.

    The textbook formula, as statsmodels' ``cochrans_q`` computes it (checked equal in the tests), without
    importing statsmodels and scipy.stats (about 0.5 s of every fresh run).
    """
    from scipy.special import chdtrc  # the chi-square survival function (scipy.stats.chi2.sf)

    k = table.shape[1]
    row_successes = table.sum(axis=1)
    column_successes = table.sum(axis=0)
    total = row_successes.sum()
    statistic = (k - 1) * (k * np.sum(column_successes**2) - total**2) / (k * total - np.sum(row_successes**2))
    return float(statistic), float(chdtrc(k - 1, statistic)), float(k - 1)


def test_records(se: SliceEstimates, tf: TaskFrame, axes: Sequence[str], options: Any, warn: Callable[[str, str], None]) -> list[dict[str, Any]]:
    """Rows of the significance table for one audio slice (headline metric)."""
    voice_est = se.groupings.get("voice")
    if voice_est is None:
        return []
    m = voice_est.metrics.index(se.headline)
    voice_ids = list(voice_est.groups)
    base = {"model": se.model, "task": se.task, "modality": se.modality}
    records: list[dict[str, Any]] = []
    graded = se.headline == "accuracy"
    correct, answered, items = _item_group_sums(se) if graded else (None, None, None)
    for grouping in VOICE_AXIS_GROUPINGS:
        est = se.groupings.get(grouping)
        if est is None:
            continue
        key = {**base, "grouping": grouping}
        labels = [tf.voice_labels[v][grouping] for v in voice_ids]
        present = voice_est.den[m] > 0
        if len(set(np.asarray(labels, dtype=object)[present])) < 2:
            records.append({**key, "test": "permutation", "term": "max_minus_min", "status": "not_applicable",
                            "note": "fewer than 2 groups with rows"})
            continue
        other = [a for a in axes if a != grouping and grouping != "cell"]
        strata = ["|".join(tf.voice_labels[v][a] for a in other) for v in voice_ids]
        if options.n_perm > 0:
            rng = np.random.default_rng(seed_from(options.seed, "permutation", se.model, se.task, grouping))
            keep = np.flatnonzero(present)
            stat, p, n = permutation_test(voice_est.num[m][keep], voice_est.den[m][keep], [labels[i] for i in keep],
                                          [strata[i] for i in keep], options.n_perm, rng)
            note = "; ".join(x for x in ("strata: " + ", ".join(other) if other else "", UNADJUSTED) if x)
            records.append({**key, "test": "permutation", "term": "max_minus_min", "statistic": stat, "estimate": stat,
                            "p_value": p, "n": n, "status": "ok", "note": note})
        if graded:
            group_correct, group_answered = _by_group(correct, answered, items, labels)
            q, p, df, blocks, dropped = cochran_q(group_correct, group_answered)
            ok = np.isfinite(q)
            records.append({**key, "test": "cochran_q", "term": "Q", "statistic": q if ok else None, "estimate": q if ok else None,
                            "p_value": p if ok else None, "df": df, "n": blocks,
                            "status": "ok" if ok else "not_applicable",
                            "note": "; ".join(x for x in ((f"{dropped} items dropped (a group without answers or a tied majority)" if dropped else ""),
                                                           COCHRAN_WARNING) if x) if ok else "fewer than 2 usable items"})
    return records


def _item_group_sums(se: SliceEstimates) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(items, voices) correct and answered counts in the order of the 'voice' grouping."""
    metric = next(m for m in se.metrics if m.name == "accuracy")
    frame = pd.DataFrame({"item": se.rows["item_id"].to_numpy(), "voice": se.rows["voice_id"].to_numpy(), "x": metric.x, "d": metric.d})
    sums = frame.groupby(["item", "voice"], sort=True)[["x", "d"]].sum()
    voices = list(se.groupings["voice"].groups)
    x = sums["x"].unstack("voice").reindex(columns=voices).fillna(0.0)
    d = sums["d"].unstack("voice").reindex(columns=voices).fillna(0.0)
    return x.to_numpy(), d.to_numpy(), list(x.index)


def _by_group(correct: np.ndarray, answered: np.ndarray, items: list[str], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    groups = sorted(set(labels))
    member = np.array([[label == g for g in groups] for label in labels], dtype=float)
    return correct @ member, answered @ member
