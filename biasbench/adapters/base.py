"""The adapter protocol every model family implements.

A batching adapter overrides :meth:`Adapter.generate`; an API adapter overrides
:meth:`Adapter.agenerate` and the executor runs many at once. Heavy dependencies are imported
inside :meth:`Adapter.load`, never at module import.
"""

from __future__ import annotations

import asyncio
from abc import ABC
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

from biasbench.adapters.api_loop import run_sync
from biasbench.core.hashing import stable_hash
from biasbench.core.messages import Request
from biasbench.core.params import Params, parse_params
from biasbench.core.response import Response

ANSWER_TYPES = ("multiple_choice", "open_ended", "transcription")
"""What a task asks for; an adapter declares which it can give."""


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can take and how it prefers to be called."""

    audio_in: bool = True
    """Accepts audio parts."""
    text_in: bool = True
    """Accepts text-only requests (the text control)."""
    batch: bool = False
    """``generate`` processes several requests at once efficiently."""
    async_: bool = False
    """``agenerate`` is native and many may run concurrently."""
    answer_types: frozenset[str] = field(default_factory=lambda: frozenset(ANSWER_TYPES))
    """Task answer types this adapter can answer."""
    calibration: bool = False
    """A calibration instrument (planted behaviour), labelled as such in every output."""
    oracle: bool = False
    """Receives the row's oracle context (who speaks, their labels, the correct option) in
    ``Request.context``. Ordinary adapters get ``context=None``: they see what a model would. An
    oracle adapter is always a calibration instrument (``calibration`` is forced to True)."""
    max_audio_seconds: float | None = None
    """Longest clip the model takes in (its audio window); None: the default limit of the tasks
    applies. Tasks run with the smallest window of the run's audio models (see runner.plan)."""

    def __post_init__(self) -> None:
        if self.oracle and not self.calibration:
            object.__setattr__(self, "calibration", True)
        if self.max_audio_seconds is not None and not self.max_audio_seconds > 0:
            raise ValueError("Capabilities.max_audio_seconds must be positive")


class Adapter(ABC):
    """Base class of every model adapter."""

    name: ClassVar[str] = ""
    """Registry name."""
    version: ClassVar[str] = "1"
    """Bumped whenever the adapter's rendering or decoding changes outputs."""
    capabilities: ClassVar[Capabilities] = Capabilities()
    """See :class:`Capabilities`."""

    class Config(Params):
        """Adapter parameters from the run config (subclasses extend)."""

    def __init__(self, config: "Adapter.Config") -> None:
        self.config = config

    @classmethod
    def from_params(cls, params: dict[str, Any] | None, where: str = "params") -> "Adapter":
        """Validate ``params`` and construct (without loading weights or clients)."""
        return cls(parse_params(cls.Config, params, where))

    @classmethod
    def check_params(cls, params: dict[str, Any] | None, where: str = "params") -> None:
        """Validate parameters (``biasbench validate``): the schema plus the adapter's own rules,
        by constructing it (constructors never load weights or clients)."""
        cls.from_params(params, where)

    def load(self) -> None:
        """Import dependencies and load weights or clients (called once before the first request)."""

    def describe(self) -> dict[str, Any]:
        """Output-affecting identity: adapter name and version plus the config (model id, revision,
        dtype, defaults). Subclasses add resolved facts such as a snapshot hash."""
        return {"adapter": self.name, "adapter_version": self.version, "config": self.config.model_dump(mode="json")}

    def fingerprint(self) -> str:
        """Hash of :meth:`describe` (part of every response key)."""
        return stable_hash(self.describe())[:16]

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer a batch of requests in order (default: run :meth:`agenerate` for each)."""

        async def gather() -> list[Response]:
            return list(await asyncio.gather(*(self.agenerate(request) for request in requests)))

        return run_sync(gather())  # works inside a running event loop too

    async def agenerate(self, request: Request) -> Response:
        """Answer one request (default: :meth:`generate` on a batch of one, in a worker thread)."""
        if type(self).generate is Adapter.generate:
            raise NotImplementedError(f"{type(self).__name__} implements neither generate nor agenerate")
        return (await asyncio.to_thread(self.generate, [request]))[0]

    def warm_up(self, requests: Sequence[Request]) -> None:
        """Called once with every request about to be asked, in order (default: nothing). An API
        adapter may warm its caches in the background, e.g. encode audio clips ahead of the requests."""

    def estimate_cost_usd(self, prompts: Sequence[tuple[str | None, str]], max_new_tokens: int) -> float:
        """Upper-bound cost in USD of answering ``prompts`` = (spoken text or None, text part) pairs,
        before a run (`biasbench estimate-cost`). Local models cost nothing."""
        return 0.0

    def close(self) -> None:
        """Release clients and memory."""
