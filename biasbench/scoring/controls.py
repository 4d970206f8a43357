"""Controls: audio vs the text-only control, and option-position effects."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from biasbench.core.details import detail_key, expanded, is_detail_column
from biasbench.scoring.bootstrap import percentile_interval
from biasbench.scoring.metrics import ANSWERED
from biasbench.scoring.slices import SliceEstimates, TaskFrame

TEXT_CONTROL_GROUPINGS = ("overall", "gender", "race", "accent", "age_band", "cell")
"""Audio groupings compared with the text control."""


def text_control_records(slices: Sequence[SliceEstimates], tf: TaskFrame) -> list[dict[str, Any]]:
    """Audio − text per model and audio group on the headline metric (replicates paired over items)."""
    records = []
    by_key = {(se.model, se.modality): se for se in slices}
    for (model, modality), audio in by_key.items():
        text = by_key.get((model, "text"))
        if modality != "audio" or text is None:
            continue
        t_est = text.groupings["overall"]
        m_t = t_est.metrics.index(text.headline)
        items_audio = set(audio.rows["item_id"].unique())
        items_text = set(text.rows["item_id"].unique())
        shared = len(items_audio & items_text)
        mismatch = items_audio != items_text
        for grouping in TEXT_CONTROL_GROUPINGS:
            est = audio.groupings.get(grouping)
            if est is None or audio.headline != text.headline:
                continue
            m = est.metrics.index(audio.headline)
            for g, group in enumerate(est.groups):
                a_val, t_val = est.value[m, g], t_est.value[m_t, 0]
                key = {"model": model, "task": tf.task, "grouping": grouping, "group": group, "metric": audio.headline,
                       "audio_value": _num(a_val), "text_value": _num(t_val), "n_items": shared}
                if not (np.isfinite(a_val) and np.isfinite(t_val)):
                    records.append({**key, "gap": None, "ci_low": None, "ci_high": None, "status": "no_rows",
                                    "note": "no scorable audio or text rows"})
                    continue
                status, note, low, high = "ok", "", None, None
                if est.num_reps.shape[0]:
                    low, high = (float(x) for x in percentile_interval(est.replicates[:, m, g] - t_est.replicates[:, m_t, 0]))
                else:
                    status, note = "no_ci", "bootstrap disabled (n_boot = 0)"
                if mismatch:
                    note = (note + "; " if note else "") + f"audio and text cover different items ({len(items_audio)} vs {len(items_text)})"
                records.append({**key, "gap": float(a_val - t_val), "ci_low": _num(low), "ci_high": _num(high), "status": status, "note": note})
    return records


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _per_distinct(values: pd.Series, convert: Callable[[Any], int], missing: int) -> np.ndarray:
    """``convert`` of each row's value as int64 (``missing`` where absent), each distinct value converted once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    per_unique = np.array([convert(u) for u in uniques], dtype=np.int64)
    return np.where(codes >= 0, per_unique[np.maximum(codes, 0)] if len(per_unique) else missing, missing)


def _letter_index(letters: pd.Series) -> np.ndarray:
    """'A' -> 0, 'B' -> 1, ...; -1 for anything that is not a single capital letter."""
    return _per_distinct(letters, lambda u: ord(u) - 65 if isinstance(u, str) and len(u) == 1 and "A" <= u <= "Z" else -1, -1)


def _detail(rows: pd.DataFrame, key: str) -> pd.Series:
    """One details key per row (NaN where absent): from the typed detail columns, or the details JSON of rows that have no typed columns."""
    from biasbench.tasks.metrics import expand_details

    names = [c for c in rows.columns if is_detail_column(c) and detail_key(c) == key]
    if names:
        values = expanded(rows, names)
    elif "details" in rows.columns:
        values = expand_details(rows[["details"]])
    else:
        values = pd.DataFrame(index=rows.index)
    return values[key] if key in values.columns else pd.Series(np.nan, index=rows.index, dtype=object)


def _option_counts(values: pd.Series) -> np.ndarray:
    """int(n_choices or 0) per row (0 where absent)."""
    return _per_distinct(values, lambda u: int(u or 0), 0)


def position_records(se: SliceEstimates) -> list[dict[str, Any]]:
    """Accuracy by the presented position of the correct option, and the share of answers per presented position."""
    rows = se.rows
    if se.headline != "accuracy" or rows.empty:
        return []
    target = _letter_index(rows["target"])
    if (target < 0).all():
        return []
    declared = _option_counts(_detail(rows, "n_choices"))
    presented = _letter_index(_detail(rows, "presented"))
    inferred = int(max(target.max(), _letter_index(rows["parsed"]).max(), presented.max())) + 1
    n = np.where(declared > 0, declared, inferred)
    note = "" if (declared > 0).all() else f"option count not in the rows' details: taken as {inferred} (the most letters seen)"
    base = {"model": se.model, "task": se.task, "modality": se.modality}
    outcome = rows["outcome"].to_numpy()
    answered = np.isin(outcome, ANSWERED) & (target >= 0)
    position = np.where(target >= 0, (target - rows["permutation"].to_numpy()) % n, -1)
    records = []
    for p in range(int(n.max())):
        mask = answered & (position == p)
        count = int(mask.sum())
        value = float((outcome[mask] == "correct").mean()) if count else None
        records.append({**base, "quantity": "accuracy_by_target_position", "position": p, "value": value, "expected": None,
                        "n_rows": count, "status": "ok" if count else "no_rows", "note": note if count else "no rows"})
    chosen = presented[presented >= 0]
    for p in range(int(n.max())):
        count = int((chosen == p).sum())
        records.append({**base, "quantity": "answer_share_by_position", "position": p,
                        "value": float(count / chosen.size) if chosen.size else None, "expected": float(1.0 / n.max()),
                        "n_rows": count, "status": "ok" if chosen.size else "no_rows",
                        "note": note if chosen.size else "no answer names a presented position ('presented' missing in details)"})
    return records
