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
from biasbench.scoring.estimates import membership_matrix
from biasbench.scoring.slices import SliceEstimates, TaskFrame

CHUNK = 16
"""Replicates processed at once (bounds memory)."""

MAX_UNDEFINED = 0.05
"""When more replicates than this leave a group without two distinct voices (cells of 2 voices keep
one after Rao–Wu resampling), flip CIs resample items only and say so (status 'items_only')."""


def answer_categories(rows: pd.DataFrame) -> pd.Series:
    """Per row: the parsed answer, '<invalid>' / '<refusal>', or '' for rows without an answer."""
    outcome = rows["outcome"]
    answer = rows["parsed"].where(rows["parsed"] != "", "")
    answer = answer.mask(outcome == "invalid", "<invalid>").mask(outcome == "refusal", "<refusal>")
    return answer.mask(outcome == "error", "")


def flip_counts(answers: np.ndarray, item_of_key: np.ndarray, membership: np.ndarray, voice_w: np.ndarray, item_w: np.ndarray) -> np.ndarray:
    """Weighted (within agree, within pairs, cross agree, cross pairs) sums, one row per weight set.

    ``answers`` is (keys, categories, voices) 0/1; ``voice_w`` (R, voices); ``item_w`` (items, R).
    """
    n_keys, n_cat, n_voices = answers.shape
    flat = answers.reshape(n_keys * n_cat, n_voices)
    out = np.zeros((voice_w.shape[0], 4))
    for start in range(0, voice_w.shape[0], CHUNK):
        u = voice_w[start:start + CHUNK]  # (r, V)
        r = u.shape[0]
        x1 = (u[:, :, None] * membership[None]).transpose(1, 0, 2).reshape(n_voices, -1)  # (V, r*G)
        x2 = ((u ** 2)[:, :, None] * membership[None]).transpose(1, 0, 2).reshape(n_voices, -1)
        s = (flat @ x1).reshape(n_keys, n_cat, r, -1)  # weighted answer counts per group
        q = (flat @ x2).reshape(n_keys, n_cat, r, -1)
        within_agree = ((s ** 2 - q) / 2).sum(axis=(1, 3))
        sn, qn = s.sum(axis=1), q.sum(axis=1)  # (K, r, G)
        within_pairs = ((sn ** 2 - qn) / 2).sum(axis=2)
        t, tq = s.sum(axis=3), q.sum(axis=3)  # (K, C, r)
        all_agree = ((t ** 2 - tq) / 2).sum(axis=1)
        tn, tqn = sn.sum(axis=2), qn.sum(axis=2)
        all_pairs = (tn ** 2 - tqn) / 2
        per_key = np.stack([within_agree, within_pairs, all_agree - within_agree, all_pairs - within_pairs], axis=-1)  # (K, r, 4)
        w = item_w[item_of_key, start:start + CHUNK]  # (K, r)
        out[start:start + r] = np.einsum("kr,krq->rq", w, per_key)
    return out


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
    keys = pd.MultiIndex.from_frame(rows[key_columns].astype(str))
    key_codes, key_index = pd.factorize(keys, sort=True)
    cat_codes, cats = pd.factorize(pd.Series(answers), sort=True)
    voice_ids = sorted(rows["voice_id"].unique())
    voice_codes = pd.Index(voice_ids).get_indexer(rows["voice_id"])
    cube = np.zeros((len(key_index), len(cats), len(voice_ids)))
    np.add.at(cube, (key_codes, cat_codes, voice_codes), 1.0)
    cube = np.minimum(cube, 1.0)
    item_of_key = pd.Index(tf.items).get_indexer(key_index.get_level_values(0))
    weights = tf.weights
    task_voice = pd.Index(tf.voices).get_indexer(voice_ids)
    records = []
    for grouping in VOICE_AXIS_GROUPINGS:
        if grouping not in se.groupings:
            continue
        labels = [tf.voice_labels[v][grouping] for v in voice_ids]
        membership, groups = membership_matrix(labels)
        ones_v = np.ones((1, len(voice_ids)))
        point = flip_counts(cube, item_of_key, membership, ones_v, np.ones((len(tf.items), 1)))[0]
        reps, items_only = None, False
        if weights is not None:
            reps = flip_counts(cube, item_of_key, membership, weights.voices[:, task_voice], weights.items)
            if np.mean(np.isnan(_rates(reps)).any(axis=1)) > MAX_UNDEFINED:
                ones = np.ones((weights.n_boot, len(voice_ids)))
                reps, items_only = flip_counts(cube, item_of_key, membership, ones, weights.items), True
        answered_items = len(np.unique(item_of_key[cube.sum(axis=(1, 2)) >= 2]))
        records.extend(_records(se, grouping, point, reps, answered_items, len(groups), items_only))
    return records


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
