"""Builders of canonical requests for tests and benchmarks."""

from __future__ import annotations

from biasbench.core.messages import AudioPart, GenerationParams, Message, Request, RequestContext, TextPart


def make_request(
    text: str = "",
    audio: AudioPart | None = None,
    *,
    system: str | None = None,
    params: GenerationParams | None = None,
    context: RequestContext | None = None,
    repeat: int = 0,
) -> Request:
    """A one-turn request: optional system message, then the user's audio part (if any) and text."""
    parts: list = []
    if audio is not None:
        parts.append(audio)
    if text:
        parts.append(TextPart(text))
    messages = [Message("user", tuple(parts))]
    if system:
        messages.insert(0, Message("system", (TextPart(system),)))
    return Request(tuple(messages), params or GenerationParams(), repeat=repeat, context=context)
