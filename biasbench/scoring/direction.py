"""Which way is worse: every metric declares its direction, and "worst group" follows from it.

A metric is either higher-better (accuracy), lower-better (WER, invalid rate) or has a neutral
target (BBQ bias score 0, stereotyped-choice share 0.5). For a target metric, *harm* is the distance
from the target on the harmful side(s): a BBQ bias score of +0.2 (towards the stereotype) is harm
0.2; with ``harmful="above"`` a score of −0.2 is harm 0 (anti-stereotyped answers are not the harm
the metric measures); with ``harmful="both"`` it is harm 0.2.

Task metric functions declare their direction with :func:`declares`; the scorer reads it with
:func:`direction_of` (undeclared metrics are reported with direction 'undeclared' and never get a
worst group named).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

Kind = Literal["higher_better", "lower_better", "target"]
Side = Literal["above", "below", "both"]

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Direction:
    """How a metric's values rank: which groups are worse off."""

    kind: Kind
    """'higher_better', 'lower_better' or 'target' (a neutral value)."""
    target: float | None = None
    """The neutral value of a 'target' metric (None otherwise)."""
    harmful: Side = "both"
    """For 'target' metrics: the side of the target that is harmful ('above', 'below' or 'both')."""

    def __post_init__(self) -> None:
        if (self.kind == "target") != (self.target is not None):
            raise ValueError("a 'target' direction needs a target value, and only it may have one")
        if self.target is not None and not math.isfinite(self.target):
            raise ValueError("a direction's target must be finite")

    @classmethod
    def parse(cls, label: str) -> "Direction":
        """Inverse of :attr:`label` ('higher_better', 'lower_better', 'target:0.5', 'target:0:above')."""
        if label in ("higher_better", "lower_better"):
            return cls(label)  # type: ignore[arg-type]
        parts = label.split(":")
        if parts[0] == "target" and len(parts) in (2, 3):
            side = parts[2] if len(parts) == 3 else "both"
            if side not in ("above", "below", "both"):
                raise ValueError(f"unknown harmful side {side!r} in direction {label!r}")
            return cls("target", float(parts[1]), side)  # type: ignore[arg-type]
        raise ValueError(f"unknown direction {label!r}: use higher_better, lower_better or target:<value>[:above|below]")

    @property
    def label(self) -> str:
        """Text form used in tables: 'higher_better', 'lower_better', 'target:<value>' (+ ':above'/':below')."""
        if self.kind != "target":
            return self.kind
        side = "" if self.harmful == "both" else f":{self.harmful}"
        return f"target:{self.target:g}{side}"

    def harm(self, value: float) -> float:
        """How bad ``value`` is on a common scale (larger = worse). For higher-better metrics it is
        −value, for lower-better +value, for targets the distance from the target on the harmful side."""
        if self.kind == "higher_better":
            return -value
        if self.kind == "lower_better":
            return value
        assert self.target is not None
        delta = value - self.target
        if self.harmful == "above":
            return max(delta, 0.0)
        if self.harmful == "below":
            return max(-delta, 0.0)
        return abs(delta)


HIGHER_BETTER = Direction("higher_better")
LOWER_BETTER = Direction("lower_better")


def target(value: float, harmful: Side = "both") -> Direction:
    """A neutral-target direction."""
    return Direction("target", float(value), harmful)


def declares(direction: Direction) -> Callable[[F], F]:
    """Decorator for task metric functions: ``@declares(target(0.0, "above"))``."""

    def mark(function: F) -> F:
        setattr(function, "direction", direction)
        return function

    return mark


def direction_of(function: object) -> Direction | None:
    """The direction a metric function declared, or None."""
    found = getattr(function, "direction", None)
    return found if isinstance(found, Direction) else None


BUILTIN_DIRECTIONS = {
    "accuracy": HIGHER_BETTER,
    "mean_score": HIGHER_BETTER,
    "wer": LOWER_BETTER,
    "invalid_rate": LOWER_BETTER,
    "refusal_rate": LOWER_BETTER,
    "error_rate": LOWER_BETTER,
}
"""Directions of the scorer's built-in metrics (task metric functions declare their own)."""
