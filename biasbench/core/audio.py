"""Audio as a small value object, plus strict reading/writing (soundfile) and resampling (soxr)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biasbench.core.errors import DataError
from biasbench.core.files import write_bytes_atomic

MODEL_SAMPLE_RATE = 16_000
"""The rate every stored clip is normalized to (Whisper-family encoders expect 16 kHz)."""

AUDIO_FORMATS = ("flac", "wav")
"""How clips can be stored: FLAC (lossless, about half the size) or 16-bit PCM WAV. Both hold the same
16-bit samples, so a clip's content hash (:func:`content_sha256`) does not depend on the format."""


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples in [-1, 1] at a known sample rate."""

    samples: np.ndarray = field(repr=False)
    """1-D float32 array of samples."""
    sample_rate: int
    """Samples per second."""

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise DataError(f"audio must be mono (1-D), got shape {self.samples.shape}")
        if self.sample_rate <= 0:
            raise DataError(f"sample rate must be positive, got {self.sample_rate}")
        if self.samples.dtype != np.float32:
            object.__setattr__(self, "samples", self.samples.astype(np.float32))

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def resampled(self, rate: int) -> "Audio":
        """This audio at ``rate`` Hz (a copy; the same object when the rate already matches)."""
        if rate == self.sample_rate:
            return self
        import soxr

        return Audio(soxr.resample(self.samples, self.sample_rate, rate).astype(np.float32), rate)

    def wav_bytes(self) -> bytes:
        """16-bit PCM WAV encoding (what APIs and the cache receive)."""
        buffer = io.BytesIO()
        import soundfile as sf

        sf.write(buffer, np.clip(self.samples, -1.0, 1.0), self.sample_rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()


def flac_of_wav_bytes(wav: bytes) -> bytes:
    """FLAC (16-bit) of a 16-bit WAV's samples, bit for bit. Quantized once, by the WAV encoder: libsndfile's
    FLAC encoder rounds float samples differently, so encoding the floats twice would give two clips."""
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(wav), dtype="int16")
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def pcm16_wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV of int16 ``samples``, written as they are (integers in, integers out: no rounding
    step): the canonical 44-byte header libsndfile writes, then the samples little-endian (byte-equal to
    ``soundfile.write(..., 'WAV', 'PCM_16')``, tested; assembled directly, it costs half as much)."""
    samples = np.asarray(samples, dtype="<i2")
    if samples.ndim > 1 and samples.shape[1] != 1:
        raise ValueError(f"pcm16_wav_bytes writes mono only, got {samples.shape[1]} channels")
    data = samples.reshape(-1).tobytes()
    rate = int(sample_rate)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, 1, rate, 2 * rate, 2, 16, b"data", len(data))
    return header + data


def wav_bytes_of_file(path: str | Path) -> bytes:
    """A stored clip as 16-bit PCM WAV bytes, the file opened once: the file itself when it is WAV, else its
    samples decoded exactly (int16, FLAC is lossless) and re-encoded; for APIs that accept WAV only."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(str(path)) as handle:
            if handle.format == "WAV" and handle.subtype == "PCM_16" and handle.channels == 1:
                return path.read_bytes()
            if handle.channels != 1:
                raise DataError(f"a stored clip must be mono, got {handle.channels} channels: {path}")
            data, rate = handle.read(dtype="int16"), handle.samplerate
    except DataError:
        raise
    except Exception as exc:  # soundfile raises several types for non-audio input
        raise DataError(f"not a readable audio file: {path} ({type(exc).__name__})") from None
    return pcm16_wav_bytes(data, int(rate))


def content_sha256(path: str | Path) -> str:
    """sha256 of a clip's canonical 16-bit WAV encoding (:func:`wav_bytes_of_file`): what response keys
    hash, equal for the WAV and the FLAC copy of the same samples."""
    import hashlib

    return hashlib.sha256(wav_bytes_of_file(path)).hexdigest()


@dataclass(frozen=True)
class AudioReadNote:
    """What :func:`read_audio` changed to make a file usable (reported, never silent)."""

    path: str
    """The file read."""
    note: str
    """e.g. 'downmixed 2 channels to mono', 'resampled 44100 Hz -> 16000 Hz'."""


def read_audio(path: str | Path, target_rate: int | None = None) -> tuple[Audio, list[AudioReadNote]]:
    """Read an audio file as mono float32, optionally resampled; notes list every conversion.

    Raises :class:`DataError` with a one-line message for a missing, empty, non-audio or silent file.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise DataError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"audio file is empty: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for non-audio input
        raise DataError(f"not a readable audio file: {path} ({type(exc).__name__})") from None
    if data.shape[0] == 0:
        raise DataError(f"audio file has no samples: {path}")
    notes: list[AudioReadNote] = []
    if data.shape[1] > 1:
        notes.append(AudioReadNote(str(path), f"downmixed {data.shape[1]} channels to mono"))
    audio = Audio(data.mean(axis=1), int(rate))
    if target_rate is not None and rate != target_rate:
        notes.append(AudioReadNote(str(path), f"resampled {rate} Hz -> {target_rate} Hz"))
        audio = audio.resampled(target_rate)
    return audio, notes


def write_wav(path: str | Path, audio: Audio) -> None:
    """Write 16-bit PCM WAV atomically (unique temp file + rename), creating parent folders."""
    write_bytes_atomic(path, audio.wav_bytes())
