"""IBM Granite Speech (transformers ``GraniteSpeechForConditionalGeneration``).

Quirk: its chat template is text-only; each clip is the ``<|audio|>`` placeholder inside the user
text, which the processor expands to the clip's audio tokens.
"""

from __future__ import annotations

from typing import Any

from biasbench.adapters.hf_chat import HFChatAdapter
from biasbench.core.messages import AudioPart, Request

AUDIO_PLACEHOLDER = "<|audio|>"


class GraniteSpeechAdapter(HFChatAdapter):
    """Granite Speech 3.x (speech-in, text-out)."""

    name = "granite-speech"
    version = "1"
    model_class = "GraniteSpeechForConditionalGeneration"
    required_modules = (("torchaudio", "speechlm"),)  # GraniteSpeechFeatureExtractor computes mels with torchaudio

    class Config(HFChatAdapter.Config):
        model: str = "ibm-granite/granite-speech-3.3-8b"
        """Hub id or local folder of the checkpoint."""

    def conversation(self, request: Request) -> list[dict[str, Any]]:
        return [
            {
                "role": message.role,
                "content": "".join(AUDIO_PLACEHOLDER if isinstance(part, AudioPart) else part.text for part in message.parts),
            }
            for message in request.messages
        ]
