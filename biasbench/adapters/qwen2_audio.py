"""Qwen2-Audio (transformers ``Qwen2AudioForConditionalGeneration``), default the 7B Instruct model."""

from __future__ import annotations

from typing import Any

from biasbench.adapters.hf_chat import HFChatAdapter
from biasbench.core.messages import AudioPart


class Qwen2AudioAdapter(HFChatAdapter):
    """Qwen2-Audio chat: its template expands each audio entry to ``<|audio_bos|><|AUDIO|><|audio_eos|>``."""

    name = "qwen2-audio"
    version = "1"
    model_class = "Qwen2AudioForConditionalGeneration"

    class Config(HFChatAdapter.Config):
        model: str = "Qwen/Qwen2-Audio-7B-Instruct"
        """Hub id or local folder of the checkpoint."""

    def audio_content(self, part: AudioPart) -> dict[str, Any]:
        return {"type": "audio", "audio_url": part.path}
