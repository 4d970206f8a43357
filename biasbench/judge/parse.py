"""Reading the judge's JSON reply: scores 1..5 per criterion (pointwise) or A / B / tie (pairwise)."""

from __future__ import annotations

import json
import re
from typing import Sequence

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def _first_object(reply: str) -> dict | None:
    for found in _OBJECT.finditer(reply):
        try:
            value = json.loads(found.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_pointwise(reply: str, criteria: Sequence[str]) -> dict[str, int] | None:
    """{criterion: 1..5}, or None when the reply lacks a criterion or a score is off the scale."""
    value = _first_object(reply)
    if value is None:
        return None
    out = {}
    for name in criteria:
        score = value.get(name)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 5 or int(score) != score:
            return None
        out[name] = int(score)
    return out


def parse_pairwise(reply: str, criteria: Sequence[str]) -> dict[str, str] | None:
    """{criterion: 'A' | 'B' | 'tie'}, or None when the reply lacks one."""
    value = _first_object(reply)
    if value is None:
        return None
    out = {}
    for name in criteria:
        choice = str(value.get(name, "")).strip().upper()
        if choice not in ("A", "B", "TIE"):
            return None
        out[name] = "tie" if choice == "TIE" else choice
    return out
