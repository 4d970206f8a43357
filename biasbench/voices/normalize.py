"""Clip normalization before caching: 16 kHz mono, edges trimmed, loudness to a target, no clipping."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio
from biasbench.core.errors import ConfigError, DataError


@dataclass(frozen=True)
class Normalization:
    """How every synthesized clip is normalized (part of the audio cache key)."""

    target_lufs: float = -23.0
    """Integrated loudness target (EBU R128), measured with pyloudnorm."""
    peak_dbfs: float = -1.0
    """Sample peak ceiling; a clip that would exceed it is scaled down instead (and noted)."""
    trim_db: float = 40.0
    """Leading/trailing 10 ms frames quieter than the loudest frame by this much are trimmed."""
    pad_s: float = 0.05
    """Silence kept before and after the speech after trimming."""
    sample_rate: int = MODEL_SAMPLE_RATE
    """Output rate."""
    version: int = 1
    """Bumped when the procedure changes."""

    def __post_init__(self) -> None:
        if not -70 < self.target_lufs < 0:
            raise ConfigError(f"target_lufs {self.target_lufs} must be between -70 and 0")
        if not -30 <= self.peak_dbfs <= 0:
            raise ConfigError(f"peak_dbfs {self.peak_dbfs} must be between -30 and 0")
        if self.trim_db <= 0 or self.pad_s < 0:
            raise ConfigError("trim_db must be > 0 and pad_s >= 0")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NormalizedClip:
    """A normalized clip and what normalization had to do."""

    audio: Audio
    """16 kHz mono float32, trimmed, loudness-normalized."""
    loudness_lufs: float
    """Integrated loudness after normalization."""
    peak_limited: bool
    """True when the loudness target would have clipped, so the clip is quieter than the target."""


def normalize_clip(audio: Audio, settings: Normalization = Normalization()) -> NormalizedClip:
    """Resample, trim silent edges, set loudness, keep the peak under the ceiling."""
    import pyloudnorm

    audio = audio.resampled(settings.sample_rate)
    samples = _trim(audio.samples, audio.sample_rate, settings)
    duration = len(samples) / audio.sample_rate
    meter = pyloudnorm.Meter(audio.sample_rate, block_size=min(0.4, duration))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = float(meter.integrated_loudness(samples.astype(np.float64)))
    if not np.isfinite(loudness):
        raise DataError("synthesized clip is silent (loudness -inf)")
    gain = 10 ** ((settings.target_lufs - loudness) / 20)
    ceiling = 10 ** (settings.peak_dbfs / 20)
    peak = float(np.max(np.abs(samples))) * gain
    limited = peak > ceiling
    if limited:
        gain *= ceiling / peak
    out = (samples * gain).astype(np.float32)
    return NormalizedClip(Audio(out, audio.sample_rate), loudness + 20 * np.log10(gain), limited)


def _trim(samples: np.ndarray, rate: int, settings: Normalization) -> np.ndarray:
    frame = max(1, rate // 100)
    count = len(samples) // frame
    if count == 0 or not np.any(samples):
        raise DataError("synthesized clip is empty or silent")
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.nonzero(rms_db > rms_db.max() - settings.trim_db)[0]
    pad = int(settings.pad_s * rate)
    start = max(0, loud[0] * frame - pad)
    end = min(len(samples), (loud[-1] + 1) * frame + pad)
    return samples[start:end]
