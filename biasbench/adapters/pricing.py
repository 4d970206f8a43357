"""The one price table for API models, plus cost of a response and cost estimates before a run.

Prices are USD per 1M tokens from OpenAI's public pricing page (see :data:`PRICES_AS_OF`); a model
missing here must be given ``params.prices`` in the run config, so a budget is never silently 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from biasbench.core.errors import ConfigError
from biasbench.core.response import Usage

PRICES_AS_OF = "2025-10-15"
"""When the table below was last checked against https://openai.com/api/pricing."""

AUDIO_TOKENS_PER_SECOND = 10.0
"""GPT-4o audio input tokens per second of speech (one token per 100 ms)."""

WORDS_PER_SECOND = 2.5
"""Speaking rate used to estimate clip length from word counts (150 words/min; slow, so estimates err high)."""

CHARS_PER_TOKEN = 4.0
"""Characters per text token for estimates (English)."""

PROMPT_OVERHEAD_TOKENS = 12
"""Chat-format tokens added per request (role markers, audio part framing)."""


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens."""

    input_text: float
    """Text input tokens."""
    input_audio: float
    """Audio input tokens."""
    output_text: float
    """Text output tokens."""

    def __post_init__(self) -> None:
        if min(self.input_text, self.input_audio, self.output_text) < 0:
            raise ConfigError("prices must be >= 0")

    def cost(self, usage: Usage) -> float:
        """Cost of one response from its reported usage (text input = input - audio)."""
        text_in = max(usage.input_tokens - usage.audio_tokens, 0)
        return (text_in * self.input_text + usage.audio_tokens * self.input_audio + usage.output_tokens * self.output_text) / 1e6


FREE = Prices(0.0, 0.0, 0.0)
"""The prices of a model with none configured or listed (a local server)."""

PRICE_TABLE: dict[str, Prices] = {
    "gpt-4o-audio-preview-2024-10-01": Prices(2.50, 100.00, 10.00),
    "gpt-4o-audio-preview-2024-12-17": Prices(2.50, 40.00, 10.00),
    "gpt-4o-audio-preview-2025-06-03": Prices(2.50, 40.00, 10.00),
    "gpt-4o-mini-audio-preview-2024-12-17": Prices(0.15, 10.00, 0.60),
    "gpt-audio-2025-08-28": Prices(2.50, 32.00, 10.00),
    "gpt-audio-mini-2025-10-06": Prices(0.60, 10.00, 2.40),
}
"""Dated snapshot -> prices. Add new snapshots here (and nowhere else)."""


def prices_for(model: str) -> Prices | None:
    """The table's prices for a dated snapshot, or None."""
    return PRICE_TABLE.get(model)


@dataclass(frozen=True)
class CostEstimate:
    """Upper-bound cost of a set of requests, before running them."""

    requests: int
    """Number of requests."""
    audio_seconds: float
    """Estimated seconds of speech sent."""
    input_text_tokens: int
    """Estimated text input tokens."""
    input_audio_tokens: int
    """Estimated audio input tokens."""
    output_tokens: int
    """Output tokens if every answer used max_new_tokens (upper bound)."""
    usd: float
    """Estimated cost in USD."""


def estimate_cost(prices: Prices, prompts: Sequence[tuple[str | None, str]], max_new_tokens: int) -> CostEstimate:
    """Estimate the cost of ``prompts`` = (spoken text or None for a text row, text part) pairs.

    Clip length comes from the spoken words at :data:`WORDS_PER_SECOND`; outputs are assumed to
    use all ``max_new_tokens`` (an upper bound).
    """
    seconds = 0.0
    text_tokens = audio_tokens = 0
    for spoken, text in prompts:
        if spoken:
            clip = len(spoken.split()) / WORDS_PER_SECOND
            seconds += clip
            audio_tokens += math.ceil(clip * AUDIO_TOKENS_PER_SECOND)
        text_tokens += math.ceil(len(text) / CHARS_PER_TOKEN) + PROMPT_OVERHEAD_TOKENS
    output = max_new_tokens * len(prompts)
    usage = Usage(input_tokens=text_tokens + audio_tokens, output_tokens=output, audio_tokens=audio_tokens)
    return CostEstimate(len(prompts), seconds, text_tokens, audio_tokens, output, prices.cost(usage))
