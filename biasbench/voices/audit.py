"""Voice audit: are the synthetic voices comparable? (A gap caused by an unintelligible voice is a TTS
artifact, not model bias.)

Per clip: duration, speaking rate, loudness, peak and clipping, median F0, ASR round-trip WER
(faster-whisper) and, for cloned voices, speaker similarity to the reference (resemblyzer).

Robust by design:

* A run audits fixed sentences (:data:`AUDIT_SENTENCES`, project-written), independent of the run's
  tasks, so voices are always compared on the same words (``texts: run`` audits the run's own clips).
* A clip's WER is capped at ``wer_cap`` (1 by default) and ASR hallucinations (a transcript much
  longer than the reference, or a looping repeated n-gram) are detected and reported: one runaway
  transcript cannot dominate a voice's mean (``wer_raw`` keeps the uncapped value).
* Parity is tested with VOICES as the unit: each voice's clips are averaged first, then a seeded
  permutation test of the voice means across groups (cells and each axis) decides; clips of one
  voice are not independent observations. A group is flagged when the test rejects at ``alpha``
  and its mean WER exceeds the best group's by more than ``wer_tolerance``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from collections import Counter
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import Field

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, read_audio
from biasbench.core.deps import is_available
from biasbench.core.errors import ConfigError
from biasbench.core.hashing import seed_from
from biasbench.core.messages import AudioPart
from biasbench.core.params import Params, parse_params
from biasbench.core.voice import VoicePool
from biasbench.voices.pitch import median_f0

FILES = {
    "clips": "voice_audit.csv",
    "voices": "voice_audit_voices.csv",
    "cells": "voice_audit_cells.csv",
    "parity": "parity.json",
    "perceived_gender": "perceived_gender.csv",
}
"""Files :func:`audit_clips` writes into its output folder."""

AUDIT_SENTENCES = (
    "The small boat drifted slowly toward the quiet harbour.",
    "Please bring three blue cups and a jar of honey.",
    "My neighbour fixed the broken fence before the storm arrived.",
    "A cold wind blew across the open fields all morning.",
    "She paid twelve dollars for a ticket to the concert.",
    "The children laughed when the puppy chased its own tail.",
    "We should check the map before we leave the city.",
    "His brother works at the hospital near the river bridge.",
    "Fresh bread and warm soup were served at noon.",
    "The old clock in the hallway stopped at seven thirty.",
    "They planted tomatoes, beans and peppers in the garden.",
    "Turn left at the bakery and walk two more blocks.",
)
"""Fixed audit sentences (project-written, Apache-2.0): everyday words, varied sounds, 9-11 words each."""

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
    """Significance level of the parity permutation tests (voices as the unit)."""
    loudness_tolerance_lu: float = Field(2.0, gt=0)
    """Cells whose mean loudness differs from the overall mean by more than this are warned about."""
    clip_threshold: float = Field(0.999, gt=0, le=1)
    """|sample| at or above this counts as clipped."""
    texts: Literal["fixed", "run"] = "fixed"
    """In a run: 'fixed' synthesizes and audits :data:`AUDIT_SENTENCES` in every voice (independent of
    the tasks); 'run' audits the run's own clips. (`biasbench voices audit` audits the clips it is given.)"""
    texts_per_voice: int | None = Field(None, ge=1)
    """Audit only this many texts per voice (default: all), preferring texts every voice speaks so
    that voices are compared on the same words; chosen with ``seed``."""
    seed: int = 0
    """Seed of the text subset and of the permutation tests."""
    wer_cap: float = Field(1.0, gt=0)
    """Per-clip WER is capped at this value before averaging (the raw value is kept as ``wer_raw``)."""
    hallucination_length_ratio: float = Field(2.0, gt=1)
    """A transcript with more than this many times the reference's words (+2) is a hallucination."""
    hallucination_repeats: int = Field(3, ge=2)
    """A word trigram repeated this many times more than in the reference is a hallucination loop."""
    permutations: int = Field(4999, ge=99)
    """Random relabellings of the voices in each parity permutation test."""


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


def fixed_sentence_clips(
    voices: Any, cache_dir: Path, *, tts_params: Mapping[str, Mapping] | None = None, workers: int | None = None, seed: int = 0
) -> dict[tuple[str, str], AudioPart]:
    """:data:`AUDIT_SENTENCES` spoken by every voice in ``voices`` (cached in ``cache_dir``)."""
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import synthesize

    result = synthesize(list(voices), list(AUDIT_SENTENCES), AudioCache(Path(cache_dir)), tts_params=tts_params,
                        workers=workers, seed=seed)
    return dict(result.clips)


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
            row["asr_text"] = transcriber(audio)
            row.update(robust_wer(text, row["asr_text"], settings))
        if similarity is not None and voice.reference is not None:
            row["speaker_similarity"] = similarity(audio, voice)
        rows.append(row)
    table = pd.DataFrame(rows)
    metrics = [c for c in ("wer", "wer_raw", "duration_s", "speaking_rate_wps", "loudness_lufs", "peak_dbfs", "clipped_fraction",
                           "median_f0_hz", "voiced_fraction", "speaker_similarity") if c in table.columns]
    if "hallucination" in table.columns:
        table["hallucinated"] = (table["hallucination"] != "").astype(float)
        metrics.append("hallucinated")
    voices = table.groupby(["voice_id", "cell", *pool.axes], sort=True)[metrics].mean().reset_index()
    voices.insert(2, "clips", table.groupby("voice_id", sort=True).size().to_numpy())
    # cells: the mean of their voices' means (each voice counts once, whatever its clip count)
    cells = voices.groupby(["cell", *pool.axes], sort=True)[metrics].mean().reset_index()
    cells.insert(1, "voices", voices.groupby("cell", sort=True)["voice_id"].nunique().to_numpy())
    cells.insert(2, "clips", table.groupby("cell", sort=True).size().to_numpy())
    parity = parity_check(table, voices, pool, settings)
    perceived = _perceived_gender(table, pool)
    if perceived is not None:
        from biasbench.voices.perceived_gender import flag_sentences as perceived_flag_sentences

        parity["warnings"] = [*parity["warnings"], *perceived_flag_sentences(perceived)]
    parity["skipped"] = skipped
    parity["params"] = settings.model_dump(mode="json")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from biasbench.core.files import atomic_write, write_text_atomic

    for frame, name in ((table, "clips"), (voices, "voices"), (cells, "cells")):
        atomic_write(out_dir / FILES[name], lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
    if perceived is not None:
        atomic_write(out_dir / FILES["perceived_gender"], lambda tmp: perceived.to_csv(tmp, index=False, float_format="%.6g"))
    write_text_atomic(out_dir / FILES["parity"], json.dumps(parity, indent=2, ensure_ascii=False))
    return AuditSummary(
        out_dir=out_dir,
        clips=len(table),
        cells={row["cell"]: {m: float(row[m]) for m in metrics} for _, row in cells.iterrows()},
        flags=tuple(parity["flags"]),
        warnings=tuple(parity["warnings"]),
        skipped=tuple(skipped),
    )


def _perceived_gender(table: Any, pool: VoicePool) -> Any:
    """Perceived gender of each voice from its clips' pitch (None when the pool has no gender axis):
    an independent check that a voice sounds like its label (see :mod:`biasbench.voices.perceived_gender`)."""
    from biasbench.voices.perceived_gender import perceived_gender_table

    if "gender" not in pool.axes or "median_f0_hz" not in table.columns:
        return None
    return perceived_gender_table(table[["voice_id", "gender", "median_f0_hz"]])


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


def _transcriber(settings: AuditParams, skipped: list[str]):
    if not settings.asr:
        skipped.append("wer: ASR disabled (asr: false)")
        return None
    from biasbench.adapters.whisper import WhisperAdapter

    whisper = WhisperAdapter.from_params(
        {"model": settings.asr_model, "compute_type": settings.asr_compute_type, "cpu_threads": settings.asr_cpu_threads}
    )

    def transcribe(audio: Audio) -> str:
        return whisper.transcribe(audio)

    return transcribe


def robust_wer(reference_text: str, heard: str, settings: AuditParams) -> dict[str, Any]:
    """{'wer_raw', 'wer' (capped at ``wer_cap``), 'hallucination' (the reason, '' when none)} of one clip."""
    import jiwer

    from biasbench.tasks.textnorm import normalize_transcript

    reference, hypothesis = normalize_transcript(reference_text), normalize_transcript(heard)
    raw = float(jiwer.wer(reference, hypothesis)) if reference else float("nan")
    return {"wer_raw": raw, "wer": min(raw, settings.wer_cap) if raw == raw else raw,
            "hallucination": hallucination(reference, hypothesis, settings)}


def hallucination(reference: str, hypothesis: str, settings: AuditParams) -> str:
    """Why ``hypothesis`` (a normalized transcript) looks like an ASR hallucination of ``reference``; '' if not."""
    ref, hyp = reference.split(), hypothesis.split()
    if len(hyp) > settings.hallucination_length_ratio * len(ref) + 2:
        return f"transcript has {len(hyp)} words for a {len(ref)}-word reference"
    grams = Counter(tuple(hyp[i : i + 3]) for i in range(len(hyp) - 2))
    if grams:
        gram, count = grams.most_common(1)[0]
        in_reference = sum(1 for i in range(len(ref) - 2) if tuple(ref[i : i + 3]) == gram)
        if count - in_reference >= settings.hallucination_repeats:
            return f"'{' '.join(gram)}' repeated {count} times"
    return ""


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


def voice_permutation_test(groups: Mapping[str, np.ndarray], permutations: int, seed: int) -> tuple[float, float]:
    """(statistic, p) of a permutation test of voice means across groups: the statistic is the
    between-group sum of squares Σ n_g (mean_g − grand mean)², the p-value (1 + #relabellings at
    least as extreme) / (1 + permutations) with voices relabelled at random (seeded)."""
    values = np.concatenate([np.asarray(v, dtype=float) for v in groups.values()])
    labels = np.concatenate([np.full(len(v), i) for i, v in enumerate(groups.values())])
    onehot = np.eye(len(groups))[labels]
    sizes = onehot.sum(axis=0)

    def statistic(x: np.ndarray) -> np.ndarray:
        means = (x @ onehot) / sizes
        return ((means - x.mean(axis=-1, keepdims=True)) ** 2 * sizes).sum(axis=-1)

    observed = float(statistic(values[None, :])[0])
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(values, (permutations, len(values))).copy(), axis=1)
    extreme = int(np.sum(statistic(shuffled) >= observed - 1e-12))
    return observed, (1 + extreme) / (1 + permutations)


def parity_check(table: Any, voices: Any, pool: VoicePool, settings: AuditParams) -> dict[str, Any]:
    """Permutation tests of VOICE means across cells (and each axis) per metric; flags and plain-sentence warnings.

    ``voices`` is recomputed from ``table`` for the tested metrics (each voice's clip mean) so that
    the unit of every test is the voice; a grouping where a group has a single voice is reported
    untestable (its voice-to-voice variation cannot be told from a group difference)."""
    tests, flags, warnings = [], [], []
    metrics = [m for m in ("wer", "duration_s", "speaking_rate_wps", "loudness_lufs", "median_f0_hz") if m in table.columns]
    per_voice = table.groupby("voice_id", sort=True).agg(
        {**{m: "mean" for m in metrics}, **{g: "first" for g in ["cell", *pool.axes] if g in table.columns}}
    )
    for metric in metrics:
        for grouping in [g for g in ["cell", *pool.axes] if g in per_voice.columns]:
            groups = {str(name): g[metric].dropna().to_numpy() for name, g in per_voice.groupby(grouping, sort=True)}
            groups = {k: v for k, v in groups.items() if len(v)}
            if len(groups) < 2:
                continue
            record = {"metric": metric, "grouping": grouping, "test": "permutation of voice means (voices as the unit)",
                      "means": {k: float(np.mean(v)) for k, v in groups.items()}, "n_voices": {k: int(len(v)) for k, v in groups.items()}}
            values = np.concatenate(list(groups.values()))
            if min(len(v) for v in groups.values()) < 2:
                record.update(statistic=None, p_value=None, significant=False,
                              note="a group has a single voice: untestable with voices as the unit")
            elif np.all(values == values[0]):
                record.update(statistic=0.0, p_value=1.0, significant=False)
            else:
                statistic, p_value = voice_permutation_test(groups, settings.permutations, seed_from("audit-parity", settings.seed, metric, grouping))
                record.update(statistic=statistic, p_value=p_value, significant=p_value < settings.alpha)
            tests.append(record)
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
                f"{what} (gap {gap:.2f} > tolerance {settings.wer_tolerance:.2f}, permutation test over voices "
                f"p={test['p_value']:.2g}); model differences for them may be TTS artifacts, not bias."
            )
    if "hallucination" in table.columns:
        loops = table[table["hallucination"] != ""]
        if len(loops):
            shown = ", ".join(f"{v} ({r})" for v, r in zip(loops["voice_id"].head(3), loops["hallucination"].head(3)))
            warnings.append(
                f"{len(loops)} clip(s) got a hallucinated ASR transcript ({shown}); their WER is capped at "
                f"{settings.wer_cap:g} (wer_raw keeps the uncapped value)."
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
