"""Per-row metric contributions: every built-in metric is a ratio sum(x) / sum(d) over rows.

Accuracy counts invalid and refusal answers as not correct (they stay in the denominator) and
leaves 'error' rows (no answer at all) out; invalid, refusal and error rates are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ANSWERED = ("correct", "incorrect", "invalid", "refusal")
"""Outcomes of rows where the model gave an answer to a graded item."""

HIGHER_IS_BETTER = {"accuracy": True, "invalid_rate": False, "refusal_rate": False, "error_rate": False, "wer": False, "mean_score": True}
"""Direction of each built-in metric (decides the 'worst group')."""


@dataclass(frozen=True)
class RowMetric:
    """One metric as per-row numerator and denominator contributions."""

    name: str
    """Metric name (see scoring.schema.METRICS)."""
    x: np.ndarray
    """Numerator contribution of each row (float64)."""
    d: np.ndarray
    """Denominator contribution of each row (float64, 0 or 1)."""

    def __post_init__(self) -> None:
        if self.x.shape != self.d.shape:
            raise ValueError(f"metric '{self.name}': numerator and denominator differ in length")


def headline_metric(outcomes: pd.Series, answer_type: str) -> str:
    """'accuracy' for graded items, 'wer' for transcription, 'mean_score' for other scored tasks."""
    if answer_type == "transcription":
        return "wer"
    if outcomes.isin(("correct", "incorrect")).any() or not outcomes.eq("scored").any():
        return "accuracy"
    return "mean_score"


def row_metrics(frame: pd.DataFrame, answer_type: str) -> list[RowMetric]:
    """The metrics that apply to the rows of one task, headline first."""
    outcome = frame["outcome"].to_numpy()
    headline = headline_metric(frame["outcome"], answer_type)
    answered = np.isin(outcome, ANSWERED).astype(np.float64)
    metrics: list[RowMetric] = []
    if headline == "accuracy":
        metrics.append(RowMetric("accuracy", (outcome == "correct").astype(np.float64), answered))
    else:
        score = frame["score"].to_numpy(dtype=np.float64)
        scored = (outcome == "scored") & ~np.isnan(score)
        metrics.append(RowMetric(headline, np.where(scored, score, 0.0), scored.astype(np.float64)))
        answered = np.isin(outcome, ("scored", "invalid", "refusal")).astype(np.float64)
    metrics.append(RowMetric("invalid_rate", (outcome == "invalid").astype(np.float64), answered))
    metrics.append(RowMetric("refusal_rate", (outcome == "refusal").astype(np.float64), answered))
    metrics.append(RowMetric("error_rate", (outcome == "error").astype(np.float64), np.ones(len(outcome))))
    return metrics
