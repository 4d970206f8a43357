"""Synthesis: content-addressed cache, normalization, parallel == serial, 0 backend calls on re-synthesis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biasbench.core import registry
from biasbench.core.audio import Audio, read_audio
from biasbench.core.errors import ConfigError, DataError
from biasbench.core.voice import DemographicLabel, Voice
from biasbench.voices.backends.base import TTSBackend
from biasbench.voices.cache import AudioCache, audio_key
from biasbench.voices.normalize import Normalization, normalize_clip
from biasbench.voices.spec import load_pool
from biasbench.voices.synthesis import synthesize

pytest.importorskip("espeakng_loader", reason="synthesis tests use the espeak backend (biasbench[tts])")

TEXTS = ["What is the capital of France?", "Two plus two is four.", "Name a primary colour."]
LIB = {"espeak": {"engine": "library"}}


@pytest.fixture(scope="module")
def pool():
    return load_pool("demo_espeak")


@pytest.fixture(scope="module")
def first_build(pool, tmp_path_factory):
    cache = AudioCache(tmp_path_factory.mktemp("cache"))
    calls = []
    result = synthesize(pool.voices, TEXTS, cache, tts_params=LIB, workers=1, progress=lambda d, t: calls.append((d, t)))
    return cache, result, calls


def test_every_clip_is_made_once_and_stored_normalized(pool, first_build):
    cache, result, progress = first_build
    assert result.backend_calls == len(pool.voices) * len(TEXTS) and result.cached == 0
    assert set(result.clips) == {(v.id, t) for v in pool.voices for t in TEXTS}
    assert progress[-1] == (len(result.clips), len(result.clips))
    assert result.backends["espeak"]["espeak_ng_version"]
    import pyloudnorm

    for part in list(result.clips.values())[:6]:
        assert part.path.startswith(str(cache.folder)) and part.sample_rate == 16_000
        audio, notes = read_audio(part.path)
        assert notes == [] and audio.sample_rate == 16_000
        assert np.abs(audio.samples).max() <= 10 ** (-1 / 20) + 1e-3
        loudness = pyloudnorm.Meter(16_000).integrated_loudness(audio.samples.astype(np.float64))
        assert abs(loudness - Normalization().target_lufs) < 1.0
        assert abs(part.duration_s - audio.duration_s) < 1e-3


def test_resynthesis_makes_zero_backend_calls(pool, first_build):
    cache, result, _ = first_build
    again = synthesize(pool.voices, TEXTS, cache, tts_params=LIB, workers=1)
    assert again.backend_calls == 0 and again.cached == len(result.clips)
    assert {k: p.sha256 for k, p in again.clips.items()} == {k: p.sha256 for k, p in result.clips.items()}


def test_parallel_workers_produce_the_same_bytes(pool, first_build, tmp_path):
    _, result, _ = first_build
    parallel = synthesize(pool.voices, TEXTS, AudioCache(tmp_path), tts_params=LIB, workers=2)
    assert parallel.backend_calls == len(result.clips)
    assert {k: p.sha256 for k, p in parallel.clips.items()} == {k: p.sha256 for k, p in result.clips.items()}


def test_corrupt_cached_clip_is_resynthesized_not_trusted(pool, first_build):
    cache, result, _ = first_build
    key_clip = result.clips[(pool.voices[0].id, TEXTS[0])]
    clip_file = Path(key_clip.path)
    original = clip_file.read_bytes()
    clip_file.write_bytes(original[: len(original) // 2])  # truncated
    with pytest.warns(RuntimeWarning, match="1 cached clip"):
        again = synthesize(pool.voices, TEXTS, cache, tts_params=LIB, workers=1)
    assert again.backend_calls == 1 and any("synthesizing it again" in note for note in again.notes)
    assert clip_file.read_bytes() == original


def test_key_depends_on_text_voice_params_and_fingerprint():
    base = audio_key("fp", "v1", "Hello  world", 16_000, {"speed": 1})
    assert base == audio_key("fp", "v1", " Hello world ", 16_000, {"speed": 1})
    for other in (
        audio_key("fp2", "v1", "Hello world", 16_000, {"speed": 1}),
        audio_key("fp", "v2", "Hello world", 16_000, {"speed": 1}),
        audio_key("fp", "v1", "Hello there", 16_000, {"speed": 1}),
        audio_key("fp", "v1", "Hello world", 16_000, {"speed": 2}),
        audio_key("fp", "v1", "Hello world", 24_000, {"speed": 1}),
    ):
        assert other != base


def test_tts_params_override_changes_the_clips(pool, first_build, tmp_path):
    _, result, _ = first_build
    voice = pool.voices[0]
    fast = synthesize([voice], TEXTS[:1], AudioCache(tmp_path), tts_params={"espeak": {"engine": "library", "speed": 260}})
    assert fast.clips[(voice.id, TEXTS[0])].duration_s < result.clips[(voice.id, TEXTS[0])].duration_s * 0.8


def test_normalization_trims_silence_and_never_clips():
    rate = 16_000
    tone = 0.99 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)
    padded = np.concatenate([np.zeros(rate), tone, np.zeros(rate)]).astype(np.float32)
    clip = normalize_clip(Audio(padded, rate), Normalization(target_lufs=-5.0))
    assert 1.0 <= clip.audio.duration_s <= 1.2
    assert clip.peak_limited and np.abs(clip.audio.samples).max() <= 10 ** (-1 / 20) + 1e-6
    with pytest.raises(DataError, match="silent"):
        normalize_clip(Audio(np.zeros(rate, dtype=np.float32), rate))


class BrokenBackend(TTSBackend):
    """Stands in for an engine that fails on some input (tests the error path of synthesize)."""

    name = "broken"

    def synthesize(self, text: str, voice: Voice) -> Audio:
        raise RuntimeError("CUDA out of memory\nlong traceback text")


def test_backend_failure_is_one_line_data_error_naming_voice_and_text(tmp_path):
    voice = Voice(id="b1", engine="broken", labels=(DemographicLabel("gender", "male", "designed"),), preset="x")
    with registry.tts_backends.registered("broken", f"{__name__}:BrokenBackend"), pytest.raises(DataError) as caught:
        synthesize([voice], ["Say this please."], AudioCache(tmp_path))
    assert "broken" not in registry.tts_backends.names()  # no other test sees the broken engine
    message = caught.value.one_line()
    assert "'b1'" in message and "Say this please." in message and "CUDA out of memory" in message
    assert "\n" not in message


def test_unknown_engine_and_bad_params_are_config_errors(pool, tmp_path):
    voice = Voice(id="u", engine="espek", labels=(), preset="en-us")
    with pytest.raises(ConfigError, match="did you mean 'espeak'"):
        synthesize([voice], TEXTS, AudioCache(tmp_path))
    with pytest.raises(ConfigError, match="speed"):
        synthesize(pool.voices[:1], TEXTS, AudioCache(tmp_path), tts_params={"espeak": {"speed": "fast"}})


def test_texts_differing_only_in_whitespace_share_one_clip(pool, tmp_path):
    voice = pool.voices[0]
    result = synthesize([voice], ["Hello  there.", "Hello there. "], AudioCache(tmp_path), tts_params=LIB)
    assert result.backend_calls == 1 and len(result.clips) == 2
    assert result.clips[(voice.id, "Hello  there.")] == result.clips[(voice.id, "Hello there. ")]
