"""The judge's client: the real ``openai`` package against any OpenAI-compatible endpoint (lazy import)."""

from __future__ import annotations

import os
from typing import Any

from biasbench.core.deps import require
from biasbench.core.errors import AdapterError, ConfigError
from biasbench.judge.config import JudgeConfig


class JudgeClient:
    """Sends one text prompt, returns the reply text; counts the calls it made."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.calls = 0
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            openai = require("openai", "openai", purpose="the LLM judge")
            if self.config.api_key_env == "none":
                key = "none"
            else:
                key = os.environ.get(self.config.api_key_env, "")
                if not key:
                    raise ConfigError(f"the judge's API key variable {self.config.api_key_env} is not set",
                                      hint="export it, or set api_key_env: none for an endpoint without keys")
            self._client = openai.OpenAI(base_url=self.config.base_url, api_key=key, timeout=self.config.timeout_s,
                                         max_retries=self.config.max_retries)
        return self._client

    def ask(self, prompt: str, repeat: int) -> str:
        """The judge's reply to ``prompt`` (repeat r is sent with seed + r)."""
        client = self._connect()
        openai = require("openai", "openai")
        self.calls += 1
        try:
            reply = client.chat.completions.create(
                model=self.config.model, messages=[{"role": "user", "content": prompt}], temperature=self.config.temperature,
                top_p=1.0, seed=self.config.seed + repeat, max_tokens=self.config.max_tokens,
            )
        except openai.APIError as exc:
            message = " ".join(str(exc).split())[:200]
            raise AdapterError(f"the judge endpoint failed: {message}") from None
        return reply.choices[0].message.content or ""
