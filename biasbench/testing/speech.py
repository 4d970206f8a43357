"""Real speech for tests and benchmarks: espeak-ng clips synthesized at test time (no fixtures on disk).

Uses the project's espeak TTS backend (the system binary, or the library shipped in pip package
``espeakng-loader``), so tests need no system install; tests that need speech skip when neither exists.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, write_wav
from biasbench.core.deps import is_available
from biasbench.core.hashing import file_sha256
from biasbench.core.messages import AudioPart
from biasbench.core.voice import Voice

_LOCK = threading.Lock()
_BACKEND: dict[str, Any] = {}


def speech_available() -> bool:
    """True when espeak-ng speech can be synthesized here."""
    return shutil.which("espeak-ng") is not None or is_available("espeakng_loader")


def speak(text: str, voice: str = "en-us") -> Audio:
    """``text`` spoken by espeak-ng preset ``voice`` (e.g. 'en-gb+f3') as 16 kHz mono audio (deterministic)."""
    from biasbench.voices.backends.espeak import EspeakBackend

    with _LOCK:
        backend = _BACKEND.get("espeak")
        if backend is None:
            backend = EspeakBackend.from_params({})
            backend.load()
            _BACKEND["espeak"] = backend
        audio = backend.synthesize(text, Voice(id="test-speaker", engine="espeak", labels=(), preset=voice))
    return audio.resampled(MODEL_SAMPLE_RATE)


def audio_part(audio: Audio, folder: Path, name: str) -> AudioPart:
    """Write ``audio`` as a WAV in ``folder`` and describe it as a message part."""
    path = Path(folder) / f"{name}.wav"
    write_wav(path, audio)
    return AudioPart(path=str(path), sha256=file_sha256(path), sample_rate=audio.sample_rate, duration_s=audio.duration_s)
