"""Open speech LMs behind the generic chat-template adapter: Qwen2.5-Omni, Gemma-3n, Granite Speech."""

from __future__ import annotations

import os

import pytest

from biasbench.adapters.gemma3n import Gemma3nAdapter
from biasbench.adapters.granite_speech import GraniteSpeechAdapter
from biasbench.adapters.hf_chat import HFChatAdapter
from biasbench.adapters.qwen2_audio import Qwen2AudioAdapter
from biasbench.adapters.qwen_omni import OMNI_SYSTEM, QwenOmniAdapter
from biasbench.core import registry
from biasbench.core.deps import is_available
from biasbench.core.errors import MissingExtraError
from biasbench.core.messages import AudioPart, GenerationParams
from biasbench.testing.requests import make_request

os.environ["HF_HUB_OFFLINE"] = "1"
CLIP = AudioPart("/cache/ab/clip.wav", "ab" * 32, 16000, 2.0)
FAMILIES = {"qwen2-audio": Qwen2AudioAdapter, "qwen2.5-omni": QwenOmniAdapter, "gemma-3n": Gemma3nAdapter, "granite-speech": GraniteSpeechAdapter}


@pytest.mark.parametrize("name, cls", FAMILIES.items())
def test_every_family_is_registered_with_a_pinned_default_checkpoint(name, cls):
    assert registry.adapters.get(name) is cls and issubclass(cls, HFChatAdapter)
    adapter = cls.from_params({})
    assert "/" in adapter.config.model and adapter.describe()["checkpoint"]["hub_id"] == adapter.config.model


def test_family_quirks_render_the_audio_where_each_template_expects_it():
    request = make_request("Answer with a letter.", CLIP)
    qwen = Qwen2AudioAdapter.from_params({}).conversation(request)
    assert qwen == [{"role": "user", "content": [{"type": "audio", "audio_url": CLIP.path}, {"type": "text", "text": "Answer with a letter."}]}]
    omni = QwenOmniAdapter.from_params({}).conversation(request)
    assert omni[0] == {"role": "system", "content": [{"type": "text", "text": OMNI_SYSTEM}]}
    assert omni[1]["content"][0] == {"type": "audio", "audio": CLIP.path}
    own_system = QwenOmniAdapter.from_params({}).conversation(make_request("x", CLIP, system="Be brief."))
    assert [m["role"] for m in own_system] == ["system", "user"] and own_system[0]["content"][0]["text"] == "Be brief."
    assert Gemma3nAdapter.from_params({}).conversation(request)[0]["content"][0] == {"type": "audio", "audio": CLIP.path}
    assert GraniteSpeechAdapter.from_params({}).conversation(request) == [{"role": "user", "content": "<|audio|>Answer with a letter."}]


@pytest.mark.parametrize("cls, module", [(QwenOmniAdapter, "torchvision"), (Gemma3nAdapter, "timm"), (GraniteSpeechAdapter, "torchaudio")])
def test_a_missing_family_dependency_is_a_one_line_install_hint(cls, module, tmp_path):
    pytest.importorskip("transformers", reason="needs transformers: pip install 'biasbench[hf]'")
    if is_available(module):
        pytest.skip(f"{module} is installed here")
    with pytest.raises(MissingExtraError) as caught:
        cls.from_params({"model": str(tmp_path)}).load()
    assert module in str(caught.value) and "biasbench[speechlm]" in str(caught.value)


needs_omni = pytest.mark.skipif(
    not (is_available("torchvision") and is_available("transformers") and is_available("espeakng_loader")),
    reason="Qwen2_5OmniProcessor needs torchvision (pip install 'biasbench[speechlm]'), plus transformers and espeakng-loader",
)


@pytest.fixture(scope="module")
def omni(tmp_path_factory):
    from biasbench.testing.tiny_models import build_tiny_qwen2_5_omni

    model = build_tiny_qwen2_5_omni(tmp_path_factory.mktemp("omni") / "model")
    adapter = QwenOmniAdapter.from_params({"model": str(model)})
    adapter.load()
    return adapter


@needs_omni
def test_omni_thinker_batched_equals_unbatched_and_hears_the_audio(omni, tmp_path):
    import torch

    from biasbench.testing.speech import audio_part, speak

    clips = [audio_part(speak(text), tmp_path, f"c{i}") for i, text in enumerate(("hello there", "seven green apples"))]
    params = GenerationParams(max_new_tokens=4)
    requests = [make_request("Answer.", clip, params=params) for clip in clips] + [make_request("Text only.", params=params)]
    assert [r.text for r in omni.generate(requests)] == [omni.generate([r])[0].text for r in requests]
    assert type(omni.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    a, b = (omni.encode_requests([make_request("Same.", clip)]) for clip in clips)
    assert not torch.equal(a["input_features"], b["input_features"])
    with torch.inference_mode():
        assert not torch.allclose(omni.model(**a).logits[0, -1], omni.model(**b).logits[0, -1])
