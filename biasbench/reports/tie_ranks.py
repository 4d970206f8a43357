"""Ranks that do not pretend: models whose confidence intervals overlap share a rank.

A model's rank is 1 + the number of models that are *clearly* better: whose whole interval lies on
the better side of this model's whole interval (the rule LMSYS Chatbot Arena and HELM-style boards use
for statistical ties). Two models with overlapping intervals therefore never outrank each other.
Without an interval the point estimate stands for it (a degenerate interval), so ranks fall back to
plain competition ranks ("1, 1, 3") where no uncertainty is known.
"""

from __future__ import annotations

import math
from typing import Sequence


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def tied_ranks(
    estimates: Sequence[object],
    lows: Sequence[object],
    highs: Sequence[object],
    *,
    higher_better: bool,
) -> list[int | None]:
    """Rank per entry (1 = best; None without an estimate): 1 + how many entries are clearly better."""
    spans: list[tuple[float, float] | None] = []
    for estimate, low, high in zip(estimates, lows, highs):
        point = _number(estimate)
        if point is None:
            spans.append(None)
            continue
        low_n, high_n = _number(low), _number(high)
        spans.append((point, point) if low_n is None or high_n is None else (min(low_n, point), max(high_n, point)))
    ranks: list[int | None] = []
    for mine in spans:
        if mine is None:
            ranks.append(None)
            continue
        better = sum(
            1
            for other in spans
            if other is not None and (other[0] > mine[1] if higher_better else other[1] < mine[0])
        )
        ranks.append(1 + better)
    return ranks
