"""Qwen2.5-Omni through its thinker (text output only; the talker is never loaded)."""

from __future__ import annotations

from biasbench.adapters.hf_chat import HFChatAdapter

OMNI_SYSTEM = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)
"""The system prompt the Qwen2.5-Omni model card requires for audio input."""


class QwenOmniAdapter(HFChatAdapter):
    """Qwen2.5-Omni thinker (``Qwen2_5OmniThinkerForConditionalGeneration``)."""

    name = "qwen2.5-omni"
    version = "1"
    model_class = "Qwen2_5OmniThinkerForConditionalGeneration"
    default_system = OMNI_SYSTEM
    required_modules = (("torchvision", "speechlm"),)  # Qwen2_5OmniProcessor builds a video processor

    class Config(HFChatAdapter.Config):
        model: str = "Qwen/Qwen2.5-Omni-7B"
        """Hub id or local folder of the checkpoint."""
