"""Median fundamental frequency of a clip: the voice audit's pitch measure and the perceived-gender check's input."""

from __future__ import annotations

import numpy as np

from biasbench.core.audio import Audio


def median_f0(audio: Audio, fmin: float = 60.0, fmax: float = 400.0) -> tuple[float, float]:
    """(median F0 in Hz over voiced frames, voiced fraction) by normalized autocorrelation (40 ms frames)."""
    rate = audio.sample_rate
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    x = audio.samples.astype(np.float64)
    if len(x) < frame:
        return float("nan"), 0.0
    count = 1 + (len(x) - frame) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sum(frames**2, axis=1)
    size = 1 << int(np.ceil(np.log2(2 * frame)))
    spectrum = np.fft.rfft(frames, size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, :frame]
    low, high = int(rate / fmax), min(int(rate / fmin), frame - 1)
    normalized = acf[:, low : high + 1] / np.maximum(acf[:, :1], 1e-12)
    lags = np.argmax(normalized, axis=1) + low
    strength = normalized[np.arange(count), lags - low]
    loud = energy > 0.01 * np.max(energy)
    voiced = loud & (strength > 0.5)
    if not np.any(voiced):
        return float("nan"), 0.0
    return float(np.median(rate / lags[voiced])), float(np.mean(voiced))
