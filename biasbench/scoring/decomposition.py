"""Understanding vs treatment: how much of a group gap comes from rows the model did not understand?

Each audio row carries an understanding signal (``understanding.csv``, see
:mod:`biasbench.runner.understanding`). For a group g against the rest of its axis, on the task's
headline metric m (a ratio of sums, as everywhere in the scorer):

* ``total_gap``       = m(g) − m(rest) over rows with a signal;
* ``treatment_gap``   = m(g | understood) − m(rest | understood): the same understood words, answered
  differently — what is left when mishearing is taken out;
* ``understanding_part`` = total_gap − treatment_gap: the part that the not-understood rows explain;
* ``understood_gap``  = share understood in g − share in rest;
* ``text_gap``        = m(g) − m(text control), the audio − text gap beside them.

CIs come from the same two-way cluster bootstrap over items and voices (within cells) as every
other table, so the three quantities are paired replicate by replicate. ``dominant`` names the part
whose CI excludes 0 while the other's does not ('understanding', 'treatment'), 'both', or 'unclear'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from biasbench.core.result import TEXT_VOICE
from biasbench.scoring.bootstrap import percentile_interval
from biasbench.scoring.direction import HIGHER_BETTER, LOWER_BETTER
from biasbench.scoring.metrics import HIGHER_IS_BETTER, row_metrics
from biasbench.scoring.slices import task_frames

DECOMPOSITION = "decomposition"
"""Table name: scores/decomposition.csv."""
KEYS = ["model", "task", "item_id", "voice_id", "permutation", "repeat"]
"""Columns joining understanding.csv to the result rows."""
QUANTITIES = ("total_gap", "treatment_gap", "understanding_part", "understood_gap", "text_gap")
"""Estimated quantities; each has <name>, <name>_ci_low, <name>_ci_high columns."""
COLUMNS = (
    "model", "task", "metric", "direction", "axis", "group", "n_rows", "n_rows_no_signal", "sources",
    "understood_share_group", "understood_share_rest",
    *[f"{q}{suffix}" for q in QUANTITIES for suffix in ("", "_ci_low", "_ci_high")],
    "dominant", "note",
)
"""Columns of the table."""


def read_understanding(run_dir: Path) -> pd.DataFrame | None:
    """``understanding.csv`` of a run, or None when the run has none."""
    from biasbench.core.rundir import RunDir

    path = RunDir(run_dir).understanding_csv
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, dtype={"item_id": str, "voice_id": str, "model": str, "task": str})
    table["understood"] = table["understood"].map({"True": True, "False": False, True: True, False: False})
    return table


def decomposition_table(frame: pd.DataFrame, understanding: pd.DataFrame, axes: tuple[str, ...],
                        answer_types: Mapping[str, str], *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per model × task × axis × group (group vs the rest of its axis); see the module docstring."""
    records: list[dict[str, Any]] = []
    signal = understanding[KEYS + ["source", "understood"]].copy()
    signal["permutation"] = signal["permutation"].astype("int64")
    signal["repeat"] = signal["repeat"].astype("int64")
    for tf in task_frames(frame, axes, n_boot, seed):
        answer_type = answer_types.get(tf.task, "multiple_choice")
        for model in sorted(tf.rows["model"].unique()):
            mask = ((tf.rows["model"] == model) & (tf.rows["modality"] == "audio")).to_numpy()
            if not mask.any():
                continue
            rows = tf.rows[mask].reset_index(drop=True).merge(signal, on=KEYS, how="left")
            metric = row_metrics(rows, answer_type)[0]
            text_mask = ((tf.rows["model"] == model) & (tf.rows["modality"] == "text")).to_numpy()
            text_rows = tf.rows[text_mask].reset_index(drop=True)
            text_metric = row_metrics(text_rows, answer_type)[0] if len(text_rows) else None
            weights = _row_weights(tf, mask), (_row_weights(tf, text_mask) if text_metric is not None else None)
            for axis in axes:
                labels = rows[axis].astype(str).to_numpy()
                for group in sorted(set(labels) - {""}):
                    records.append(_record(model, tf.task, metric, rows, labels == group, labels != "", axis, group,
                                           text_metric, weights))
    return pd.DataFrame(records, columns=list(COLUMNS))


def _row_weights(tf: Any, mask: np.ndarray) -> np.ndarray | None:
    """(rows, B) replicate weight of each row: its item's count times its voice's weight (text rows: items only)."""
    if tf.weights is None:
        return None
    items = tf.weights.items[tf.item_codes[mask]].astype(np.float64)
    voice_codes = tf.voice_codes[mask]
    is_text = np.array([tf.voices[c] == TEXT_VOICE for c in voice_codes])
    voices = tf.weights.voices[:, voice_codes].T
    voices = np.where(is_text[:, None], 1.0, voices)
    return items * voices


def _ratio(x: np.ndarray, d: np.ndarray, select: np.ndarray, weights: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    """Point ratio sum(x)/sum(d) over ``select`` and its replicates (NaN where undefined)."""
    num, den = float(np.sum(x[select])), float(np.sum(d[select]))
    point = num / den if den > 0 else float("nan")
    if weights is None:
        return point, None
    w = weights[select]
    with np.errstate(all="ignore"):
        reps = (x[select] @ w) / (d[select] @ w)
    return point, reps


def _record(model: str, task: str, metric: Any, rows: pd.DataFrame, in_group: np.ndarray, labelled: np.ndarray, axis: str,
            group: str, text_metric: Any, weights: tuple[np.ndarray | None, np.ndarray | None]) -> dict[str, Any]:
    row_w, text_w = weights
    has_signal = rows["understood"].notna().to_numpy()
    understood = (rows["understood"] == True).to_numpy()  # noqa: E712 (NaN = no signal = not counted as understood)
    base = labelled & has_signal
    g, r = base & in_group, base & ~in_group
    x, d = metric.x, metric.d
    m_g, m_g_reps = _ratio(x, d, g, row_w)
    m_r, m_r_reps = _ratio(x, d, r, row_w)
    a_g, a_g_reps = _ratio(x, d, g & understood, row_w)
    a_r, a_r_reps = _ratio(x, d, r & understood, row_w)
    u = understood.astype(np.float64) * d
    p_g, p_g_reps = _ratio(u, d, g, row_w)
    p_r, p_r_reps = _ratio(u, d, r, row_w)
    points = {"total_gap": m_g - m_r, "treatment_gap": a_g - a_r, "understood_gap": p_g - p_r}
    points["understanding_part"] = points["total_gap"] - points["treatment_gap"]
    reps: dict[str, np.ndarray | None] = {q: None for q in QUANTITIES}
    if row_w is not None:
        reps["total_gap"] = m_g_reps - m_r_reps
        reps["treatment_gap"] = a_g_reps - a_r_reps
        reps["understanding_part"] = reps["total_gap"] - reps["treatment_gap"]
        reps["understood_gap"] = p_g_reps - p_r_reps
    notes = []
    if text_metric is not None:
        t, t_reps = _ratio(text_metric.x, text_metric.d, np.ones(len(text_metric.x), dtype=bool), text_w)
        points["text_gap"] = m_g - t
        if t_reps is not None and m_g_reps is not None:
            reps["text_gap"] = m_g_reps - t_reps
    else:
        points["text_gap"] = float("nan")
        notes.append("no text-control rows")
    record: dict[str, Any] = {
        "model": model, "task": task, "metric": metric.name,
        "direction": (HIGHER_BETTER if HIGHER_IS_BETTER.get(metric.name, True) else LOWER_BETTER).label,
        "axis": axis, "group": group, "n_rows": int(g.sum()), "n_rows_no_signal": int((labelled & in_group & ~has_signal).sum()),
        "sources": ",".join(sorted(set(rows.loc[g, "source"].astype(str)))),
        "understood_share_group": _num(p_g), "understood_share_rest": _num(p_r),
    }
    excludes: dict[str, bool] = {}
    for q in QUANTITIES:
        record[q] = _num(points[q])
        low = high = None
        if reps[q] is not None:
            lo, hi = percentile_interval(np.asarray(reps[q])[:, None])
            low, high = _num(float(lo[0])), _num(float(hi[0]))
        record[f"{q}_ci_low"], record[f"{q}_ci_high"] = low, high
        excludes[q] = low is not None and high is not None and (low > 0 or high < 0)
    record["dominant"] = _dominant(excludes, row_w is not None)
    if not (g & understood).any() or not (r & understood).any():
        notes.append("no understood rows on one side: the treatment gap is undefined")
    if record["n_rows_no_signal"]:
        notes.append(f"{record['n_rows_no_signal']} row(s) without an understanding signal left out")
    record["note"] = "; ".join(notes)
    return record


def _dominant(excludes: Mapping[str, bool], has_ci: bool) -> str:
    if not has_ci:
        return "no_ci"
    understanding, treatment = excludes["understanding_part"], excludes["treatment_gap"]
    if understanding and treatment:
        return "both"
    if understanding:
        return "understanding"
    if treatment:
        return "treatment"
    return "unclear"


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def run_decomposition(run_dir: Path, data: Any, n_boot: int, seed: int) -> pd.DataFrame | None:
    """The decomposition of a run with ``understanding.csv`` (None without one)."""
    understanding = read_understanding(run_dir)
    if understanding is None:
        return None
    return decomposition_table(data.frame, understanding, tuple(data.axes), dict(data.answer_types), n_boot=n_boot, seed=seed)


def write_decomposition(run_dir: Path, data: Any, n_boot: int, seed: int, table: pd.DataFrame | None = None) -> Path | None:
    """Write ``scores/decomposition.csv`` when the run has ``understanding.csv`` (else nothing; returns the path)."""
    if table is None:
        table = run_decomposition(run_dir, data, n_boot, seed)
    if table is None:
        return None
    path = Path(run_dir) / "scores" / f"{DECOMPOSITION}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    return path
