"""A model's answer to one request, with usage, timing and errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the backend (0 when unknown)."""

    input_tokens: int = 0
    """Prompt tokens, audio included."""
    output_tokens: int = 0
    """Generated tokens."""
    audio_tokens: int = 0
    """Audio input tokens when the backend reports them separately."""


@dataclass(frozen=True, slots=True)
class Response:
    """What came back for one request. Empty or error responses are never cached as answers."""

    text: str
    """The generated text ('' on error)."""
    finish_reason: str = "stop"
    """'stop', 'length', 'error', 'content_filter', ..."""
    usage: Usage = field(default_factory=Usage)
    """Token counts."""
    latency_s: float = 0.0
    """Wall seconds for this request (batch time divided by batch size for batched adapters)."""
    error: str | None = None
    """One-line error when the request failed."""
    refusal: bool = False
    """The backend flagged the answer as a refusal."""
    cost_usd: float = 0.0
    """API cost of this request (0 for local models)."""
    transcript: str | None = None
    """ASR transcript of the audio (cascades), kept to separate 'misheard' from 'treated differently'."""
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Backend-specific details worth keeping."""

    def __post_init__(self) -> None:
        # one shared read-only empty mapping: a run's millions of responses mostly carry no extras
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)) if self.extra else _NO_EXTRA)

    @property
    def ok(self) -> bool:
        """True when this is an answer worth caching: no error and non-empty text."""
        return self.error is None and bool(self.text.strip())

    @classmethod
    def failed(cls, error: str, latency_s: float = 0.0) -> "Response":
        """An error response (not cached; the row is retried on resume)."""
        return cls(text="", finish_reason="error", error=" ".join(error.split()), latency_s=latency_s)

    def to_json(self) -> dict[str, Any]:
        # written out (once per logged answer): not asdict(self), which cannot deep-copy the read-only
        # mappingproxy in ``extra`` and costs 40 us; a test checks that every field is here
        usage = self.usage
        return {
            "text": self.text, "finish_reason": self.finish_reason,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "audio_tokens": usage.audio_tokens},
            "latency_s": self.latency_s, "error": self.error, "refusal": self.refusal, "cost_usd": self.cost_usd,
            "transcript": self.transcript, "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Response":
        """Rebuild from :meth:`to_json`. Fields this version does not know (a newer format) are
        ignored; a known field with the wrong type (e.g. a null or numeric ``text``) is a ValueError."""
        values = {name: data[name] for name in _FIELD_TYPES if name in data}
        if "text" not in values:
            raise ValueError("response has no 'text'")
        for name, value in values.items():  # the exact-type lookup is the fast path for what json.loads makes
            if type(value) not in _EXACT_TYPES[name] and not _is_instance(value, _FIELD_TYPES[name]):
                raise ValueError(f"response field '{name}' has type {type(value).__name__}")
        usage = values.get("usage", {})
        counts = (usage.get("input_tokens", 0), usage.get("output_tokens", 0), usage.get("audio_tokens", 0))
        for name, count in zip(_USAGE_FIELDS, counts):
            if type(count) is not int and not _is_instance(count, (int,)):
                raise ValueError(f"response usage '{name}' is not an integer")
        values["usage"] = _shared_usage(*counts)
        if "finish_reason" in values:  # a handful of distinct values: one string each, not one per logged line
            values["finish_reason"] = sys.intern(values["finish_reason"])
        return cls(**values)


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


@lru_cache(maxsize=4096)
def _shared_usage(input_tokens: int, output_tokens: int, audio_tokens: int) -> Usage:
    """One (immutable) Usage per distinct count triple read back from a log, shared by the responses that have it."""
    return Usage(input_tokens, output_tokens, audio_tokens)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "finish_reason": (str,),
    "usage": (dict,),
    "latency_s": (int, float),
    "error": (str, type(None)),
    "refusal": (bool,),
    "cost_usd": (int, float),
    "transcript": (str, type(None)),
    "extra": (dict,),
}
"""The JSON type each Response field must have when read back."""
_USAGE_FIELDS = ("input_tokens", "output_tokens", "audio_tokens")
_EXACT_TYPES: dict[str, frozenset[type]] = {name: frozenset(types) for name, types in _FIELD_TYPES.items()}
"""The exact types each field accepts (a value of one of them passes ``_is_instance``; bool is listed only where allowed)."""


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int subclass: a boolean where a number belongs is a wrong type
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)
