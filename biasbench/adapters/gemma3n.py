"""Gemma 3n (transformers ``Gemma3nForConditionalGeneration``): audio entries in its chat template."""

from __future__ import annotations

from biasbench.adapters.hf_chat import HFChatAdapter


class Gemma3nAdapter(HFChatAdapter):
    """Gemma 3n instruct models; the processor's audio feature extractor works at 16 kHz."""

    name = "gemma-3n"
    version = "1"
    model_class = "Gemma3nForConditionalGeneration"
    required_modules = (("timm", "speechlm"),)  # its vision tower is a timm model, loaded with the weights

    class Config(HFChatAdapter.Config):
        model: str = "google/gemma-3n-E4B-it"
        """Hub id or local folder of the checkpoint."""
