"""Answer flips: how often two voices give different answers to the same item.

For every item (and repeat; and rotation when every voice hears every rotation) each pair of
distinct voices that both answered is a pair; it *flips* when their answers differ (an invalid
answer or a refusal is an answer category of its own; 'error' rows are left out). The
within-group flip rate (two voices of the same group) is the noise floor; the cross-group rate
minus it (the excess) is a bias signal that needs no ground truth. CIs come from the same
two-way bootstrap: a resampled pair of voices is weighted by the product of their voice weights,
and copies of one voice are never paired with each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biasbench.scoring.bootstrap import percentile_interval
from biasbench.scoring.contrasts import VOICE_AXIS_GROUPINGS
from biasbench.scoring.estimates import EXACT_FLOAT32
from biasbench.scoring.slices import SliceEstimates, TaskFrame

MAX_UNDEFINED = 0.05
"""When more replicates than this leave a group without two distinct voices (cells of 2 voices keep
one after Rao–Wu resampling), flip CIs resample items only and say so (status 'items_only')."""


def answer_categories(rows: pd.DataFrame) -> pd.Series:
    """Per row: the parsed answer, '<invalid>' / '<refusal>', or '' for rows without an answer."""
    outcome = rows["outcome"].to_numpy(dtype=object)
    answer = rows["parsed"].to_numpy(dtype=object)  # categoricals: the strings themselves
    answer = np.where(outcome == "invalid", "<invalid>", np.where(outcome == "refusal", "<refusal>", answer))
    return pd.Series(np.where(outcome == "error", "", answer), index=rows.index, dtype=object)


def pair_tables(codes: np.ndarray) -> np.ndarray:
    """(keys, 2, voices, voices): [agree, both answered] for each pair of distinct voices.

    ``codes`` is (keys, voices) answer codes, −1 where a voice gave no answer.
    """
    answered = codes >= 0
    both = answered[:, :, None] & answered[:, None, :]
    agree = both & (codes[:, :, None] == codes[:, None, :])
    off_diagonal = ~np.eye(codes.shape[1], dtype=bool)
    return np.stack([agree & off_diagonal, both & off_diagonal], axis=1)


def pair_sums(pairs: np.ndarray, key_weights: np.ndarray, rows: np.ndarray | None = None, chunk: int = 4096) -> np.ndarray:
    """(replicates, 2, voices, voices) item-weighted sums of the pair tables; ``key_weights`` is (keys, R), or
    (items, R) with ``rows`` giving each key's row of it (gathered a chunk of keys at a time: bounded memory)."""
    n_keys, _, n_voices, _ = pairs.shape
    rows = np.arange(n_keys) if rows is None else np.asarray(rows)
    per_replicate = np.zeros(key_weights.shape[1], dtype=np.float64)
    for start in range(0, n_keys, chunk):
        per_replicate += key_weights[rows[start:start + chunk]].sum(axis=0, dtype=np.float64)
    exact = key_weights.dtype == np.float32 and float(per_replicate.max(initial=0.0)) < EXACT_FLOAT32
    dtype = np.float32 if exact else np.float64  # 0/1 tables × integer counts: float32 is exact below 2**24
    out = np.zeros((key_weights.shape[1], 2 * n_voices * n_voices), dtype=dtype)
    for start in range(0, n_keys, chunk):  # exact integer sums: the chunking changes no bit
        flat = pairs[start:start + chunk].reshape(-1, 2 * n_voices * n_voices).astype(dtype)
        out += key_weights[rows[start:start + chunk]].astype(dtype, copy=False).T @ flat
    return out.astype(np.float64).reshape(-1, 2, n_voices, n_voices)


def flip_counts(sums: np.ndarray, same_group: np.ndarray, voice_w: np.ndarray) -> np.ndarray:
    """(R, 4) weighted (within agree, within pairs, cross agree, cross pairs).

    A pair of voices (v, v') counts with weight u_v · u_v' (each unordered pair once); ``same_group``
    is the (voices, voices) 0/1 mask of pairs in one group.
    """
    mask = np.stack([same_group, 1.0 - same_group])  # within, cross
    totals = np.einsum("rv,rtvw,gvw,rw->rgt", voice_w, sums, mask, voice_w, optimize=True) / 2.0  # (R, 2 groups-kinds, 2 tables)
    return np.stack([totals[:, 0, 0], totals[:, 0, 1], totals[:, 1, 0], totals[:, 1, 1]], axis=1)


def flip_records(se: SliceEstimates, tf: TaskFrame) -> list[dict[str, Any]]:
    """Rows of the flips table for one audio slice."""
    rows = se.rows
    answers = answer_categories(rows).to_numpy()
    if not (answers != "").any() or se.headline == "wer":
        return []
    keep = answers != ""
    rows = rows[keep]
    answers = answers[keep]
    key_columns = ["item_id", "repeat"]
    if rows.duplicated(["item_id", "voice_id", "repeat"]).any():
        key_columns.append("permutation")
    key_values, key_codes = _key_codes(rows, key_columns, tf.items)
    cat_codes, _ = pd.factorize(pd.Series(answers), sort=True)
    voice_ids = sorted(rows["voice_id"].unique())
    voice_codes = pd.Index(voice_ids).get_indexer(rows["voice_id"])
    codes = np.full((len(key_values), len(voice_ids)), -1, dtype=np.int64)
    codes[key_codes, voice_codes] = cat_codes
    pairs = pair_tables(codes)
    item_of_key = key_values[:, 0]
    point_sums = pairs.reshape(len(key_values), -1).sum(axis=0, dtype=np.float64).reshape(1, 2, len(voice_ids), len(voice_ids))
    weights = tf.weights
    rep_sums = None if weights is None else pair_sums(pairs, weights.items, item_of_key)
    task_voice = pd.Index(tf.voices).get_indexer(voice_ids)
    n_items = len(np.unique(item_of_key[(codes >= 0).sum(axis=1) >= 2]))
    records = []
    for grouping in VOICE_AXIS_GROUPINGS:
        if grouping not in se.groupings:
            continue
        labels = np.array([tf.voice_labels[v][grouping] for v in voice_ids], dtype=object)
        same_group = (labels[:, None] == labels[None, :]).astype(np.float64)
        point = flip_counts(point_sums, same_group, np.ones((1, len(voice_ids))))[0]
        reps, items_only = None, False
        if rep_sums is not None:
            reps = flip_counts(rep_sums, same_group, weights.voices[:, task_voice])
            if np.mean(np.isnan(_rates(reps)).any(axis=1)) > MAX_UNDEFINED:
                reps, items_only = flip_counts(rep_sums, same_group, np.ones((weights.n_boot, len(voice_ids)))), True
        records.extend(_records(se, grouping, point, reps, n_items, len(set(labels)), items_only))
    return records


def _key_codes(rows: pd.DataFrame, key_columns: list[str], items: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys as rows of (task item code, repeat[, rotation]) in sorted order, each row's key index).

    Integer codes instead of strings: the key order differs from sorting the strings, which changes no
    number (every flip sum is a sum of integers, exact in any order)."""
    parts = [pd.Index(items).get_indexer(rows["item_id"]).astype(np.int64)] + [rows[c].to_numpy(dtype=np.int64) for c in key_columns[1:]]
    stacked = np.stack(parts, axis=1)
    low = stacked.min(axis=0)
    span = stacked.max(axis=0) - low + 1
    flat = np.zeros(len(stacked), dtype=np.int64)
    for j in range(stacked.shape[1]):
        flat = flat * span[j] + (stacked[:, j] - low[j])
    unique_flat, key_codes = np.unique(flat, return_inverse=True)
    values = np.empty((len(unique_flat), stacked.shape[1]), dtype=np.int64)
    rest = unique_flat.copy()
    for j in reversed(range(stacked.shape[1])):
        values[:, j] = rest % span[j] + low[j]
        rest //= span[j]
    return values, key_codes.reshape(-1)


def _rates(counts: np.ndarray) -> np.ndarray:
    """(..., 4) sums -> (..., 3) within flip rate, cross flip rate, excess."""
    with np.errstate(all="ignore"):
        within = 1.0 - counts[..., 0] / counts[..., 1]
        cross = 1.0 - counts[..., 2] / counts[..., 3]
    return np.stack([within, cross, cross - within], axis=-1)


def _records(se: SliceEstimates, grouping: str, point: np.ndarray, reps: np.ndarray | None, n_items: int, n_groups: int,
             items_only: bool) -> list[dict[str, Any]]:
    value = _rates(point)
    low = high = np.full(3, np.nan)
    if reps is not None:
        low, high = percentile_interval(_rates(reps))
    pairs = (int(round(point[1])), int(round(point[3])), int(round(point[1] + point[3])))
    records = []
    for q, quantity in enumerate(("within_group", "cross_group", "excess")):
        status, note = "ok", ""
        if n_groups < 2 and quantity != "within_group":
            status, note = "not_applicable", "a single group: no cross-group pairs"
        elif point[1] == 0 and quantity != "cross_group":
            status, note = "not_applicable", "every group has one voice: no within-group pairs (no noise floor)"
        elif reps is None or not np.isfinite(low[q]):
            status, note = "no_ci", "no bootstrap replicates"
        elif items_only:
            status, note = "items_only", "cells too small to resample voices and keep within-group pairs: the CI resamples items only"
        has_value = status in ("ok", "no_ci", "items_only")
        has_ci = status in ("ok", "items_only")
        records.append({
            "model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping, "quantity": quantity,
            "value": float(value[q]) if has_value and np.isfinite(value[q]) else None,
            "ci_low": float(low[q]) if has_ci else None, "ci_high": float(high[q]) if has_ci else None,
            "n_items": n_items, "n_pairs": pairs[q], "status": status, "note": note,
        })
    return records
