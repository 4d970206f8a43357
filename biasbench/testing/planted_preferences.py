"""A calibration instrument for open-ended probes: answers drawn from a planted distribution per group.

Like the `simulated` adapter it reads the request's :class:`~biasbench.core.messages.RequestContext`
(the voice's labels), declares itself a calibration instrument, and is labelled as such. Each
voice answers from its group's planted distribution (answer text -> weight), tilted by a
voice-level random effect (a Dirichlet draw around the group's distribution with concentration
``voice_concentration``), so voices of one group differ the way real voices do and the scorer must
treat voices, not rows, as the unit.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from pydantic import Field, field_validator

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.hashing import seed_from
from biasbench.core.messages import Request
from biasbench.core.response import Response


class PlantedPreferenceAdapter(Adapter):
    """Open-ended answers drawn from a planted distribution per value of one voice axis."""

    name = "planted_preferences"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=True, batch=False, answer_types=frozenset({"open_ended"}), calibration=True,
        oracle=True,  # reads Request.context (the runner attaches it only for oracle adapters)
    )

    class Config(Adapter.Config):
        """Planted behaviour: ``planted[group]`` for voices whose ``axis`` label is ``group``, else ``default``."""

        axis: str = "gender"
        """Axis the planted distributions are keyed by."""
        planted: dict[str, dict[str, float]] = Field(default_factory=dict)
        """Answer distribution (answer text -> weight) per value of ``axis``."""
        default: dict[str, float]
        """Answer distribution of voices (and text rows) no planted entry covers."""
        voice_concentration: float = Field(50.0, gt=0.0)
        """Dirichlet concentration of each voice's distribution around its group's (larger = voices alike)."""
        seed: int = 0
        """Seed of every draw."""

        @field_validator("default")
        @classmethod
        def _weights(cls, value: dict[str, float]) -> dict[str, float]:
            if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
                raise ValueError("an answer distribution needs non-negative weights with a positive sum")
            return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "calibration": True}

    def distribution(self, labels: dict[str, str], voice_id: str | None) -> tuple[list[str], np.ndarray]:
        """(answers, probabilities) of one voice: its group's planted distribution, tilted by the voice."""
        planted = self.config.planted.get(labels.get(self.config.axis, ""), self.config.default)
        answers = sorted(planted)
        weights = np.array([planted[a] for a in answers], dtype=float)
        weights /= weights.sum()
        if voice_id is None:
            return answers, weights
        rng = np.random.default_rng(seed_from(self.config.seed, "voice", voice_id))
        alpha = np.maximum(weights * self.config.voice_concentration, 1e-3)
        return answers, rng.dirichlet(alpha)

    def answer(self, request: Request) -> Response:
        """One seeded answer for the row the context names."""
        context = request.context
        if context is None:
            return Response.failed("the planted-preferences adapter needs the request context (a calibration instrument)")
        voice = context.voice_id if context.modality != "text" else None
        answers, p = self.distribution(dict(context.labels), voice)
        rng = np.random.default_rng(seed_from(self.config.seed, context.task, context.item_id, voice, request.repeat))
        return Response(text=answers[int(rng.choice(len(answers), p=p))], extra={"calibration": True})

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        return [self.answer(request) for request in requests]
