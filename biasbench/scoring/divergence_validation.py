"""Validating the divergence test on simulated pools: false-alarm rate with nothing planted, power
with a planted gendered occupation preference that leaves the mean BLS % women unchanged.

Each experiment asks the planted-preferences calibration adapter
(:mod:`biasbench.testing.planted_preferences`) every occupation prompt in every voice of a balanced
pool, reads the answers with the real open-probe task (BLS mapping), and runs
:func:`biasbench.scoring.divergence.divergence_tests` (voice-level permutations, Holm over the
axes and the cell grouping). A false alarm is *any* detection in the family when nothing is
planted; power is the share of planted experiments where the gender divergence is detected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from biasbench.core.hashing import seed_from

NULL_ANSWERS: Mapping[str, float] = MappingProxyType({
    "Registered nurse": 0.25, "Electrician": 0.25, "Lawyer": 0.25, "Financial manager": 0.25,
})
"""Every voice's answer distribution when nothing is planted."""

PLANTED_ANSWERS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    # mean BLS % women 0.5 × 87.9 + 0.5 × 2.2 = 45.05 for both groups (lawyers 38.5, financial managers 55.7)
    "female": MappingProxyType({"Registered nurse": 0.5, "Electrician": 0.5}),
    "male": MappingProxyType({"Lawyer": (55.7 - 45.05) / (55.7 - 38.5), "Financial manager": (45.05 - 38.5) / (55.7 - 38.5)}),
})
"""Planted per-gender distributions: different occupations, the same expected mean % women."""


@dataclass(frozen=True)
class DivergenceDesign:
    """A simulated pool and prompt set for the divergence test."""

    levels: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({"gender": ("female", "male"), "race": ("Asian", "Black", "White")})
    )
    """Pool axes and their values (cells are the cross product)."""
    voices_per_cell: int = 3
    """Voices in every cell."""
    n_items: int = 12
    """Occupation prompts asked in every voice."""
    voice_concentration: float = 20.0
    """Dirichlet concentration of each voice's answer distribution around its group's."""
    n_perm: int = 199
    """Permutations per test."""
    strength: float = 1.0
    """Planted experiments answer from (1 − strength) × the null distribution + strength × the group's planted one
    (any strength keeps the two genders' expected mean % women equal)."""

    def voices(self) -> list[tuple[str, dict[str, str]]]:
        """(voice id, labels) for every voice of the pool."""
        axes = list(self.levels)
        out = []
        for values in product(*(self.levels[a] for a in axes)):
            labels = dict(zip(axes, values))
            for k in range(self.voices_per_cell):
                out.append(("-".join(values) + f"-{k}", labels))
        return out


def simulate_rows(design: DivergenceDesign, seed: int, planted: bool) -> pd.DataFrame:
    """Result rows of one experiment (audio only): the calibration adapter's answers read by the open-probe task."""
    from biasbench.core.messages import Message, Request, RequestContext, TextPart
    from biasbench.tasks.open_ended import OpenEndedProbeTask
    from biasbench.testing.planted_preferences import PlantedPreferenceAdapter

    params: dict[str, Any] = {"axis": "gender", "default": dict(NULL_ANSWERS), "voice_concentration": design.voice_concentration,
                              "seed": seed}
    if planted:
        params["planted"] = {group: _mix(NULL_ANSWERS, answers, design.strength) for group, answers in PLANTED_ANSWERS.items()}
    adapter = PlantedPreferenceAdapter.from_params(params)
    task = OpenEndedProbeTask.from_params({"path": "unused.jsonl"})
    message = (Message(role="user", parts=(TextPart("simulated"),)),)
    read: dict[str, Any] = {}
    records = []
    for voice_id, labels in design.voices():
        for i in range(design.n_items):
            context = RequestContext(task="sim", item_id=f"occupation-{i:02d}", voice_id=voice_id, labels=tuple(sorted(labels.items())))
            text = adapter.answer(Request(messages=message, context=context)).text
            if text not in read:
                read[text] = task.read_answer("occupation", text)
            outcome = read[text]
            records.append({"voice_id": voice_id, "item_id": context.item_id, "item_group": "occupation", "outcome": outcome.outcome,
                            "score": outcome.score, "pct_women": outcome.details.get("pct_women"), "details": dict(outcome.details),
                            **labels})
    return pd.DataFrame.from_records(records)


def _mix(null: Mapping[str, float], planted: Mapping[str, float], strength: float) -> dict[str, float]:
    mixed = {a: (1 - strength) * null.get(a, 0.0) + strength * planted.get(a, 0.0) for a in sorted(set(null) | set(planted))}
    return {a: w for a, w in mixed.items() if w > 0}  # a zero weight would still get a Dirichlet floor per voice


def run_experiment(design: DivergenceDesign, seed: int, planted: bool) -> dict[str, Any]:
    """One experiment: the divergence family's records plus the mean % women per gender."""
    from biasbench.scoring.divergence import divergence_tests

    rows = simulate_rows(design, seed, planted)
    records = divergence_tests(rows, tuple(design.levels), n_perm=design.n_perm, seed=seed)
    women = {g: float(np.nanmean(rows.loc[rows["gender"] == g, "pct_women"].astype(float))) for g in design.levels["gender"]}
    return {"records": records, "mean_pct_women": women}


def validate_divergence(design: DivergenceDesign, n_null: int, n_planted: int, seed: int = 0) -> dict[str, Any]:
    """False-alarm rate (any detection, nothing planted) and power (gender detected, planted), with
    95% Wilson intervals, and the mean % women gap the planted experiments showed."""
    null_alarms = sum(
        any(r["detected"] for r in run_experiment(design, seed_from(seed, "null", k), planted=False)["records"]) for k in range(n_null)
    )
    detected, gaps = 0, []
    for k in range(n_planted):
        result = run_experiment(design, seed_from(seed, "planted", k), planted=True)
        detected += any(r["grouping"] == "gender" and r["detected"] for r in result["records"])
        women = result["mean_pct_women"]
        gaps.append(women["female"] - women["male"])
    return {
        "n_null": n_null, "false_alarms": int(null_alarms), "false_alarm_rate": null_alarms / n_null if n_null else float("nan"),
        "false_alarm_ci": wilson(null_alarms, n_null),
        "n_planted": n_planted, "detections": int(detected), "power": detected / n_planted if n_planted else float("nan"),
        "power_ci": wilson(detected, n_planted),
        "planted_mean_pct_women_gap": float(np.mean(gaps)) if gaps else float("nan"),
    }


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))



