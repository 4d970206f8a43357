"""Spoken MMLU: local CSVs (either common layout) or Hugging Face ``cais/mmlu``; stratified per subject.

Screen first, then sample. Every item of the wanted subjects is screened (speakability,
``max_audio_seconds``); the items that fail are the task's exclusions, listed with reasons. Each
subject's quota is n = max(1, round_half_up(fraction × N)), N the subject's item count in the split,
computed in decimal arithmetic (0.1 × 145 = 14.5 -> 15), never more than N (``n_per_subject``
takes min(n, N) instead). The quota is drawn from the subject's *speakable* items with a seed
derived from (seed, subject), so filtering subjects does not change the others' draws. When a
subject has fewer speakable items than its quota, all of them are taken and
:meth:`MMLUTask.stratification` lists the shortfall with its reasons (also shown by
`biasbench tasks show mmlu`).
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import seed_from
from biasbench.core.item import Exclusion, Item
from biasbench.core.registry import did_you_mean
from biasbench.tasks.choice import ChoiceTask
from biasbench.tasks.parsers import LETTERS
from biasbench.tasks.sources import load_hf_rows

REFORMATTED_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
"""Header of the reformatted layout (answer 0-3); the original layout has no header and a letter answer."""


def stratum_size(available: int, fraction: float | None, n_per_subject: int | None) -> int:
    """Items to draw from a subject of ``available`` items (see the module docstring)."""
    if n_per_subject is not None:
        return min(n_per_subject, available)
    if fraction is None:
        return available
    rounded = int((Decimal(str(fraction)) * available).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return min(available, max(1, rounded))


class MMLUTask(ChoiceTask):
    """MMLU questions spoken by every voice, stratified by subject."""

    kind = "mmlu"
    path_fields = ("path",)

    class Config(ChoiceTask.Config):
        path: str | None = None
        """Local MMLU folder (``test/<subject>_test.csv`` or ``<subject>_test.csv``); None loads ``hf_dataset``."""
        hf_dataset: str = "cais/mmlu"
        """Hugging Face dataset used when ``path`` is None."""
        hf_revision: str | None = None
        """Dataset revision (commit) to pin; recorded in the manifest."""
        split: Literal["test", "dev", "validation"] = "test"
        """Split to draw from."""
        subjects: list[str] | None = None
        """Only these subjects (None: all)."""
        exclude_subjects: list[str] = Field(default_factory=list)
        """Subjects to leave out."""
        fraction: float | None = Field(None, gt=0, le=1)
        """Stratified share per subject, in (0, 1]."""
        n_per_subject: int | None = Field(None, ge=1)
        """Fixed number per subject (instead of ``fraction``)."""

        @model_validator(mode="after")
        def _one_sampling_rule(self) -> "MMLUTask.Config":
            if self.fraction is not None and self.n_per_subject is not None:
                raise ValueError("set fraction or n_per_subject, not both")
            if self.n_items is not None:
                raise ValueError("MMLU samples per subject: use fraction or n_per_subject, not n_items")
            return self

    def item_group(self, item: Item) -> str:
        return str(item.metadata["subject"])

    def load_items(self) -> list[Item]:
        rows = self._read_local(Path(self.config.path)) if self.config.path else self._read_hf()
        subjects = sorted({subject for subject, *_ in rows})
        wanted = self._wanted_subjects(subjects)
        items = []
        for subject, index, question, choices, answer in rows:
            if subject in wanted:
                meta = {"subject": subject, "group": subject, "source_index": index}
                items.append(Item(f"{subject}/{index}", self.name, question, choices, answer, meta))
        return items

    def prepare_items(self) -> tuple[list[Item], list[Exclusion]]:
        """Screen every candidate, then draw each subject's quota from its speakable items."""
        self._check_rotations(self.candidates())
        speakable, excluded = self.screen(self.candidates())
        return self.select(speakable), excluded

    def select(self, items: list[Item]) -> list[Item]:
        """Each subject's quota (from its total item count) drawn from ``items`` (its speakable items)."""
        totals = Counter(self.item_group(item) for item in self.candidates())
        by_subject: dict[str, list[Item]] = {}
        for item in items:
            by_subject.setdefault(self.item_group(item), []).append(item)
        chosen: list[Item] = []
        for subject, pool in sorted(by_subject.items()):
            n = min(len(pool), stratum_size(totals[subject] or len(pool), self.config.fraction, self.config.n_per_subject))
            rng = random.Random(seed_from("mmlu", self.config.seed, subject))
            picked = sorted(rng.sample(range(len(pool)), n))
            chosen.extend(pool[i] for i in picked)
        return chosen

    def stratification(self) -> list[dict[str, Any]]:
        """Per subject: available (N), speakable, target (the documented quota), kept, and the shortfall
        (target − kept) with its reasons (the subject's exclusions by kind)."""
        available = Counter(self.item_group(item) for item in self.candidates())
        kept = Counter(self.item_group(item) for item in self.items())
        reasons: dict[str, Counter[str]] = {}
        for exclusion in self.exclusions():
            subject = str(exclusion.metadata.get("item_group", ""))
            reasons.setdefault(subject, Counter()).update(_reason_kinds(exclusion.reason))
        excluded = Counter(str(e.metadata.get("item_group", "")) for e in self.exclusions())
        table = []
        for subject in sorted(available):
            target = stratum_size(available[subject], self.config.fraction, self.config.n_per_subject)
            speakable = available[subject] - excluded[subject]
            shortfall = target - kept[subject]
            why = "; ".join(f"{reason}: {n}" for reason, n in reasons.get(subject, Counter()).most_common())
            table.append({
                "subject": subject, "available": available[subject], "speakable": speakable, "target": target,
                "excluded": excluded[subject], "kept": kept[subject], "shortfall": shortfall,
                "shortfall_reason": f"only {speakable} of {available[subject]} items are speakable (excluded: {why})" if shortfall else "",
            })
        return table

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "stratification": self.stratification()}

    def _wanted_subjects(self, known: list[str]) -> set[str]:
        requested = list(self.config.subjects or known) + list(self.config.exclude_subjects)
        unknown = [s for s in requested if s not in known]
        if unknown:
            raise ConfigError(
                f"unknown MMLU subject '{unknown[0]}'{did_you_mean(unknown[0], known)}"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            )
        return set(self.config.subjects or known) - set(self.config.exclude_subjects)

    def _read_local(self, folder: Path) -> list[tuple[str, int, str, tuple[str, ...], int]]:
        split = self.config.split
        files = sorted(folder.glob(f"{split}/*_{split}.csv")) or sorted(folder.glob(f"*_{split}.csv"))
        if not files:
            raise DataError(f"no MMLU files '*_{split}.csv' in {folder} or {folder / split}")
        rows = []
        for file in files:
            subject = file.name[: -len(f"_{split}.csv")]
            rows.extend((subject, *row) for row in _read_mmlu_csv(file))
        return rows

    def _read_hf(self) -> list[tuple[str, int, str, tuple[str, ...], int]]:
        split = "validation" if self.config.split == "validation" else self.config.split
        records = load_hf_rows(self.config.hf_dataset, "all", split, self.config.hf_revision)
        counters: Counter[str] = Counter()
        rows = []
        for record in records:
            subject = str(record["subject"])
            rows.append((subject, counters[subject], str(record["question"]), tuple(map(str, record["choices"])), int(record["answer"])))
            counters[subject] += 1
        return rows


def _read_mmlu_csv(file: Path) -> list[tuple[int, str, tuple[str, ...], int]]:
    """(row index, question, four choices, answer index) of one subject file, either layout."""
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {file}: {type(exc).__name__}") from None
    header = bool(table) and [cell.strip() for cell in table[0]] == REFORMATTED_HEADER
    rows = []
    for index, row in enumerate(table[1:] if header else table):
        if len(row) != 6:
            raise DataError(f"{file} row {index + 1 + header} has {len(row)} columns, expected 6")
        answer = row[5].strip()
        try:
            target = int(answer) if header else LETTERS.index(answer)
        except ValueError:
            raise DataError(f"{file} row {index + 1 + header}: answer '{answer}' is not {'0-3' if header else 'A-D'}") from None
        if not 0 <= target < 4:
            raise DataError(f"{file} row {index + 1 + header}: answer '{answer}' is out of range")
        rows.append((index, row[0], tuple(row[1:5]), target))
    return rows


def _reason_kinds(reason: str) -> list[str]:
    """Short kinds of one exclusion's reasons ('too long', 'contains code', ...)."""
    return ["too long" if "max_audio_seconds" in part else part.split(" (")[0] for part in reason.split("; ")]
