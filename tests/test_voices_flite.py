"""flite backend (the second offline engine): real CMU Flite, 16 kHz mono, byte-identical clips, one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from biasbench.core import registry
from biasbench.core.errors import ConfigError
from biasbench.core.voice import DemographicLabel, Voice
from biasbench.voices.cache import AudioCache
from biasbench.voices.spec import load_pool
from biasbench.voices.synthesis import synthesize

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="needs the flite program (apt-get install -y flite; `make test` does it as root)")

TEXTS = ["What is the capital of France?", "Two plus two is four."]


def _voice(preset: str, **params) -> Voice:
    return Voice(id="v", engine="flite", labels=(DemographicLabel("gender", "female", "designed"),), preset=preset, tts_params=params)


@pytest.fixture(scope="module")
def backend():
    backend = registry.tts_backends.get("flite").from_params(None)
    backend.load()
    return backend


def test_output_is_16k_mono_speech_and_params_change_it(backend):
    audio = backend.synthesize("The capital of France is Paris.", _voice("slt"))
    assert audio.sample_rate == 16_000 and audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert 0.8 < audio.duration_s < 5.0 and np.abs(audio.samples).max() > 0.05
    slower = backend.synthesize("The capital of France is Paris.", _voice("slt", duration_stretch=1.5))
    assert slower.duration_s > audio.duration_s * 1.3
    eight_k = backend.synthesize("The capital of France is Paris.", _voice("kal"))  # an 8 kHz voice comes back at 16 kHz
    assert eight_k.sample_rate == 16_000


def test_two_synthesis_calls_store_byte_identical_clips(tmp_path):
    pool = load_pool("demo_flite")
    first = synthesize(pool.voices, TEXTS, AudioCache(tmp_path / "a"), workers=1)
    second = synthesize(pool.voices, TEXTS, AudioCache(tmp_path / "b"), workers=1)
    assert first.backend_calls == second.backend_calls == len(pool.voices) * len(TEXTS)
    for key, part in first.clips.items():
        assert Path(part.path).read_bytes() == Path(second.clips[key].path).read_bytes(), key
    assert len({part.sha256 for part in first.clips.values()}) == len(first.clips)  # every voice sounds different
    again = synthesize(pool.voices, TEXTS, AudioCache(tmp_path / "a"), workers=1)
    assert again.backend_calls == 0 and first.backends["flite"]["flite_version"].startswith("flite")


def test_unknown_voices_and_bad_params_are_one_line_config_errors(backend):
    with pytest.raises(ConfigError, match="flite has no voice 'slx'.*did you mean 'slt'"):
        backend.synthesize("Hello.", _voice("slx"))
    with pytest.raises(ConfigError, match="tts_params"):
        backend.synthesize("Hello.", _voice("slt", f0_mean=5))
    missing = registry.tts_backends.get("flite").from_params({"binary": "no-such-flite-binary"})
    with pytest.raises(ConfigError, match="apt-get install -y flite"):
        missing.synthesize("Hello.", _voice("slt"))
