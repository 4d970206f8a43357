"""A calibration instrument: a fake multiple-choice model with planted, known per-group accuracy.

It declares ``Capabilities(oracle=True)``, so the runner hands it the
:class:`~biasbench.core.messages.RequestContext` (who speaks which item, where the correct option
is) that ordinary adapters never receive; that capability also labels it a calibration instrument. A run with it checks the whole pipeline end to end:
the scorer must recover the planted accuracies and gaps within their confidence intervals.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, ClassVar, Sequence

import numpy as np
from pydantic import Field, field_validator, model_validator

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.hashing import seed_from
from biasbench.core.messages import Request, RequestContext
from biasbench.core.response import Response

ANSWER_PHRASINGS = ("The answer is {letter}.", "Answer: {letter}", "{letter}", "I believe the correct option is {letter}.")
"""How a letter answer is worded (all parse to the letter)."""

INVALID_PHRASINGS = ("I'm not sure.", "I cannot tell which option is right.", "None of these seem correct to me.")
"""Answers that name no option (scored 'invalid')."""


def parse_cell(spec: str) -> tuple[tuple[str, str], ...]:
    """'gender=female,race=Black' -> (('gender', 'female'), ('race', 'Black')), sorted by axis."""
    pairs = []
    for chunk in spec.split(","):
        axis, sep, value = chunk.partition("=")
        if not sep or not axis.strip() or not value.strip():
            raise ValueError(f"cell '{spec}' must look like 'gender=female,race=Black'")
        pairs.append((axis.strip(), value.strip()))
    axes = [axis for axis, _ in pairs]
    if len(set(axes)) != len(axes):
        raise ValueError(f"cell '{spec}' names an axis twice")
    return tuple(sorted(pairs))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class SimulatedAdapter(Adapter):
    """Answers multiple-choice items correctly with a planted probability per voice group."""

    name = "simulated"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=True, batch=True, answer_types=frozenset({"multiple_choice"}), calibration=True,
        oracle=True,
    )

    class Config(Adapter.Config):
        """Planted behaviour. A voice's accuracy is the first that applies: its cell in
        ``planted_cells``, its value on ``axis`` in ``planted``, then ``default_accuracy``."""

        axis: str | None = None
        """Axis that ``planted`` is keyed by (e.g. 'gender', 'accent')."""
        planted: dict[str, float] = Field(default_factory=dict)
        """Accuracy per value on ``axis``, e.g. {female: 0.8, male: 0.65}."""
        planted_cells: dict[str, float] = Field(default_factory=dict)
        """Accuracy per intersectional cell, keyed 'gender=female,race=Black' (all keys over the same axes)."""
        default_accuracy: float = Field(0.7, ge=0.0, le=1.0)
        """Accuracy of voices no planted entry covers."""
        text_accuracy: float | None = Field(None, ge=0.0, le=1.0)
        """Accuracy on text-control rows (default: ``default_accuracy``)."""
        voice_sd: float = Field(0.0, ge=0.0)
        """SD of each voice's random offset on the logit scale (drawn from seed + voice id)."""
        item_sd: float = Field(0.0, ge=0.0)
        """SD of each item's random offset on the logit scale (drawn from seed + item id)."""
        invalid_rate: float = Field(0.0, ge=0.0, lt=1.0)
        """Probability that an answer names no option (parses as invalid)."""
        seed: int = 0
        """Seed of every draw."""
        latency_s: float = Field(0.0, ge=0.0)
        """Seconds slept per request (tests and benchmarks)."""

        @field_validator("planted", "planted_cells")
        @classmethod
        def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
            bad = [f"{key}={p}" for key, p in value.items() if not 0.0 <= p <= 1.0]
            if bad:
                raise ValueError(f"accuracies must be in [0, 1]: {', '.join(bad)}")
            return value

        @field_validator("planted_cells")
        @classmethod
        def _cells(cls, value: dict[str, float]) -> dict[str, float]:
            axis_sets = {tuple(axis for axis, _ in parse_cell(key)) for key in value}
            if len(axis_sets) > 1:
                raise ValueError(f"every planted_cells key must name the same axes, got {sorted(axis_sets)}")
            return value

        @model_validator(mode="after")
        def _axis_needed(self) -> "SimulatedAdapter.Config":
            if self.planted and not self.axis:
                raise ValueError("'planted' needs 'axis' (the axis its keys are values of)")
            return self

    def __init__(self, config: "SimulatedAdapter.Config") -> None:
        super().__init__(config)
        self._cells = {parse_cell(key): p for key, p in config.planted_cells.items()}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "calibration": True}

    def planted_accuracy(self, context: RequestContext) -> float:
        """The planted accuracy of a typical voice of the row's group (before random offsets)."""
        if context.voice_id is None or context.modality == "text":
            text = self.config.text_accuracy
            return self.config.default_accuracy if text is None else text
        labels = dict(context.labels)
        for cell, p in self._cells.items():
            if all(labels.get(axis) == value for axis, value in cell):
                return p
        if self.config.axis and labels.get(self.config.axis) in self.config.planted:
            return self.config.planted[labels[self.config.axis]]
        return self.config.default_accuracy

    def _offset(self, kind: str, key: str | None, sd: float) -> float:
        if sd == 0.0 or key is None:
            return 0.0
        return float(np.random.default_rng(seed_from(self.config.seed, kind, key)).normal(0.0, sd))

    def accuracy(self, context: RequestContext) -> float:
        """Probability of a correct answer for this row: planted value shifted by voice and item offsets."""
        p = self.planted_accuracy(context)
        if p in (0.0, 1.0):
            return p
        voice = context.voice_id if context.modality != "text" else None
        shift = self._offset("voice", voice, self.config.voice_sd) + self._offset("item", f"{context.task}/{context.item_id}", self.config.item_sd)
        return _sigmoid(_logit(p) + shift)

    def answer(self, request: Request) -> Response:
        """One seeded answer (see the module docstring)."""
        context = request.context
        if context is None or context.target_index is None or context.n_choices < 2:
            return Response.failed("the simulated adapter answers multiple-choice rows only (no target in the request context)")
        rng = np.random.default_rng(
            seed_from(self.config.seed, context.task, context.item_id, context.voice_id, context.modality, context.target_index, request.repeat)
        )
        invalid_draw, correct_draw, wrong_draw, phrasing_draw = rng.random(4)
        if invalid_draw < self.config.invalid_rate:
            return Response(text=INVALID_PHRASINGS[int(phrasing_draw * len(INVALID_PHRASINGS))], extra={"simulated": "invalid"})
        if correct_draw < self.accuracy(context):
            index, kind = context.target_index, "correct"
        else:
            wrong = [i for i in range(context.n_choices) if i != context.target_index]
            index, kind = wrong[int(wrong_draw * len(wrong))], "incorrect"
        letter = chr(ord("A") + index)
        text = ANSWER_PHRASINGS[int(phrasing_draw * len(ANSWER_PHRASINGS))].format(letter=letter)
        return Response(text=text, extra={"simulated": kind})

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        responses = []
        for request in requests:
            start = time.perf_counter()
            if self.config.latency_s:
                time.sleep(self.config.latency_s)
            response = self.answer(request)
            responses.append(replace(response, latency_s=time.perf_counter() - start))
        return responses

