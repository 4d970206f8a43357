"""Turn spoken examples into Qwen2-Audio training tensors: loss only on the answer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from biasbench.core.audio import MODEL_SAMPLE_RATE

IGNORE_INDEX = -100
"""Label value that the loss skips (prompt, audio and padding positions)."""

END_OF_TURN = "<|im_end|>"
"""Qwen2 chat end-of-turn token: appended to complete answers so the model learns to stop."""


@dataclass(frozen=True, eq=False)
class EncodedExample:
    """One example as token ids with answer-only labels, plus its audio features."""

    input_ids: list[int]
    """Prompt ids (chat template with audio tokens expanded) followed by the answer ids."""
    labels: list[int]
    """:data:`IGNORE_INDEX` on the prompt, the answer ids on the answer."""
    input_features: Any
    """Log-mel features ``[mel, frames]`` (torch tensor)."""
    feature_attention_mask: Any
    """``[frames]`` (torch tensor)."""
    truncated: bool
    """True when the answer was cut to ``max_answer_tokens`` (no end-of-turn token then)."""


def chat_prompt(processor: Any, prompt: str) -> str:
    """The chat-template text for one spoken request followed by ``prompt``, ending at the assistant turn."""
    messages = [{"role": "user", "content": [{"type": "audio", "audio_url": "speech"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def encode_example(processor: Any, audio: np.ndarray, prompt: str, answer: str, max_answer_tokens: int) -> EncodedExample:
    """Encode one example. Prompt and answer are tokenized separately so the label mask is exact."""
    tokenizer = processor.tokenizer
    inputs = processor(
        text=[chat_prompt(processor, prompt)], audio=[audio], sampling_rate=MODEL_SAMPLE_RATE, return_tensors="pt"
    )
    prompt_ids = inputs["input_ids"][0].tolist()
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    truncated = len(answer_ids) > max_answer_tokens
    answer_ids = answer_ids[:max_answer_tokens]
    if not truncated:
        answer_ids = answer_ids + [end_of_turn_id(tokenizer)]
    return EncodedExample(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
        input_features=inputs["input_features"][0],
        feature_attention_mask=inputs["feature_attention_mask"][0],
        truncated=truncated,
    )


def end_of_turn_id(tokenizer: Any) -> int:
    """Id of :data:`END_OF_TURN` (the tokenizer's eos when the chat token is absent)."""
    token_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        return int(tokenizer.eos_token_id)
    return int(token_id)


def collate(examples: Sequence[EncodedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded batch tensors for a training forward pass."""
    import torch

    length = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "input_features": torch.stack([example.input_features for example in examples]),
        "feature_attention_mask": torch.stack([example.feature_attention_mask for example in examples]),
    }


def answer_losses(logits: Any, labels: Any) -> tuple[Any, list[Any]]:
    """Mean next-token cross-entropy over answer tokens, and each row's answer-position logits."""
    import torch.nn.functional as F

    shifted_logits = logits[:, :-1, :]
    shifted_labels = labels[:, 1:]
    loss = F.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]).float(),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
    )
    per_row = [shifted_logits[row][shifted_labels[row] != IGNORE_INDEX] for row in range(labels.shape[0])]
    return loss, per_row
