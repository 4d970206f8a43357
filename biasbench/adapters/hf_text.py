"""Text-only transformers causal LMs (``AutoModelForCausalLM``): the text step of cascades and text baselines."""

from __future__ import annotations

from typing import Any, ClassVar

from biasbench.adapters.base import Capabilities
from biasbench.adapters.hf_chat import HFChatAdapter, Prepared
from biasbench.core.errors import DataError
from biasbench.core.messages import Request


class HFCausalLMAdapter(HFChatAdapter):
    """Any chat model loadable with ``AutoModelForCausalLM`` + ``AutoTokenizer`` (text in, text out)."""

    name = "hf-causal-lm"
    version = "1"
    capabilities: ClassVar[Capabilities] = Capabilities(audio_in=False, text_in=True, batch=True)
    model_class = "AutoModelForCausalLM"

    class Config(HFChatAdapter.Config):
        model: str = ""
        """Hub id or local folder of a chat model with a chat template."""

    def load_processor(self, transformers: Any, common: dict[str, Any]) -> Any:
        return transformers.AutoTokenizer.from_pretrained(self.config.model, **common)

    def conversation(self, request: Request) -> list[dict[str, Any]]:
        return [{"role": message.role, "content": message.text()} for message in request.messages]

    def prepare(self, index: int, request: Request) -> Prepared:
        if request.audio_parts():
            raise DataError(f"adapter '{self.name}' is text-only but the request has audio (use 'cascade' to transcribe first)")
        return Prepared(index, self.prompt_text(request), (), 0.0, request.params, request.repeat)

    def encode_kwargs(self) -> dict[str, Any]:
        return {"add_special_tokens": False}  # the chat template already added them
