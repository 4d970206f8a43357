"""Cut the result table into model × task × modality slices and estimate every grouping of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from biasbench.core.result import TEXT_VOICE
from biasbench.scoring.bootstrap import BootstrapWeights, bootstrap_weights
from biasbench.scoring.estimates import GroupEstimates, build_cube, by_row_groups, by_voice_groups, membership_matrix, voice_replicates
from biasbench.scoring.metrics import RowMetric, row_metrics
from biasbench.scoring.schema import OVERALL_GROUP

CONTROL_FEATURES = ("item_group", "permutation")
"""Row-level groupings reported beside the voice groupings."""


@dataclass(frozen=True)
class TaskFrame:
    """The rows of one task with item and voice codes shared by every model (paired bootstrap)."""

    task: str
    """Task name."""
    rows: pd.DataFrame
    """The task's result rows."""
    items: tuple[str, ...]
    """Item ids, sorted; row codes index this."""
    voices: tuple[str, ...]
    """Voice ids (text voice included), sorted; row codes index this."""
    voice_labels: Mapping[str, Mapping[str, str]]
    """voice id -> {axis or 'cell': value}."""
    item_codes: np.ndarray
    """Per-row index into ``items``."""
    voice_codes: np.ndarray
    """Per-row index into ``voices``."""
    weights: BootstrapWeights | None
    """Replicate weights (None when n_boot = 0)."""


@dataclass(frozen=True)
class SliceEstimates:
    """Every grouping of one model × task × modality."""

    model: str
    task: str
    modality: str
    headline: str
    """Headline metric name."""
    metrics: tuple[RowMetric, ...]
    """Per-row metric contributions of the slice's rows."""
    rows: pd.DataFrame
    """The slice's rows."""
    groupings: Mapping[str, GroupEstimates]
    """Grouping name -> estimates."""
    voice_columns: np.ndarray
    """Task-level voice codes of the slice's voice axis (columns of the weights)."""


def task_frames(frame: pd.DataFrame, axes: Sequence[str], n_boot: int, seed: int) -> Iterator[TaskFrame]:
    """One :class:`TaskFrame` per task, sorted by name."""
    codes, tasks = pd.factorize(frame["task"], sort=True)
    for code, task in enumerate(tasks):  # one task's rows at a time (a group-by would sort a copy of the whole table)
        rows = frame.take(np.flatnonzero(codes == code)).reset_index(drop=True)
        items = tuple(sorted(rows["item_id"].unique()))
        voices = tuple(sorted(rows["voice_id"].unique()))
        first = rows.drop_duplicates("voice_id").set_index("voice_id")
        labels = {
            v: {**{axis: str(first.at[v, axis]) for axis in axes}, "cell": _cell(first, v, axes)} for v in voices
        }
        item_codes = pd.Index(items).get_indexer(rows["item_id"])
        voice_codes = pd.Index(voices).get_indexer(rows["voice_id"])
        weights = None
        if n_boot > 0:
            cells = [TEXT_VOICE if v == TEXT_VOICE else labels[v]["cell"] for v in voices]
            weights = bootstrap_weights(len(items), cells, n_boot, seed, str(task))
        yield TaskFrame(str(task), rows, items, voices, labels, item_codes, voice_codes, weights)


def _cell(first: pd.DataFrame, voice: str, axes: Sequence[str]) -> str:
    if voice == TEXT_VOICE:
        return ""
    cell = str(first.at[voice, "cell"])
    return cell or "|".join(str(first.at[voice, axis]) for axis in axes)


def slice_estimates(
    tf: TaskFrame,
    model: str,
    modality: str,
    answer_type: str,
    axes: Sequence[str],
    declared: Mapping[str, Sequence[str]],
) -> SliceEstimates:
    """Estimates of every grouping for one model × modality of a task.

    ``declared`` maps a grouping to group labels the pool has even when no row carries them, so
    an empty group is reported as such instead of vanishing.
    """
    mask = ((tf.rows["model"] == model) & (tf.rows["modality"] == modality)).to_numpy()
    rows = tf.rows[mask].reset_index(drop=True)
    metrics = tuple(row_metrics(rows, answer_type))
    item_codes = tf.item_codes[mask]
    used = np.unique(tf.voice_codes[mask])
    voice_local = np.searchsorted(used, tf.voice_codes[mask])
    cube = build_cube(item_codes, voice_local, len(tf.items), len(used), metrics)
    weights = None
    if tf.weights is not None:
        weights = BootstrapWeights(tf.weights.items, tf.weights.voices[:, used], tf.weights.single_voice_cells)
    per_voice = voice_replicates(cube, weights)
    audio = modality == "audio"
    voice_w = None if weights is None or not audio else weights.voices  # the text control has no voices to resample
    voice_ids = [tf.voices[c] for c in used]
    groupings: dict[str, GroupEstimates] = {}
    membership, groups = membership_matrix([OVERALL_GROUP] * len(voice_ids))
    cells = [tf.voice_labels[v]["cell"] for v in voice_ids] if audio else None
    groupings["overall"] = by_voice_groups(cube, per_voice, voice_w, "overall", membership, groups, cells)
    if audio:
        for grouping in (*axes, *(["cell"] if len(axes) > 1 else [])):
            labels = [tf.voice_labels[v][grouping] for v in voice_ids]
            membership, groups = membership_matrix(labels, declared.get(grouping, ()))
            groupings[grouping] = by_voice_groups(cube, per_voice, voice_w, grouping, membership, groups, cells)
        membership, groups = membership_matrix(voice_ids)
        groupings["voice"] = by_voice_groups(cube, per_voice, None, "voice", membership, groups)
    for feature in CONTROL_FEATURES:
        codes, labels = pd.factorize(rows[feature].astype(str), sort=False)
        if len(labels) < 2:
            continue
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        parts = {}
        for code, label in enumerate(labels):
            take = order[bounds[code]:bounds[code + 1]]
            parts[str(label)] = (item_codes[take], voice_local[take], [RowMetric(m.name, m.x[take], m.d[take]) for m in metrics])
        names = sorted(parts, key=_natural)
        groupings[feature] = by_row_groups([parts[n] for n in names], len(used), weights, feature, names, audio)
    return SliceEstimates(model, tf.task, modality, metrics[0].name, metrics, rows, groupings, used)


def _natural(label: str) -> tuple[int, int | str]:
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)
