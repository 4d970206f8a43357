"""Cascade: ASR (the whisper adapter) then any text model; the transcript is kept per row.

A cascade separates "misheard" from "treated differently": the stored transcript shows what the
text model actually read for each voice. The text step is any registered text-capable adapter
(``hf-causal-lm`` for transformers models, ``openai-compatible`` for a served text endpoint).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, ClassVar, Sequence

from pydantic import Field, field_validator

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.adapters.whisper import WhisperAdapter
from biasbench.core.audio import MODEL_SAMPLE_RATE, read_audio
from biasbench.core.errors import BiasbenchError, ConfigError
from biasbench.core.messages import AudioPart, Message, Request, TextPart
from biasbench.core.response import Response


class CascadeAdapter(Adapter):
    """Transcribe every audio part, replace it by its transcript, and ask a text model."""

    name = "cascade"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=True, batch=True, answer_types=frozenset({"multiple_choice", "open_ended"})
    )

    class Config(Adapter.Config):
        """ASR and text-model settings."""

        asr: dict[str, Any] = Field(default_factory=dict)
        """Parameters of the whisper adapter (model, compute_type, beam_size, ...)."""
        text_adapter: str = "hf-causal-lm"
        """Registered text-capable adapter for the second step ('hf-causal-lm', 'openai-compatible', ...)."""
        text_params: dict[str, Any] = Field(default_factory=dict)
        """Parameters of the text adapter (model, base_url, ...)."""
        transcript_template: str = "{transcript}"
        """How a transcript replaces its clip in the message, e.g. 'Transcript of the question: {transcript}'."""

        @field_validator("transcript_template")
        @classmethod
        def _has_slot(cls, value: str) -> str:
            if "{transcript}" not in value:
                raise ValueError("transcript_template must contain '{transcript}'")
            return value

    def __init__(self, config: "CascadeAdapter.Config") -> None:
        super().__init__(config)
        from biasbench.core import registry

        self.asr = WhisperAdapter.from_params(config.asr, "params.asr")
        text_cls = registry.adapters.get(config.text_adapter)
        if not text_cls.capabilities.text_in or text_cls is CascadeAdapter:
            raise ConfigError(f"cascade text_adapter '{config.text_adapter}' cannot take text-only requests")
        self.text_model: Adapter = text_cls.from_params(config.text_params, "params.text_params")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "asr": self.asr.describe(), "text_model": self.text_model.describe()}

    def load(self) -> None:
        self.asr.load()
        self.text_model.load()

    def transcribe_request(self, request: Request) -> tuple[Request, str | None]:
        """``request`` with each clip replaced by its transcript, and the transcript (None when no audio)."""
        transcripts: list[str] = []
        messages = []
        for message in request.messages:
            parts = []
            for part in message.parts:
                if isinstance(part, AudioPart):
                    audio, _ = read_audio(part.path, target_rate=MODEL_SAMPLE_RATE)
                    transcript = self.asr.transcribe(audio)
                    transcripts.append(transcript)
                    parts.append(TextPart(self.config.transcript_template.format(transcript=transcript)))
                else:
                    parts.append(part)
            messages.append(Message(message.role, tuple(parts)))
        transcript = " ".join(transcripts) if transcripts else None
        return replace(request, messages=tuple(messages)), transcript

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        results: list[Response | None] = [None] * len(requests)
        pending: list[tuple[int, Request, str | None, float]] = []
        for index, request in enumerate(requests):
            start = time.perf_counter()
            try:
                text_request, transcript = self.transcribe_request(request)
            except BiasbenchError as exc:
                results[index] = Response.failed(exc.one_line(), time.perf_counter() - start)
                continue
            pending.append((index, text_request, transcript, time.perf_counter() - start))
        answers = self._ask_text_model([item[1] for item in pending])
        for (index, _, transcript, asr_s), answer in zip(pending, answers):
            results[index] = replace(answer, transcript=transcript, latency_s=answer.latency_s + asr_s)
        return [result for result in results if result is not None]

    def _ask_text_model(self, requests: list[Request]) -> list[Response]:
        # batching text models run one batch; API text models answer concurrently (Adapter.generate)
        return self.text_model.generate(requests) if requests else []

    def estimate_cost_usd(self, prompts: Sequence[tuple[str | None, str]], max_new_tokens: int) -> float:
        # the text model reads the transcript (about the spoken words) instead of audio
        as_text = [(None, f"{spoken or ''} {text}".strip()) for spoken, text in prompts]
        return self.text_model.estimate_cost_usd(as_text, max_new_tokens)

    def close(self) -> None:
        self.asr.close()
        self.text_model.close()
