"""A biasbench plug-in adapter: always answers the same option letter.

A positional baseline: its accuracy equals the share of items whose correct option is presented at
that letter, identical for every voice. Any gap it shows is a bug in the pipeline, not bias.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

from pydantic import Field

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.messages import Request
from biasbench.core.response import Response


class ConstantLetterAdapter(Adapter):
    """Answers 'The answer is <letter>.' to every multiple-choice request."""

    name = "constant-letter"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=True, batch=True, answer_types=frozenset({"multiple_choice"})
    )

    class Config(Adapter.Config):
        letter: str = Field("A", pattern=r"^[A-Z]$")
        """The option letter to answer."""

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        return [Response(text=f"The answer is {self.config.letter}.") for _ in requests]
