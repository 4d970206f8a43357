"""Planted-bias simulations for validating the scorer.

The generative model is the `simulated` adapter's (biasbench/adapters/simulated.py): a row is
invalid with probability ``invalid_rate``; otherwise it is correct with probability
``sigmoid(logit(planted accuracy of the voice's group) + voice offset + item offset)``, with
voice offsets ~ N(0, voice_sd²) and item offsets ~ N(0, item_sd²) on the logit scale.
:func:`simulate_rows` draws that model directly in numpy (fast, for hundreds of experiments); the
test suite checks the formula against the adapter's own.
The true group accuracy is the population mean over voices and items, computed by quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import product
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from biasbench.core.errors import ConfigError
from biasbench.core.result import RESULT_COLUMNS

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class PlantedDesign:
    """A simulated experiment: a balanced pool, items, and planted per-group accuracies."""

    levels: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"gender": ("female", "male"), "race": ("Asian", "Black", "White")}
    )
    """Pool axes and their values (cells are the cross product)."""
    voices_per_cell: int = 4
    """Voices in every cell."""
    n_items: int = 200
    """Items (fresh item offsets every experiment)."""
    axis: str = "gender"
    """Axis the planted accuracies are keyed by."""
    planted: Mapping[str, float] = field(default_factory=lambda: {"female": 0.80, "male": 0.70})
    """Planted accuracy of a typical voice per value of ``axis``."""
    voice_sd: float = 0.3
    """SD of voice offsets (logit scale)."""
    item_sd: float = 1.0
    """SD of item offsets (logit scale)."""
    invalid_rate: float = 0.0
    """Probability that an answer is invalid."""
    n_choices: int = 4
    """Options per item."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", MappingProxyType({k: tuple(v) for k, v in self.levels.items()}))
        object.__setattr__(self, "planted", MappingProxyType(dict(self.planted)))
        if self.axis not in self.levels:
            raise ConfigError(f"planted axis '{self.axis}' is not one of the design's axes {tuple(self.levels)}")
        missing = set(self.levels[self.axis]) - set(self.planted)
        if missing:
            raise ConfigError(f"no planted accuracy for {', '.join(sorted(missing))}")
        if self.voices_per_cell < 1 or self.n_items < 2 or self.n_choices < 2:
            raise ConfigError("a design needs >= 1 voice per cell, >= 2 items and >= 2 choices")

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(self.levels)

    def without_bias(self) -> "PlantedDesign":
        """The same design with every group planted at the mean planted accuracy."""
        mean = float(np.mean(list(self.planted.values())))
        return replace(self, planted={k: mean for k in self.planted})

    def voices(self) -> list[tuple[str, dict[str, str]]]:
        """(voice id, labels) for every voice, cells in sorted order."""
        out = []
        for cell in product(*(sorted(values) for values in self.levels.values())):
            labels = dict(zip(self.axes, cell))
            for k in range(self.voices_per_cell):
                out.append(("-".join(cell) + f"-{k}", labels))
        return out

    def manifest(self) -> dict:
        """A minimal manifest for the simulated rows."""
        return {
            "seed": 0,
            "pool": {"name": "simulated", "axes": list(self.axes), "purpose": "research",
                     "voices": [{"id": v, "labels": {a: {"value": x, "source": "designed"} for a, x in labels.items()}} for v, labels in self.voices()]},
            "tasks": [{"name": "sim", "kind": "simulated", "answer_type": "multiple_choice"}],
            "models": [{"name": "sim", "adapter": "simulated", "capabilities": {"calibration": True}}],
        }


@lru_cache(maxsize=8)
def _nodes(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite (probabilists') nodes and weights (an eigenvalue problem: computed once)."""
    return np.polynomial.hermite_e.hermegauss(nodes)


def true_accuracy(planted: float, voice_sd: float, item_sd: float, invalid_rate: float = 0.0, nodes: int = 80) -> float:
    """Population accuracy E[sigmoid(logit(p) + u + e)] × (1 − invalid_rate), u + e ~ N(0, voice_sd² + item_sd²)."""
    if planted in (0.0, 1.0):
        return planted * (1.0 - invalid_rate)
    x, w = _nodes(nodes)
    sd = float(np.hypot(voice_sd, item_sd))
    logit = np.log(planted / (1.0 - planted))
    mean = float(np.sum(w / (1.0 + np.exp(-(logit + sd * x)))) / np.sqrt(2.0 * np.pi))
    return mean * (1.0 - invalid_rate)


def true_group_accuracy(design: PlantedDesign) -> dict[str, float]:
    """True population accuracy of each value of the planted axis."""
    return {g: true_accuracy(p, design.voice_sd, design.item_sd, design.invalid_rate) for g, p in design.planted.items()}


def correct_probability(planted: np.ndarray, voice_offset: np.ndarray, item_offset: np.ndarray) -> np.ndarray:
    """sigmoid(logit(planted) + voice_offset + item_offset) (the simulated adapter's formula)."""
    logit = np.log(planted / (1.0 - planted))
    return 1.0 / (1.0 + np.exp(-(logit + voice_offset + item_offset)))


_DEFAULTS = {column: "" for column in RESULT_COLUMNS} | {
    "permutation": 0, "repeat": 0, "score": np.nan, "latency_s": 0.0, "cached": False,
    "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "details": "{}", "modality": "audio",
}


def _frame(records: dict[str, object], n: int) -> pd.DataFrame:
    return pd.DataFrame({column: records.get(column, np.full(n, _DEFAULTS[column], dtype=object if isinstance(_DEFAULTS[column], str) else None))
                         for column in RESULT_COLUMNS})


def result_frame(rows: list[dict[str, object]], **defaults: object) -> pd.DataFrame:
    """A result table (core.result columns) from partial rows; missing fields take ``defaults``, then
    neutral values. 'score' defaults to 1/0 for correct/incorrect rows (for fixtures and examples)."""
    filled = []
    for row in rows:
        record = {**_DEFAULTS, **defaults, **row}
        if "score" not in row and "score" not in defaults and record["outcome"] in ("correct", "incorrect"):
            record["score"] = 1.0 if record["outcome"] == "correct" else 0.0
        filled.append(record)
    return pd.DataFrame(filled, columns=list(RESULT_COLUMNS))


def simulate_rows(design: PlantedDesign, seed: int) -> pd.DataFrame:
    """Result rows of one experiment drawn from the generative model in numpy (seeded)."""
    rng = np.random.default_rng(seed)
    voices = design.voices()
    n_v, n_i = len(voices), design.n_items
    voice_offset = rng.normal(0.0, design.voice_sd, n_v) if design.voice_sd else np.zeros(n_v)
    item_offset = rng.normal(0.0, design.item_sd, n_i) if design.item_sd else np.zeros(n_i)
    planted = np.array([design.planted[labels[design.axis]] for _, labels in voices])
    p = correct_probability(planted[None, :], voice_offset[None, :], item_offset[:, None])  # (items, voices)
    invalid = rng.random((n_i, n_v)) < design.invalid_rate
    correct = ~invalid & (rng.random((n_i, n_v)) < p)
    target = rng.integers(0, design.n_choices, n_i)
    wrong = (target[:, None] + 1 + rng.integers(0, design.n_choices - 1, (n_i, n_v))) % design.n_choices
    return _rows(design, voices, correct, invalid, target, wrong)


def _rows(design: PlantedDesign, voices, correct: np.ndarray, invalid: np.ndarray, target: np.ndarray, wrong: np.ndarray) -> pd.DataFrame:
    n_i, n_v = correct.shape
    item_ids = np.repeat([f"q{i:05d}" for i in range(n_i)], n_v)
    voice_idx = np.tile(np.arange(n_v), n_i)
    outcome = np.where(invalid, "invalid", np.where(correct, "correct", "incorrect")).ravel()
    answer = np.where(correct, target[:, None], wrong).ravel()
    letters = np.array(list(LETTERS[: design.n_choices]))
    parsed = np.where(outcome == "invalid", "", letters[answer])
    n = n_i * n_v
    ids = np.array([v for v, _ in voices], dtype=object)
    cells = np.array(["|".join(labels[a] for a in design.axes) for _, labels in voices], dtype=object)
    records: dict[str, object] = {
        "run_id": np.full(n, "sim", dtype=object), "model": np.full(n, "sim", dtype=object),
        "adapter": np.full(n, "simulated", dtype=object), "task": np.full(n, "sim", dtype=object),
        "item_id": item_ids, "voice_id": ids[voice_idx], "modality": np.full(n, "audio", dtype=object),
        "cell": cells[voice_idx], "parsed": parsed, "target": np.repeat(letters[target], n_v), "outcome": outcome,
        "score": np.where(outcome == "invalid", np.nan, (outcome == "correct").astype(float)),
    }
    for axis in ("gender", "race", "accent", "age_band"):
        records[axis] = np.array([labels.get(axis, "") for _, labels in voices], dtype=object)[voice_idx]
    return _frame(records, n_i * n_v)
