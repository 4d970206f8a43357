"""Voice audit: are the synthetic voices comparable? (A gap caused by an unintelligible voice is a TTS
artifact, not model bias.)

Per clip: duration, speaking rate, loudness, peak and clipping, median F0, ASR round-trip WER
(faster-whisper) and, for cloned voices, speaker similarity to the reference (resemblyzer).
Aggregated per voice and per cell; a parity check (Kruskal-Wallis across cells, plus a tolerance
on the gap to the best cell) flags cells whose intelligibility differs.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from pydantic import Field

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, read_audio
from biasbench.core.deps import is_available
from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from
from biasbench.core.messages import AudioPart
from biasbench.core.params import Params, parse_params
from biasbench.core.voice import VoicePool

FILES = {
    "clips": "voice_audit.csv",
    "voices": "voice_audit_voices.csv",
    "cells": "voice_audit_cells.csv",
    "parity": "parity.json",
}
"""Files :func:`audit_clips` writes into its output folder."""

F0_TYPICAL = {"female": (150.0, 350.0), "male": (75.0, 180.0)}
"""Median-F0 ranges (Hz) outside which a gender label is flagged as implausible for the voice."""


class AuditParams(Params):
    """Voice audit settings (`audit.params` in a run config, flags of `biasbench voices audit`)."""

    asr: bool = True
    """Compute the ASR round-trip WER."""
    asr_model: str = "default"
    """faster-whisper model: 'default' (bundled tiny.en), a name ('small.en') or a CTranslate2 folder."""
    asr_compute_type: str = "int8"
    """CTranslate2 compute type."""
    asr_cpu_threads: int = Field(0, ge=0)
    """CPU threads for ASR (0 = CTranslate2's default)."""
    similarity: bool = True
    """Speaker similarity to the reference for cloned voices (needs biasbench[audit])."""
    wer_tolerance: float = Field(0.10, ge=0)
    """A cell whose mean WER exceeds the best cell's by more than this is flagged (if the test agrees)."""
    alpha: float = Field(0.05, gt=0, lt=1)
    """Significance level of the Kruskal-Wallis test across cells."""
    loudness_tolerance_lu: float = Field(2.0, gt=0)
    """Cells whose mean loudness differs from the overall mean by more than this are warned about."""
    clip_threshold: float = Field(0.999, gt=0, le=1)
    """|sample| at or above this counts as clipped."""
    texts_per_voice: int | None = Field(None, ge=1)
    """Audit only this many texts per voice (default: all), preferring texts every voice speaks so
    that voices are compared on the same words; chosen with ``seed``."""
    seed: int = 0
    """Seed of the text subset."""


@dataclass(frozen=True)
class AuditSummary:
    """What the audit found (the files hold the details)."""

    out_dir: Path
    """Folder holding :data:`FILES`."""
    clips: int
    """Clips audited."""
    cells: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Cell -> mean metrics (wer, duration_s, loudness_lufs, median_f0_hz, ...)."""
    flags: tuple[dict[str, Any], ...] = ()
    """Groups flagged by the parity check: {'grouping' ('cell' or an axis), 'group', 'metric', 'mean', 'gap', ...}."""
    warnings: tuple[str, ...] = ()
    """Plain sentences for reports."""
    skipped: tuple[str, ...] = ()
    """Columns not computed, with the reason."""

    def format(self) -> str:
        """A short printable summary."""
        lines = [f"voice audit of {self.clips} clips -> {self.out_dir}"]
        for cell, metrics in self.cells.items():
            shown = ", ".join(f"{k}={v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float)) and v == v)
            lines.append(f"  {cell}: {shown}")
        lines += [f"  FLAG: {w}" for w in self.warnings] or ["  no parity problems found"]
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def audit_subset(
    clips: Mapping[tuple[str, str], AudioPart], texts_per_voice: int, seed: int
) -> dict[tuple[str, str], AudioPart]:
    """At most ``texts_per_voice`` clips per voice: the same seeded texts for every voice when enough
    texts are spoken by all of them, else a seeded sample of each voice's own texts."""
    texts_by_voice: dict[str, list[str]] = {}
    for voice_id, text in clips:
        texts_by_voice.setdefault(voice_id, []).append(text)
    common = sorted(set.intersection(*(set(texts) for texts in texts_by_voice.values())))
    chosen: dict[tuple[str, str], AudioPart] = {}
    for voice_id, texts in sorted(texts_by_voice.items()):
        pool = common if len(common) >= texts_per_voice else sorted(texts)
        rng = random.Random(seed_from("audit-subset", seed, "" if pool is common else voice_id))
        for text in rng.sample(pool, min(texts_per_voice, len(pool))):
            chosen[(voice_id, text)] = clips[(voice_id, text)]
    return chosen


def audit_clips(
    clips: Mapping[tuple[str, str], AudioPart], pool: VoicePool, out_dir: Path, params: Mapping | None = None
) -> AuditSummary:
    """Audit ``clips`` ((voice id, text) -> clip) of ``pool``; write :data:`FILES` into ``out_dir``."""
    import pandas as pd

    settings: AuditParams = parse_params(AuditParams, dict(params or {}), "audit.params")
    if not clips:
        raise ConfigError("the voice audit needs at least one clip")
    if settings.texts_per_voice is not None:
        clips = audit_subset(clips, settings.texts_per_voice, settings.seed)
    unknown = sorted({voice_id for voice_id, _ in clips} - {voice.id for voice in pool.voices})
    if unknown:
        raise ConfigError(f"audit clips name voices not in pool '{pool.name}': {', '.join(unknown[:5])}")
    skipped: list[str] = []
    transcriber = _transcriber(settings, skipped)
    similarity = _similarity(settings, pool, skipped)
    rows = []
    for (voice_id, text), part in sorted(clips.items()):
        voice = pool.voice(voice_id)
        audio, _ = read_audio(part.path, target_rate=MODEL_SAMPLE_RATE)
        row: dict[str, Any] = {
            "voice_id": voice_id,
            "cell": " × ".join(voice.cell(pool.axes)),
            **{axis: voice.label(axis) for axis in pool.axes},
            "engine": voice.engine,
            "text": text,
            "sha256": part.sha256,
            **clip_measures(audio, text, settings.clip_threshold),
        }
        if transcriber is not None:
            row["asr_text"], row["wer"] = transcriber(audio, text)
        if similarity is not None and voice.reference is not None:
            row["speaker_similarity"] = similarity(audio, voice)
        rows.append(row)
    table = pd.DataFrame(rows)
    metrics = [c for c in ("wer", "duration_s", "speaking_rate_wps", "loudness_lufs", "peak_dbfs", "clipped_fraction",
                           "median_f0_hz", "voiced_fraction", "speaker_similarity") if c in table.columns]
    voices = table.groupby(["voice_id", "cell", *pool.axes], sort=True)[metrics].mean().reset_index()
    voices.insert(2, "clips", table.groupby("voice_id", sort=True).size().to_numpy())
    cells = table.groupby(["cell", *pool.axes], sort=True)[metrics].mean().reset_index()
    cells.insert(1, "voices", table.groupby("cell", sort=True)["voice_id"].nunique().to_numpy())
    cells.insert(2, "clips", table.groupby("cell", sort=True).size().to_numpy())
    parity = parity_check(table, voices, pool, settings)
    parity["skipped"] = skipped
    parity["params"] = settings.model_dump(mode="json")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from biasbench.core.files import atomic_write, write_text_atomic

    for frame, name in ((table, "clips"), (voices, "voices"), (cells, "cells")):
        atomic_write(out_dir / FILES[name], lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
    write_text_atomic(out_dir / FILES["parity"], json.dumps(parity, indent=2, ensure_ascii=False))
    return AuditSummary(
        out_dir=out_dir,
        clips=len(table),
        cells={row["cell"]: {m: float(row[m]) for m in metrics} for _, row in cells.iterrows()},
        flags=tuple(parity["flags"]),
        warnings=tuple(parity["warnings"]),
        skipped=tuple(skipped),
    )


def clip_measures(audio: Audio, text: str, clip_threshold: float = 0.999) -> dict[str, float]:
    """Duration, speaking rate, loudness, peak, clipping and median F0 of one clip."""
    import pyloudnorm

    samples = audio.samples.astype(np.float64)
    duration = audio.duration_s
    meter = pyloudnorm.Meter(audio.sample_rate, block_size=min(0.4, duration))
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    f0, voiced = median_f0(audio)
    return {
        "duration_s": duration,
        "speaking_rate_wps": len(text.split()) / duration if duration > 0 else float("nan"),
        "loudness_lufs": float(meter.integrated_loudness(samples)),
        "peak_dbfs": 20 * np.log10(peak) if peak > 0 else float("-inf"),
        "clipped_fraction": float(np.mean(np.abs(samples) >= clip_threshold)),
        "median_f0_hz": f0,
        "voiced_fraction": voiced,
    }


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


def _transcriber(settings: AuditParams, skipped: list[str]):
    if not settings.asr:
        skipped.append("wer: ASR disabled (asr: false)")
        return None
    import jiwer

    from biasbench.adapters.whisper import WhisperAdapter
    from biasbench.tasks.textnorm import normalize_transcript

    whisper = WhisperAdapter.from_params(
        {"model": settings.asr_model, "compute_type": settings.asr_compute_type, "cpu_threads": settings.asr_cpu_threads}
    )

    def transcribe(audio: Audio, text: str) -> tuple[str, float]:
        heard = whisper.transcribe(audio)
        reference, hypothesis = normalize_transcript(text), normalize_transcript(heard)
        return heard, float(jiwer.wer(reference, hypothesis)) if reference else float("nan")

    return transcribe


def _similarity(settings: AuditParams, pool: VoicePool, skipped: list[str]):
    if not any(voice.reference is not None for voice in pool.voices):
        return None
    if not settings.similarity:
        skipped.append("speaker_similarity: disabled (similarity: false)")
        return None
    if not is_available("resemblyzer"):
        skipped.append("speaker_similarity: resemblyzer is not installed (pip install 'biasbench[audit]')")
        return None
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu", verbose=False)
    references: dict[str, np.ndarray] = {}

    def similarity(audio: Audio, voice: Any) -> float:
        if voice.id not in references:
            reference, _ = read_audio(voice.reference.path, target_rate=16_000)
            references[voice.id] = encoder.embed_utterance(preprocess_wav(reference.samples, source_sr=16_000))
        embedding = encoder.embed_utterance(preprocess_wav(audio.samples, source_sr=audio.sample_rate))
        return float(np.dot(embedding, references[voice.id]))

    return similarity


def parity_check(table: Any, voices: Any, pool: VoicePool, settings: AuditParams) -> dict[str, Any]:
    """Kruskal-Wallis across cells (and each axis) per metric; flags and plain-sentence warnings."""
    from scipy.stats import kruskal

    tests, flags, warnings = [], [], []
    for metric in [m for m in ("wer", "duration_s", "speaking_rate_wps", "loudness_lufs", "median_f0_hz") if m in table.columns]:
        for grouping in ["cell", *pool.axes]:
            groups = {name: g[metric].dropna().to_numpy() for name, g in table.groupby(grouping, sort=True)}
            groups = {k: v for k, v in groups.items() if len(v)}
            if len(groups) < 2:
                continue
            values = np.concatenate(list(groups.values()))
            if np.all(values == values[0]):
                statistic, p_value = 0.0, 1.0
            else:
                statistic, p_value = (float(x) for x in kruskal(*groups.values()))
            tests.append({
                "metric": metric, "grouping": grouping, "test": "kruskal-wallis (clips as observations)",
                "statistic": statistic, "p_value": p_value, "significant": p_value < settings.alpha,
                "means": {k: float(np.mean(v)) for k, v in groups.items()}, "n": {k: int(len(v)) for k, v in groups.items()},
            })
    for test in [t for t in tests if t["metric"] == "wer"]:
        best = min(test["means"].values())
        for group, mean in sorted(test["means"].items()):
            gap = mean - best
            if not (test["significant"] and gap > settings.wer_tolerance):
                continue
            what = "cell" if test["grouping"] == "cell" else test["grouping"]
            flags.append({"grouping": test["grouping"], "group": group, "metric": "wer", "mean": mean,
                          "best_mean": best, "gap": gap, "tolerance": settings.wer_tolerance, "p_value": test["p_value"]})
            warnings.append(
                f"Voices with {what} {group} are less intelligible to ASR: mean WER {mean:.2f} vs {best:.2f} for the best "
                f"{what} (gap {gap:.2f} > tolerance {settings.wer_tolerance:.2f}, Kruskal-Wallis p={test['p_value']:.2g}); "
                "model differences for them may be TTS artifacts, not bias."
            )
    loud = next((t for t in tests if t["metric"] == "loudness_lufs" and t["grouping"] == "cell"), None)
    if loud is not None:
        overall = float(np.mean(list(loud["means"].values())))
        for cell, mean in sorted(loud["means"].items()):
            if abs(mean - overall) > settings.loudness_tolerance_lu:
                warnings.append(f"Cell {cell} is {mean - overall:+.1f} LU louder than average; loudness normalization failed for it.")
    if "gender" in pool.axes and "median_f0_hz" in voices.columns:
        for _, row in voices.iterrows():
            low_high = F0_TYPICAL.get(str(row["gender"]).lower())
            f0 = row["median_f0_hz"]
            if low_high is not None and f0 == f0 and not low_high[0] <= f0 <= low_high[1]:
                warnings.append(
                    f"Voice {row['voice_id']} is labelled {row['gender']} but its median F0 is {f0:.0f} Hz "
                    f"(typical {low_high[0]:.0f}-{low_high[1]:.0f} Hz): listeners and models may not hear the intended gender."
                )
    clipped = table[table["clipped_fraction"] > 0] if "clipped_fraction" in table.columns else table.iloc[:0]
    if len(clipped):
        warnings.append(f"{len(clipped)} clip(s) contain clipped samples.")
    return {"tests": tests, "flags": flags, "warnings": warnings}
