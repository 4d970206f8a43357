"""Group metric rows and contrasts between groups (gaps, equivalence, power) from one set of replicates."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from scipy.special import ndtri  # the normal quantile (scipy.stats.norm.ppf) without importing scipy.stats (0.5 s)

from biasbench.scoring.bootstrap import bootstrap_p_value, percentile_interval, satterthwaite_df, small_sample_interval
from biasbench.scoring.estimates import GroupEstimates
from biasbench.scoring.metrics import HIGHER_IS_BETTER
from biasbench.scoring.slices import SliceEstimates

MAX_PAIR_GROUPS = 8
"""All-pairs gaps are listed for groupings with at most this many groups (not per voice)."""

VOICE_AXIS_GROUPINGS = ("gender", "race", "accent", "age_band", "cell")
"""Groupings made of voices whose groups are compared (equivalence, power, flips, tests)."""

MAX_UNDEFINED = 0.05
"""A CI is reported only when the statistic is defined in at least 95% of the replicates."""

MDE_FACTOR = float(ndtri(0.975) + ndtri(0.80))
"""(z_0.975 + z_0.80): a two-sided test at alpha 0.05 detects a gap of this many SEs with 80% power."""


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _key(se: SliceEstimates, grouping: str) -> dict[str, Any]:
    return {"model": se.model, "task": se.task, "modality": se.modality, "grouping": grouping}


def group_metric_records(se: SliceEstimates) -> list[dict[str, Any]]:
    """Rows of the group_metrics table for one slice."""
    records = []
    for grouping, est in se.groupings.items():
        value = est.value
        reps = est.replicates
        undefined = np.mean(~np.isfinite(reps), axis=0) if reps.shape[0] else np.ones_like(value)
        voice_reps = est.voice_replicates
        if reps.shape[0] == 0:
            low, high = (np.full_like(value, np.nan),) * 2
        elif voice_reps is not None and est.voice_df is not None:
            low, high = small_sample_interval(value, np.where(np.isfinite(reps), reps, np.nan),
                                              np.where(np.isfinite(voice_reps), voice_reps, np.nan), est.voice_df, est.n_items)
        else:
            low, high = percentile_interval(np.where(np.isfinite(reps), reps, np.nan))
        low = np.where(undefined > MAX_UNDEFINED, np.nan, low)
        answered_all_bad = _all_invalid(est)
        for m, metric in enumerate(est.metrics):
            for g, group in enumerate(est.groups):
                status, note = _status(est, m, g, low[m, g], answered_all_bad[g], metric)
                has_ci = status in ("ok", "one_voice", "all_invalid")
                records.append({
                    **_key(se, grouping), "group": group, "metric": metric,
                    "value": _num(value[m, g]),
                    "ci_low": _num(low[m, g]) if has_ci else None,
                    "ci_high": _num(high[m, g]) if has_ci else None,
                    "n_rows": int(round(est.den[m, g])),
                    "n_items": int(est.n_items[m, g]), "n_voices": int(est.n_voices[m, g]),
                    "status": status, "note": note,
                })
    return records


def _all_invalid(est: GroupEstimates) -> np.ndarray:
    """Per group: rows were answered but none parsed (every answer invalid or a refusal)."""
    names = list(est.metrics)
    if "invalid_rate" not in names:
        return np.zeros(len(est.groups), dtype=bool)
    i, r = names.index("invalid_rate"), names.index("refusal_rate")
    den = est.den[i]
    return (den > 0) & (est.num[i] + est.num[r] >= den)


def _status(est: GroupEstimates, m: int, g: int, low: float, all_bad: bool, metric: str) -> tuple[str, str]:
    den = est.den[m, g]
    if den <= 0:
        if metric != "error_rate" and "error_rate" in est.metrics:
            errors = est.num[list(est.metrics).index("error_rate"), g]
            if errors > 0:
                return "no_rows", f"all {int(errors)} rows of this group are errors (no answer); nothing to score"
        return "no_rows", "no rows for this group"
    if all_bad and metric in ("accuracy", "wer", "mean_score"):
        return "all_invalid", "every answer was invalid or a refusal: the value reflects no parsable answer (see invalid_rate, refusal_rate)"
    if est.num_reps.shape[0] == 0:
        return "no_ci", "bootstrap disabled (n_boot = 0)"
    if est.n_items[m, g] < 2:
        return "no_ci", f"{int(est.n_items[m, g])} item(s): a CI needs at least 2"
    if not np.isfinite(low):
        return "no_ci", "undefined in more than 5% of the bootstrap replicates (too few rows in the group)"
    if est.voices_resampled and est.grouping != "overall" and est.n_voices[m, g] == 1:
        return "one_voice", "a single voice: the CI covers items only and understates voice-to-voice uncertainty"
    return "ok", ""


def _worse(metric: str) -> bool:
    """True when a lower value is worse (accuracy-like)."""
    return HIGHER_IS_BETTER.get(metric, True)


def gap_records(se: SliceEstimates) -> list[dict[str, Any]]:
    """Rows of the gaps table for one slice: max − min, ratio, worst group, each vs rest, all pairs."""
    records = []
    for grouping, est in se.groupings.items():
        if grouping == "overall":
            continue
        value, reps = est.value, est.replicates
        rest_value, rest_reps = est.rest()
        vreps, vrest = est.voice_replicates, est.voice_rest()
        vdf = est.voice_df
        for m, metric in enumerate(est.metrics):
            present = [g for g in range(len(est.groups)) if est.den[m, g] > 0]
            n_items = int(est.n_items[m].max()) if est.n_items.size else 0

            def small(*terms: tuple[int, float], rest: bool = False) -> tuple[np.ndarray | None, float]:
                """Voice-only replicates and voice df of a signed sum of groups (or group − rest)."""
                if vreps is None or vdf is None:
                    return None, 0.0
                if rest:
                    g = terms[0][0]
                    others = float(np.sum(vdf) - vdf[g])
                    df = satterthwaite_df([(vreps[:, m, g], vdf[g]), (vrest[:, m, g], others)])
                    return vreps[:, m, g] - vrest[:, m, g], float(df)
                df = satterthwaite_df([(vreps[:, m, g], vdf[g]) for g, _ in terms])
                return sum(sign * vreps[:, m, g] for g, sign in terms), float(df)

            key = {**_key(se, grouping), "metric": metric}
            if len(present) < 2:
                records.append({**key, "kind": "max_minus_min", "group": "", "reference": "", "value": None, "ci_low": None,
                                "ci_high": None, "p_boot": None, "status": "not_applicable",
                                "note": f"{len(present)} group(s) with rows: nothing to compare"})
                continue
            v = value[m, present]
            low_first = _worse(metric)
            worst = present[int(np.argmin(v) if low_first else np.argmax(v))]
            best = present[int(np.argmax(v) if low_first else np.argmin(v))]
            tied = [est.groups[g] for g, x in zip(present, v) if np.isclose(x, value[m, worst], rtol=0, atol=1e-12)]
            if best == worst:  # every group equal: compare two distinct groups, never a group with itself
                best = next(g for g in present if g != worst)
            hi, lo = (best, worst) if low_first else (worst, best)
            record = _contrast(key, "max_minus_min", est.groups[worst], est.groups[best],
                               value[m, hi] - value[m, lo], reps[:, m, hi] - reps[:, m, lo], est,
                               small=(*small((hi, 1.0), (lo, -1.0)), n_items))
            if len(tied) > 1:
                record["note"] = "; ".join(x for x in (record["note"], f"tie: {', '.join(tied)} share the worst value") if x)
            records.append(record)
            with np.errstate(all="ignore"):
                ratio_reps = reps[:, m, lo] / reps[:, m, hi]
                ratio = value[m, lo] / value[m, hi]
            records.append(_contrast(key, "min_over_max", est.groups[worst], est.groups[best], ratio, ratio_reps, est, null=1.0))
            records.append(_contrast(key, "worst_group", est.groups[worst], "", value[m, worst], reps[:, m, worst], est, null=None,
                                     small=(*small((worst, 1.0)), n_items)))
            for g in present:
                records.append(_contrast(key, "vs_rest", est.groups[g], "__rest__", value[m, g] - rest_value[m, g],
                                         reps[:, m, g] - rest_reps[:, m, g], est, small=(*small((g, 1.0), rest=True), n_items)))
            if grouping != "voice" and len(est.groups) <= MAX_PAIR_GROUPS:
                for a, b in combinations(present, 2):
                    records.append(_contrast(key, "pair", est.groups[a], est.groups[b], value[m, a] - value[m, b],
                                             reps[:, m, a] - reps[:, m, b], est, small=(*small((a, 1.0), (b, -1.0)), n_items)))
    return records


def _contrast(key: dict, kind: str, group: str, reference: str, value: float, reps: np.ndarray, est: GroupEstimates,
              null: float | None = 0.0, small: tuple[np.ndarray | None, float, int] | None = None) -> dict[str, Any]:
    """One gaps row; ``small`` = (voice-only replicates, voice df, items) widens the CI for few voices."""
    record = {**key, "kind": kind, "group": group, "reference": reference, "value": _num(value)}
    reps = np.where(np.isfinite(reps), reps, np.nan)
    undefined = float(np.mean(np.isnan(reps))) if reps.shape[0] else 1.0
    if reps.shape[0] == 0 or undefined > MAX_UNDEFINED or record["value"] is None:
        if reps.shape[0] == 0:
            note = "no bootstrap replicates"
        elif record["value"] is None:
            note = "undefined (a denominator is 0)"
        else:
            note = f"undefined in {undefined:.0%} of the bootstrap replicates (a denominator is 0)"
        return {**record, "ci_low": None, "ci_high": None, "p_boot": None, "status": "no_ci", "note": note}
    if small is not None and small[0] is not None:
        voice_reps = np.where(np.isfinite(small[0]), small[0], np.nan)
        low, high = small_sample_interval(np.asarray(record["value"]), reps, voice_reps, small[1], small[2])
    else:
        low, high = percentile_interval(reps)
    p = None if null is None else _num(float(bootstrap_p_value(reps, null)))
    status, note = "ok", ""
    if est.voices_resampled and est.grouping not in ("item_group", "permutation") and (est.n_voices == 1).any():
        status, note = "one_voice", "a compared group has a single voice: the CI understates voice-to-voice uncertainty"
    return {**record, "ci_low": _num(low), "ci_high": _num(high), "p_boot": p, "status": status, "note": note}


def equivalence_records(se: SliceEstimates, delta: float) -> list[dict[str, Any]]:
    """TOST rows: each group vs the rest on the headline metric, margin ±delta, 90% percentile CI."""
    records = []
    for grouping in VOICE_AXIS_GROUPINGS:
        est = se.groupings.get(grouping)
        if est is None:
            continue
        m = est.metrics.index(se.headline)
        value, reps = est.value, est.replicates
        rest_value, rest_reps = est.rest()
        for g, group in enumerate(est.groups):
            key = {**_key(se, grouping), "metric": se.headline, "group": group, "reference": "__rest__", "delta": delta}
            diff = value[m, g] - rest_value[m, g]
            d = reps[:, m, g] - rest_reps[:, m, g] if reps.shape[0] else np.zeros(0)
            if est.den[m, g] <= 0 or d.shape[0] == 0 or np.isnan(d).all() or not np.isfinite(diff):
                records.append({**key, "difference": _num(diff), "ci90_low": None, "ci90_high": None, "p_value": None,
                                "equivalent": False, "status": "no_rows" if est.den[m, g] <= 0 else "no_ci",
                                "note": "no rows for this group" if est.den[m, g] <= 0 else "no bootstrap replicates"})
                continue
            low, high = percentile_interval(d, 0.90)
            valid = d[~np.isnan(d)]
            p = max(float(np.mean(valid <= -delta)), float(np.mean(valid >= delta)))
            status, note = "ok", "one test per group, not family-wise: the family-wise 'equivalent' verdict is in scores/headline"
            if est.n_voices[m, g] == 1:
                status, note = "one_voice", "a single voice: the certificate would understate voice-to-voice uncertainty"
            records.append({**key, "difference": _num(diff), "ci90_low": _num(low), "ci90_high": _num(high), "p_value": p,
                            "equivalent": bool(-delta < low and high < delta and status == "ok"), "status": status, "note": note})
    return records


def power_records(se: SliceEstimates) -> list[dict[str, Any]]:
    """Minimum detectable difference between each pair of groups at 80% power (bootstrap SE of the difference)."""
    records = []
    for grouping in VOICE_AXIS_GROUPINGS:
        est = se.groupings.get(grouping)
        if est is None or len(est.groups) > MAX_PAIR_GROUPS:
            continue
        m = est.metrics.index(se.headline)
        reps = est.replicates
        for a, b in combinations(range(len(est.groups)), 2):
            key = {**_key(se, grouping), "metric": se.headline, "group": est.groups[a], "reference": est.groups[b],
                   "n_items": int(max(est.n_items[m, a], est.n_items[m, b])),
                   "voices_group": int(est.n_voices[m, a]), "voices_reference": int(est.n_voices[m, b])}
            d = reps[:, m, a] - reps[:, m, b] if reps.shape[0] else np.zeros(0)
            valid = d[~np.isnan(d)]
            if min(est.den[m, a], est.den[m, b]) <= 0 or valid.size < 2:
                records.append({**key, "se": None, "mde": None, "status": "no_ci" if valid.size < 2 else "no_rows",
                                "note": "a group has no rows" if min(est.den[m, a], est.den[m, b]) <= 0 else "no bootstrap replicates"})
                continue
            se_diff = float(np.std(valid, ddof=1))
            status, note = "ok", ""
            if min(est.n_voices[m, a], est.n_voices[m, b]) == 1:
                status, note = "one_voice", "a group has a single voice: the MDE ignores voice-to-voice variation and is too optimistic"
            records.append({**key, "se": se_diff, "mde": MDE_FACTOR * se_diff, "status": status, "note": note})
    return records
