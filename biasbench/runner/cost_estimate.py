"""Cost of a run before running it (`biasbench estimate-cost`): the plan's rows priced per model."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from biasbench.adapters.pricing import FREE, estimate_cost
from biasbench.config import RunConfig
from biasbench.runner.plan import load_plan
from biasbench.runner.requests import generation_params


@dataclass(frozen=True)
class ModelCostEstimate:
    """Upper-bound cost of one model's share of a run."""

    model: str
    """Model label from the config."""
    adapter: str
    """Adapter name."""
    requests: int
    """Planned requests (all rows, cached or not)."""
    audio_seconds: float
    """Estimated seconds of speech sent (from word counts)."""
    usd: float
    """Upper bound in USD (every answer assumed to use max_new_tokens); 0 for local models."""


def estimate_run(config: RunConfig, base_dir: Path) -> list[ModelCostEstimate]:
    """One estimate per model of ``config`` (nothing is synthesized, loaded or called)."""
    plan = load_plan(config, base_dir)
    prompts: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for row in plan.rows:
        prompts[row.model].append((row.spoken_text if row.modality == "audio" else None, row.text))
    estimates = []
    for model in config.models:
        rows = prompts.get(model.name, [])
        max_new = generation_params(config, model).max_new_tokens
        adapter = plan.adapters[model.name]
        counts = estimate_cost(FREE, rows, max_new)
        usd = adapter.estimate_cost_usd(rows, max_new)
        estimates.append(ModelCostEstimate(model.name, model.adapter, len(rows), counts.audio_seconds, usd))
    return estimates
