"""Planted vs recovered: for calibration instruments, the scorer's group values beside the truth.

A calibration adapter (e.g. `simulated`) records its planted per-group accuracies in the manifest
(``models[].describe.config``). The population value of a group is the planted accuracy averaged over
the adapter's voice and item offsets (quadrature, :func:`biasbench.scoring.simulation.true_accuracy`),
times (1 − invalid rate). The table shows it beside the recovered accuracy and its 95% CI.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from biasbench.scoring.simulation import true_accuracy


def calibration_records(group_metrics: pd.DataFrame, planted: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the calibration table: one per calibration model × task × planted group (audio accuracy)."""
    records = []
    for model, config in sorted(planted.items()):
        axis, values = str(config.get("axis") or ""), config.get("planted") or {}
        if not axis or not values:
            continue
        voice_sd, item_sd = float(config.get("voice_sd") or 0.0), float(config.get("item_sd") or 0.0)
        invalid = float(config.get("invalid_rate") or 0.0)
        rows = group_metrics[(group_metrics["model"] == model) & (group_metrics["modality"] == "audio")
                             & (group_metrics["grouping"] == axis) & (group_metrics["metric"] == "accuracy")]
        for _, row in rows.sort_values(["task", "group"]).iterrows():
            if row["group"] not in values:
                continue
            truth = true_accuracy(float(values[row["group"]]), voice_sd, item_sd, invalid)
            low, high = row["ci_low"], row["ci_high"]
            covered = bool(pd.notna(low) and low <= truth <= high)
            records.append({"model": model, "task": row["task"], "modality": "audio", "axis": axis, "group": row["group"],
                            "planted": float(values[row["group"]]), "planted_population": truth, "recovered": row["value"],
                            "ci_low": low, "ci_high": high, "covered": covered,
                            "note": "" if covered else "the planted value lies outside the 95% CI"})
    return records
