"""qwen2-audio on a tiny random Qwen2-Audio built at test time and loaded through from_pretrained."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch", reason="needs torch: pip install 'biasbench[hf]'")
pytest.importorskip("transformers", reason="needs transformers: pip install 'biasbench[hf]'")

from biasbench.adapters.qwen2_audio import Qwen2AudioAdapter  # noqa: E402
from biasbench.core import registry  # noqa: E402
from biasbench.core.errors import AdapterError, ConfigError  # noqa: E402
from biasbench.core.messages import AudioPart, GenerationParams  # noqa: E402
from biasbench.testing.requests import make_request  # noqa: E402
from biasbench.testing.speech import audio_part, speak, speech_available  # noqa: E402
from biasbench.testing.tiny_models import build_tiny_lora, build_tiny_qwen2_audio  # noqa: E402

pytestmark = pytest.mark.skipif(not speech_available(), reason="needs espeakng-loader for test speech: pip install 'biasbench[tts]'")

PARAMS = GenerationParams(max_new_tokens=4)
TEXTS = ("hello there", "the capital of france is paris", "seven apples", "one")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("qwen2audio") / "model", seed=0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [audio_part(speak(text), folder, f"clip{i}") for i, text in enumerate(TEXTS)]


@pytest.fixture(scope="module")
def adapter(tiny):
    adapter = Qwen2AudioAdapter.from_params({"model": str(tiny), "batch_size": 8})
    adapter.load()
    return adapter


def requests_for(clips):
    return [make_request("Answer with a letter.", clip, params=PARAMS) for clip in clips] + [make_request("Text control question.", params=PARAMS)]


def test_registered_and_loaded_through_from_pretrained(adapter):
    assert registry.adapters.get("qwen2-audio") is Qwen2AudioAdapter
    assert type(adapter.model).__name__ == "Qwen2AudioForConditionalGeneration"
    assert adapter.tokenizer.padding_side == "left"


def test_batched_and_unbatched_give_the_same_outputs(adapter, clips):
    requests = requests_for(clips)
    batched = adapter.generate(requests)
    single = [adapter.generate([request])[0] for request in requests]
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(r.ok for r in batched)
    assert [r.usage for r in batched] == [r.usage for r in single]


def test_prompt_is_sliced_off_and_max_new_tokens_caps_output(adapter, clips):
    response = adapter.generate([make_request("Answer with a letter.", clips[0], params=GenerationParams(max_new_tokens=3))])[0]
    assert response.usage.output_tokens <= 3
    assert "Answer with a letter" not in response.text and "assistant" not in response.text
    assert response.usage.audio_tokens > 0 and response.usage.input_tokens > response.usage.audio_tokens


def test_audio_canary_changing_only_the_audio_changes_inputs_and_logits(adapter, clips):
    first = adapter.encode_requests([make_request("Same words.", clips[1])])
    second = adapter.encode_requests([make_request("Same words.", clips[2])])
    again = adapter.encode_requests([make_request("Same words.", clips[1])])
    assert "input_features" in first and "feature_attention_mask" in first  # the processor got audio=
    assert not torch.equal(first["input_features"], second["input_features"])
    assert torch.equal(first["input_features"], again["input_features"])
    n_audio = int((first["input_ids"] == adapter.model.config.audio_token_index).sum())
    assert n_audio == pytest.approx(clips[1].duration_s * 25, abs=2)  # 25 audio tokens per second
    with torch.inference_mode():
        la = adapter.model(**first).logits[0, -1]
        lb = adapter.model(**second).logits[0, -1]
    assert not torch.allclose(la, lb)


def test_audio_tokens_grow_with_duration(adapter, clips):
    short, long = sorted(clips, key=lambda c: c.duration_s)[:: len(clips) - 1]
    count = lambda clip: adapter.generate([make_request("x", clip, params=PARAMS)])[0].usage.audio_tokens  # noqa: E731
    assert count(long) > count(short)


def test_lora_adapter_changes_outputs_and_fingerprint(tiny, clips, tmp_path, adapter):
    lora = build_tiny_lora(tiny, tmp_path / "lora", seed=1)
    tuned = Qwen2AudioAdapter.from_params({"model": str(tiny), "lora_path": str(lora)})
    tuned.load()
    inputs = adapter.encode_requests([make_request("Same words.", clips[0])])
    with torch.inference_mode():
        assert not torch.allclose(adapter.model(**inputs).logits, tuned.model(**inputs).logits)
    assert tuned.fingerprint() != adapter.fingerprint()
    assert "lora" in tuned.describe()


def test_unreadable_audio_fails_that_request_only(adapter, clips, tmp_path):
    missing = AudioPart(str(tmp_path / "gone.wav"), "0" * 64, 16000, 1.0)
    good, bad = adapter.generate([make_request("x", clips[0], params=PARAMS), make_request("x", missing, params=PARAMS)])
    assert good.ok and bad.error and "not found" in bad.error


def test_fingerprint_pins_checkpoint_and_dtype(tiny):
    base = Qwen2AudioAdapter.from_params({"model": str(tiny)})
    assert base.describe()["checkpoint"]["local"] is True
    assert base.fingerprint() != Qwen2AudioAdapter.from_params({"model": str(tiny), "dtype": "bfloat16"}).fingerprint()
    hub = Qwen2AudioAdapter.from_params({}).describe()["checkpoint"]
    assert hub["hub_id"] == "Qwen/Qwen2-Audio-7B-Instruct"


def test_missing_checkpoint_is_a_one_line_adapter_error(tmp_path):
    with pytest.raises(AdapterError) as caught:
        Qwen2AudioAdapter.from_params({"model": str(tmp_path / "nowhere")}).load()
    assert "cannot load" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ConfigError):
        Qwen2AudioAdapter.from_params({"dtype": "float8"})


def test_a_lora_path_that_is_not_a_peft_folder_is_a_config_error(tiny, tmp_path):
    with pytest.raises(ConfigError, match="adapter_config.json"):
        Qwen2AudioAdapter.from_params({"model": str(tiny), "lora_path": str(tmp_path)})
