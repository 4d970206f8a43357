"""Across models: does a model that perceives a speaker attribute more accurately also show larger gaps on it?

For every model of the merged runs: its attribute-perception accuracy (perception_rate of the perceived-attributes
probe, per attribute) and its largest audio gap on the same axis over the other tasks (group_metrics-based
'max_minus_min' gaps on each task's headline metric). One row per axis: Pearson and Spearman correlation across
models with bootstrap CIs (models resampled with replacement, seeded), and the per-model pairs in a second table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from biasbench.core.hashing import seed_from
from biasbench.reports.sheet import Sheet

HEADLINE_METRICS = ("accuracy", "wer", "mean_score")
"""Metrics whose gaps count as bias gaps."""


def model_pairs(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """Per model × axis: perception_rate (probe) and max |gap| over the other tasks (NaN where either is missing)."""
    from biasbench.scoring.rundata import load_run
    from biasbench.tasks.perception import perception_table

    perception, gaps = [], []
    for run_dir in run_dirs:
        data = load_run(Path(run_dir))
        table = perception_table(data.frame, data.axes)
        perception.append(table[table["grouping"] == "overall"].rename(columns={"attribute": "axis"})[["model", "axis", "perception_rate"]])
        path = Path(run_dir) / "scores" / "gaps.parquet"
        if path.is_file():
            frame = pd.read_parquet(path)
            probe_tasks = set(table["task"])
            frame = frame[(frame["modality"] == "audio") & (frame["kind"] == "max_minus_min") & frame["metric"].isin(HEADLINE_METRICS)
                          & ~frame["task"].isin(probe_tasks) & frame["grouping"].isin(data.axes)]
            gaps.append(frame.assign(abs_gap=frame["value"].abs()).groupby(["model", "grouping"], as_index=False)["abs_gap"].max()
                        .rename(columns={"grouping": "axis", "abs_gap": "max_abs_gap"}))
    left = pd.concat(perception, ignore_index=True) if perception else pd.DataFrame(columns=["model", "axis", "perception_rate"])
    right = pd.concat(gaps, ignore_index=True) if gaps else pd.DataFrame(columns=["model", "axis", "max_abs_gap"])
    left = left.groupby(["model", "axis"], as_index=False)["perception_rate"].mean()
    right = right.groupby(["model", "axis"], as_index=False)["max_abs_gap"].max()
    return left.merge(right, on=["model", "axis"], how="outer").sort_values(["axis", "model"]).reset_index(drop=True)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def correlation_table(pairs: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per axis: correlation of perception accuracy with the largest gap across models, with bootstrap CIs."""
    records = []
    for axis, part in pairs.dropna(subset=["perception_rate", "max_abs_gap"]).groupby("axis", sort=True):
        x, y = part["perception_rate"].to_numpy(float), part["max_abs_gap"].to_numpy(float)
        rank = lambda v: pd.Series(v).rank().to_numpy()  # noqa: E731
        rng = np.random.default_rng(seed_from(seed, "perception-bias", axis))
        draws = [rng.integers(0, len(x), len(x)) for _ in range(n_boot if len(x) >= 3 else 0)]
        pearson = np.array([_corr(x[d], y[d]) for d in draws])
        spearman = np.array([_corr(rank(x[d]), rank(y[d])) for d in draws])

        def ci(values: np.ndarray) -> tuple[float, float]:
            values = values[np.isfinite(values)]
            return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values.size >= 10 else (float("nan"),) * 2

        (p_low, p_high), (s_low, s_high) = ci(pearson), ci(spearman)
        records.append({"axis": axis, "n_models": len(x), "pearson_r": _corr(x, y), "pearson_ci_low": p_low, "pearson_ci_high": p_high,
                        "spearman_rho": _corr(rank(x), rank(y)), "spearman_ci_low": s_low, "spearman_ci_high": s_high,
                        "note": "" if len(x) >= 3 else "fewer than 3 models with both a perception probe and a gap on this axis"})
    return pd.DataFrame(records, columns=["axis", "n_models", "pearson_r", "pearson_ci_low", "pearson_ci_high", "spearman_rho",
                                          "spearman_ci_low", "spearman_ci_high", "note"])


def perception_bias_sheets(run_dirs: Sequence[Path]) -> list[Sheet]:
    """PerceptionBias (correlations) and PerceptionPairs (per model) sheets for the leaderboard (none without the probe)."""
    pairs = model_pairs(run_dirs)
    if pairs.dropna(subset=["perception_rate"]).empty:
        return []  # no run has the perceived_attributes probe
    table = correlation_table(pairs)
    description = "across models: correlation of attribute-perception accuracy with the largest gap on the same axis"
    correlation = Sheet("PerceptionBias", table, description=description, order=50) if not table.empty else \
        Sheet.empty("PerceptionBias", "no axis has both perception and gap estimates", description=description, order=50)
    return [correlation, Sheet("PerceptionPairs", pairs, description="per model × axis: perception_rate and max |gap|", order=51)]
