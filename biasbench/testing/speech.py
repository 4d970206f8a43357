"""Real speech for tests and benchmarks: espeak-ng clips synthesized at test time (no fixtures on disk).

Drives the espeak-ng library shipped in pip package ``espeakng-loader`` through ctypes, so tests need no
system binary (tests that need speech skip when the package is absent).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, write_wav
from biasbench.core.deps import is_available, require
from biasbench.core.hashing import file_sha256
from biasbench.core.messages import AudioPart

_LOCK = threading.Lock()
_ENGINE: dict[str, object] = {}

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def speech_available() -> bool:
    """True when espeak-ng speech can be synthesized here."""
    return is_available("espeakng_loader")


def speak(text: str, voice: str = "en-us", rate_wpm: int = 175, pitch: int = 50) -> Audio:
    """``text`` spoken by espeak-ng preset ``voice`` as 16 kHz mono audio (deterministic)."""
    loader = require("espeakng_loader", "tts", purpose="synthesizing test speech")
    with _LOCK:
        lib = _ENGINE.get("lib")
        if lib is None:
            lib = ctypes.CDLL(str(loader.get_library_path()))
            data_parent = str(Path(loader.get_data_path()).parent).encode()
            rate = lib.espeak_Initialize(2, 0, data_parent, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
            if rate <= 0:
                raise RuntimeError("espeak-ng failed to initialise")
            chunks: list[np.ndarray] = []

            def collect(wav, count, events):  # noqa: ANN001 - ctypes signature
                if count > 0:
                    chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
                return 0

            callback = _CALLBACK(collect)
            lib.espeak_SetSynthCallback(callback)
            _ENGINE.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
        chunks = _ENGINE["chunks"]  # type: ignore[assignment]
        chunks.clear()
        lib.espeak_SetVoiceByName(voice.encode())
        lib.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
        lib.espeak_SetParameter(3, pitch, 0)  # espeakPITCH
        encoded = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(encoded, len(encoded), 0, 1, 0, 1, None, None)  # POS_CHARACTER, espeakCHARS_UTF8
        lib.espeak_Synchronize()
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        rate = int(_ENGINE["rate"])  # type: ignore[arg-type]
    return Audio(samples.astype(np.float32) / 32768.0, rate).resampled(MODEL_SAMPLE_RATE)


def audio_part(audio: Audio, folder: Path, name: str) -> AudioPart:
    """Write ``audio`` as a WAV in ``folder`` and describe it as a message part."""
    path = Path(folder) / f"{name}.wav"
    write_wav(path, audio)
    return AudioPart(path=str(path), sha256=file_sha256(path), sample_rate=audio.sample_rate, duration_s=audio.duration_s)
