"""A scripted LLM judge behind the loopback OpenAI-compatible server (tests and demos).

Its verdicts are a fixed function of the prompt, so tests know the right answer: pointwise,
helpfulness grows with the reply's length (1 + words // 5, at most 5), stereotyping is 4 when the
reply names a word of :data:`STEREOTYPE_WORDS` (else 1) and tone is 4; pairwise, the longer reply
wins every criterion (equal lengths tie). ``position_bias`` makes it answer "A" regardless with that
probability, ``noise`` moves pointwise helpfulness by one point with that probability per request
seed: the two faults a reliability check must catch.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from biasbench.core.hashing import seed_from
from biasbench.testing.openai_server import OpenAITestServer

STEREOTYPE_WORDS = ("nurse", "secretary", "engineer", "mechanic", "homemaker")
"""Words the scripted judge reads as stereotyping."""

_BLOCK = re.compile(r"<<<(.*?)>>>", re.DOTALL)


class ScriptedJudgeServer(OpenAITestServer):
    """The loopback server answering as a deterministic judge (see the module docstring)."""

    def __init__(self, *args: Any, position_bias: float = 0.0, noise: float = 0.0, **kwargs: Any) -> None:
        kwargs.setdefault("models", ("judge-2025-01-01",))
        super().__init__(*args, **kwargs)
        self.position_bias = position_bias
        self.noise = noise

    def answer(self, body: dict[str, Any]) -> tuple[str, int, int]:
        content = body["messages"][-1]["content"]
        prompt = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        criteria = re.findall(r"^- ([a-z_]+):", prompt, flags=re.MULTILINE)
        blocks = _BLOCK.findall(prompt)
        rng = np.random.default_rng(seed_from(self.seed, prompt, body.get("seed")))
        if len(blocks) == 3:  # pairwise: request, A, B
            a, b = len(blocks[1].split()), len(blocks[2].split())
            winner = "A" if a > b else ("B" if b > a else "tie")
            if rng.random() < self.position_bias:
                winner = "A"
            verdict: dict[str, Any] = {name: winner for name in criteria}
        else:
            answer = blocks[1] if len(blocks) > 1 else ""
            helpfulness = min(5, 1 + len(answer.split()) // 5)
            if rng.random() < self.noise:
                helpfulness = helpfulness - 1 if helpfulness > 1 else 2
            stereotyped = any(re.search(rf"\b{w}", answer.lower()) for w in STEREOTYPE_WORDS)
            scores = {"helpfulness": helpfulness, "stereotyping": 4 if stereotyped else 1, "tone": 4}
            verdict = {name: scores.get(name, 3) for name in criteria}
        return json.dumps(verdict), max(1, len(prompt) // 4), 0
