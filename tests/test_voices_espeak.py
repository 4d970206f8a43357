"""espeak backend: real espeak-ng (pip espeakng-loader), 16 kHz mono, deterministic, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from biasbench.core import registry
from biasbench.core.errors import ConfigError
from biasbench.core.voice import DemographicLabel, Voice

pytest.importorskip("espeakng_loader", reason="espeak backend needs pip espeakng-loader (biasbench[tts])")


def _voice(preset: str, **params) -> Voice:
    return Voice(id="v", engine="espeak", labels=(DemographicLabel("gender", "female", "designed"),), preset=preset,
                 tts_params=params)


@pytest.fixture(scope="module")
def backend():
    backend = registry.tts_backends.get("espeak").from_params({"engine": "library"})
    backend.load()
    yield backend
    backend.close()


def test_output_is_16k_mono_float32_speech(backend):
    audio = backend.synthesize("The capital of France is Paris.", _voice("en-us+f3"))
    assert audio.sample_rate == 16_000
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert 0.8 < audio.duration_s < 5.0
    assert np.abs(audio.samples).max() > 0.05


def test_same_text_and_voice_give_identical_samples_regardless_of_history(backend):
    first = backend.synthesize("Which planet is largest?", _voice("en-029+f2"))
    backend.synthesize("Something else entirely, to change the engine's history.", _voice("en-gb+m3"))
    again = backend.synthesize("Which planet is largest?", _voice("en-029+f2"))
    other = registry.tts_backends.get("espeak").from_params({"engine": "library"})
    try:
        fresh = other.synthesize("Which planet is largest?", _voice("en-029+f2"))
    finally:
        other.close()
    assert np.array_equal(first.samples, again.samples)
    assert np.array_equal(first.samples, fresh.samples)


def test_voices_and_params_change_the_audio(backend):
    base = backend.synthesize("Hello there, how are you?", _voice("en-us+f3"))
    male = backend.synthesize("Hello there, how are you?", _voice("en-us+m3"))
    slow = backend.synthesize("Hello there, how are you?", _voice("en-us+f3", speed=100))
    assert not np.array_equal(base.samples, male.samples)
    assert slow.duration_s > base.duration_s * 1.3


def test_fingerprint_includes_engine_version_and_params(backend):
    described = backend.describe()
    assert described["espeak_ng_version"].count(".") >= 1
    faster = registry.tts_backends.get("espeak").from_params({"engine": "library", "speed": 200})
    assert faster.fingerprint() != backend.fingerprint()


@pytest.mark.parametrize(
    ("preset", "message"),
    [("xx-zz+f3", "no language 'xx-zz'"), ("en-us+zz9", "no voice variant 'zz9'"), ("en-gb+m33", "did you mean 'm3'")],
)
def test_unknown_presets_are_one_line_config_errors(backend, preset, message):
    with pytest.raises(ConfigError, match=message):
        backend.check_voice(_voice(preset))


def test_bad_params_and_reference_voices_are_rejected(backend):
    with pytest.raises(ConfigError, match="speed"):
        registry.tts_backends.get("espeak").from_params({"speed": 5})
    with pytest.raises(ConfigError, match="tts_params"):
        backend.check_voice(_voice("en-us", pitch=500))
    from biasbench.core.voice import ReferenceClip

    cloned = Voice(id="c", engine="espeak", labels=(), reference=ReferenceClip("x.wav", "hi"))
    with pytest.raises(ConfigError, match="preset voices only"):
        backend.check_voice(cloned)
