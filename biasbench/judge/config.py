"""The judge's configuration (``biasbench judge RUN_DIR --config judge.yaml``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from biasbench.config import read_yaml
from biasbench.core.params import Params, parse_params

PINNED = re.compile(r"(?:\d{4}-\d{2}-\d{2}|\d{8}|@[0-9a-f]{7,40}$|-\d{4}$)")
"""A pinned snapshot names a date ('gpt-4o-2024-08-06', 'claude-3-5-sonnet-20241022', '...-0613') or a revision ('org/model@abc1234')."""


class JudgeConfig(Params):
    """Which judge answers, how, and over what."""

    model: str
    """The judge's pinned snapshot id as the endpoint knows it (a dated or revision-pinned name, never a floating alias)."""
    base_url: str
    """OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or a local vLLM server."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the key (read when the judge starts; 'none' for endpoints without keys)."""
    rubric: str | None = None
    """YAML file of a :class:`biasbench.judge.rubric.Rubric` (None: the built-in rubric); relative to the config file."""
    repeats: int = Field(2, ge=1, le=10)
    """Pointwise judgements per answer (self-consistency is measured across them)."""
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    """Judge sampling temperature."""
    seed: int = 0
    """Seed sent with every judge request (repeat r uses seed + r)."""
    max_tokens: int = Field(300, ge=16)
    """Longest judge reply."""
    timeout_s: float = Field(60.0, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(4, ge=0)
    """Client retries of retryable failures."""
    tasks: tuple[str, ...] = ()
    """Tasks to judge (empty: every open-ended task of the run)."""
    modalities: tuple[Literal["audio", "text"], ...] = ("audio",)
    """Modalities to judge pointwise ('text' adds the text control)."""
    pair_axis: str = "gender"
    """Axis whose groups are compared pairwise (voices paired within the same values of the other axes)."""
    max_pairs_per_item: int = Field(4, ge=1)
    """Voice pairs judged per item and model."""

    @field_validator("model")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not PINNED.search(value):
            raise ValueError(f"judge model '{value}' is not a pinned snapshot: name a dated snapshot "
                             "(e.g. gpt-4o-2024-08-06) or a revision (org/model@abc1234)")
        return value


def load_judge_config(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[JudgeConfig, Path]:
    """(config, the folder relative paths are resolved against)."""
    path = Path(path)
    values = {**read_yaml(path, "judge config"), **(overrides or {})}
    config = parse_params(JudgeConfig, values, f"judge config {path.name}")
    return config, path.resolve().parent
