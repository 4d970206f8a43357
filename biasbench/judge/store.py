"""Stored judgements, keyed by judge snapshot + rubric hash + prompt + repeat (one JSONL file per run).

A judgement is reused only when all four match, so a new judge or an edited rubric asks the judge
again (from the stored answers; the models under test are never asked), and rerunning the same
judge costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biasbench.core.errors import DataError
from biasbench.core.hashing import stable_hash


def judgement_key(snapshot: str, rubric_digest: str, prompt: str, repeat: int) -> str:
    """The score key of one judgement."""
    return stable_hash("judge", snapshot, rubric_digest, prompt, repeat)[:24]


class JudgementStore:
    """Append-only JSONL of {key, snapshot, rubric, prompt_sha, repeat, reply}."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._replies: dict[str, str] = {}
        if self.path.is_file():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    self._replies[str(record["key"])] = str(record["reply"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise DataError(f"{self.path} line {number} is not a judgement record",
                                    hint="delete the file to judge again from scratch") from None

    def get(self, key: str) -> str | None:
        return self._replies.get(key)

    def put(self, key: str, reply: str, **identity: Any) -> None:
        self._replies[key] = reply
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, **identity, "reply": reply}, sort_keys=True) + "\n")
