"""Tiny randomly initialised models built at test time and saved like hub checkpoints.

Each builder writes a folder that the real adapters load through the same ``from_pretrained`` path
as the full-size model (config, weights, tokenizer with the model's special tokens, feature
extractor, chat template). Weights are random (seeded); outputs are gibberish but deterministic,
and they depend on the audio, which is what the adapter tests check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biasbench.core.deps import require

SENTENCES = (
    "You are a helpful assistant.",
    "Listen to the question and answer with the letter of the correct option.",
    "The answer is A. The answer is B. The answer is C. The answer is D.",
    "What is the capital of France? Paris is the capital of France.",
    "Transcribe the audio. Which planet is closest to the sun? Mercury.",
    "A B C D 0 1 2 3 4 5 6 7 8 9 yes no maybe I am not sure.",
)
"""Text the tiny tokenizers are trained on."""

QWEN_CHAT_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
"""Qwen chat-format special tokens (pad / turn start / turn end)."""


def train_tiny_tokenizer(special_tokens: tuple[str, ...], *, vocab_size: int = 320, extra_tokens: tuple[str, ...] = (), **special_roles: str) -> Any:
    """A byte-level BPE fast tokenizer trained on :data:`SENTENCES` with ``special_tokens`` first.

    ``special_roles`` name roles (eos_token='<|im_end|>', pad_token=...) for the transformers wrapper.
    """
    tokenizers = require("tokenizers", "hf", purpose="building a tiny test tokenizer")
    transformers = require("transformers", "hf", purpose="building a tiny test tokenizer")
    model = tokenizers.Tokenizer(tokenizers.models.BPE())
    model.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    model.train_from_iterator(list(SENTENCES), trainer=trainer)
    wrapper = transformers.PreTrainedTokenizerFast(tokenizer_object=model, **special_roles)
    wrapper.add_special_tokens({"additional_special_tokens": list(extra_tokens)} if extra_tokens else {})
    return wrapper


def _seeded(seed: int) -> Any:
    torch = require("torch", "hf", purpose="building a tiny test model")
    torch.manual_seed(seed)
    return torch


def _tiny_text_config(vocab_size: int, **overrides: Any) -> dict[str, Any]:
    config = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "initializer_range": 0.5,
        "tie_word_embeddings": False,
    }
    config.update(overrides)
    return config


def _tiny_whisper_encoder(num_mel_bins: int = 128, **overrides: Any) -> dict[str, Any]:
    config = {
        "num_mel_bins": num_mel_bins,
        "encoder_layers": 1,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "d_model": 32,
        "max_source_positions": 1500,
        "initializer_range": 0.5,
    }
    config.update(overrides)
    return config


def _set_generation_ids(model: Any, tokenizer: Any, eos: str, pad: str) -> None:
    eos_id, pad_id = tokenizer.convert_tokens_to_ids(eos), tokenizer.convert_tokens_to_ids(pad)
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.do_sample = False


def build_tiny_qwen2_audio(out_dir: Path, seed: int = 0) -> Path:
    """A random tiny ``Qwen2AudioForConditionalGeneration`` + ``Qwen2AudioProcessor`` saved in ``out_dir``.

    Load it exactly like the real one: ``AutoProcessor.from_pretrained(out_dir)`` and
    ``Qwen2AudioForConditionalGeneration.from_pretrained(out_dir)`` (or the ``qwen2-audio`` adapter
    with ``model: <out_dir>``). Returns ``out_dir``.
    """
    transformers = require("transformers", "hf", purpose="building a tiny Qwen2-Audio")
    out_dir = Path(out_dir)
    audio_specials = ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")
    tokenizer = train_tiny_tokenizer(
        QWEN_CHAT_SPECIALS + audio_specials, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.padding_side = "left"
    feature_extractor = transformers.WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000)
    processor = transformers.Qwen2AudioProcessor(
        feature_extractor=feature_extractor,
        tokenizer=tokenizer,
        chat_template=transformers.Qwen2AudioProcessor.default_chat_template.fget(None),  # the real template
    )
    config = transformers.Qwen2AudioConfig(
        audio_config=_tiny_whisper_encoder(),
        text_config=_tiny_text_config(len(tokenizer)),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    _seeded(seed)
    model = transformers.Qwen2AudioForConditionalGeneration(config).eval()
    _set_generation_ids(model, tokenizer, "<|im_end|>", "<|endoftext|>")
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2.5-Omni's chat template (audio, image and video entries become their placeholder tokens)."""


def build_tiny_qwen2_5_omni(out_dir: Path, seed: int = 0) -> Path:
    """A random tiny Qwen2.5-Omni *thinker* + ``Qwen2_5OmniProcessor`` saved in ``out_dir``.

    Loads through ``AutoProcessor`` and ``Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained``
    (the ``qwen2.5-omni`` adapter). Returns ``out_dir``.
    """
    transformers = require("transformers", "hf", purpose="building a tiny Qwen2.5-Omni")
    require("torchvision", "speechlm", purpose="Qwen2_5OmniProcessor (transformers builds its video processor)")
    out_dir = Path(out_dir)
    roles = {
        "audio_token": "<|AUDIO|>",
        "audio_bos_token": "<|audio_bos|>",
        "audio_eos_token": "<|audio_eos|>",
        "image_token": "<|IMAGE|>",
        "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>",
        "vision_eos_token": "<|vision_eos|>",
    }
    tokenizer = train_tiny_tokenizer(
        QWEN_CHAT_SPECIALS + tuple(roles.values()),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=roles,
    )
    ids = {role: tokenizer.convert_tokens_to_ids(token) for role, token in roles.items()}
    processor = transformers.Qwen2_5OmniProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(),
        video_processor=transformers.Qwen2VLVideoProcessor(),
        feature_extractor=transformers.WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000),
        tokenizer=tokenizer,
        chat_template=OMNI_CHAT_TEMPLATE,
    )
    config = transformers.Qwen2_5OmniThinkerConfig(
        audio_config=_tiny_whisper_encoder(output_dim=32, n_window=100),
        vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 32, "fullatt_block_indexes": [0],
        },
        text_config=_tiny_text_config(len(tokenizer), rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}),
        audio_token_index=ids["audio_token"],
        image_token_index=ids["image_token"],
        video_token_index=ids["video_token"],
        audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"],
        user_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        initializer_range=0.5,
    )
    _seeded(seed)
    model = transformers.Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    _set_generation_ids(model, tokenizer, "<|im_end|>", "<|endoftext|>")
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def build_tiny_lora(base_dir: Path, out_dir: Path, seed: int = 0, model_class: str = "Qwen2AudioForConditionalGeneration") -> Path:
    """A random (non-identity) PEFT LoRA on the language model of the checkpoint in ``base_dir``.

    Saved like a finetune's output, so adapters load it through ``params.lora_path``. Returns ``out_dir``.
    """
    transformers = require("transformers", "hf", purpose="building a tiny LoRA")
    peft = require("peft", "hf", purpose="building a tiny LoRA")
    base = getattr(transformers, model_class).from_pretrained(base_dir)
    _seeded(seed)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = peft.get_peft_model(base, config)
    model.save_pretrained(out_dir)
    return Path(out_dir)


QWEN_TEXT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2's text chat template."""


def build_tiny_causal_lm(out_dir: Path, seed: int = 0) -> Path:
    """A random tiny ``Qwen2ForCausalLM`` + tokenizer with a chat template saved in ``out_dir``
    (loads with ``AutoModelForCausalLM``/``AutoTokenizer``; the ``hf-causal-lm`` adapter). Returns ``out_dir``."""
    transformers = require("transformers", "hf", purpose="building a tiny causal LM")
    out_dir = Path(out_dir)
    tokenizer = train_tiny_tokenizer(QWEN_CHAT_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_TEXT_CHAT_TEMPLATE
    config = transformers.Qwen2Config(**_tiny_text_config(len(tokenizer)))
    _seeded(seed)
    model = transformers.Qwen2ForCausalLM(config).eval()
    _set_generation_ids(model, tokenizer, "<|im_end|>", "<|endoftext|>")
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
