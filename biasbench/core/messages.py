"""The canonical request: text and audio parts that each adapter renders for its backend."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from biasbench.core.errors import ConfigError
from biasbench.core.hashing import canonical_json

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text in a message."""

    text: str
    """The text."""

    def key_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class AudioPart:
    """A clip in a message, referenced by file and content hash (never inlined in keys or logs)."""

    path: str
    """FLAC or WAV file in the audio cache."""
    sha256: str
    """sha256 of the clip's canonical 16-bit WAV encoding (the file's bytes when stored as WAV, so the
    same key for the FLAC copy): what response keys hash instead of the samples."""
    sample_rate: int
    """Rate of the stored file."""
    duration_s: float
    """Length in seconds."""

    def key_json(self) -> dict[str, Any]:
        return {"type": "audio", "sha256": self.sha256}


Part = Union[TextPart, AudioPart]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    """'system', 'user' or 'assistant'."""
    parts: tuple[Part, ...]
    """Text and audio parts in order."""

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise ConfigError(f"unknown message role '{self.role}'")
        if not self.parts:
            raise ConfigError(f"a {self.role} message has no parts")

    def text(self) -> str:
        """All text parts joined by newlines."""
        return "\n".join(part.text for part in self.parts if isinstance(part, TextPart))

    def key_json(self) -> dict[str, Any]:
        return {"role": self.role, "parts": [part.key_json() for part in self.parts]}


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings. Every adapter sends all of them explicitly (greedy by default)."""

    max_new_tokens: int = 256
    """Cap on generated tokens (never ``max_length``: audio tokens would count)."""
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (ignored when greedy)."""
    seed: int | None = 0
    """Sampling seed (recorded in the manifest)."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ConfigError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_json(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The oracle: who is speaking which item and where the correct option is. The runner attaches
    it only for adapters whose capabilities declare ``oracle=True`` (calibration instruments such
    as ``simulated``); every other adapter gets ``Request.context = None`` and sees the messages
    alone. It is not part of the response key."""

    task: str
    """Task name."""
    item_id: str
    """Item id."""
    voice_id: str | None
    """Voice id (None for the text-only control)."""
    labels: tuple[tuple[str, str], ...] = ()
    """(axis, value) pairs of the voice."""
    target_index: int | None = None
    """Index of the correct option in the *presented* order (multiple choice)."""
    n_choices: int = 0
    """Number of presented options."""
    modality: str = "audio"
    """'audio' or 'text'."""

    def label(self, axis: str) -> str | None:
        return dict(self.labels).get(axis)


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a model is asked for one planned row."""

    messages: tuple[Message, ...]
    """The conversation, system message first if any."""
    params: GenerationParams = field(default_factory=GenerationParams)
    """Decoding settings."""
    repeat: int = 0
    """Repeat index (for sampled decoding with several draws)."""
    context: RequestContext | None = field(default=None, compare=False)
    """The oracle context, only for adapters declaring ``Capabilities(oracle=True)`` (None for
    every other adapter); excluded from the key."""

    def __post_init__(self) -> None:
        if not self.messages:
            raise ConfigError("a request has no messages")

    def audio_parts(self) -> list[AudioPart]:
        """Every audio part in order."""
        return [part for message in self.messages for part in message.parts if isinstance(part, AudioPart)]

    def key(self, adapter_fingerprint: str) -> str:
        """Response cache key: the sha256 of the canonical JSON of [adapter fingerprint, messages (audio as
        sha256), params, repeat] (see :class:`RepeatKeys`)."""
        return RepeatKeys(self, adapter_fingerprint).key(self.repeat)


class RepeatKeys:
    """:meth:`Request.key` of ``request`` at any repeat, from the canonical JSON hashed once: the key's text is
    ``[fingerprint,messages,params,repeat]``, so everything before the repeat is a shared sha256 state (a plan's
    repeats of one prompt cost a copy and a short update each, not a JSON encoding of the whole request)."""

    __slots__ = ("_prefix",)

    def __init__(self, request: Request, adapter_fingerprint: str) -> None:
        text = canonical_json([adapter_fingerprint, [message.key_json() for message in request.messages], request.params.to_json()])
        self._prefix = hashlib.sha256((text[:-1] + ",").encode("utf-8"))

    def key(self, repeat: int) -> str:
        digest = self._prefix.copy()
        digest.update(f"{int(repeat)}]".encode("ascii"))
        return digest.hexdigest()
