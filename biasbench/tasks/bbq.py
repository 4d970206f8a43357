"""Spoken BBQ (Parrish et al. 2022): context, question and three options spoken; ambiguous and disambiguated.

Data: a local folder of the official ``<Category>.jsonl`` files or a Hugging Face dataset. The
stereotyped target option of each example is derived from ``answer_info`` and
``additional_metadata.stereotyped_groups`` (:func:`stereotyped_target`); examples where no single
option matches are kept for accuracy and flagged ``answer_role='undetermined'`` for bias scores.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import Field

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import seed_from
from biasbench.core.item import Item
from biasbench.core.registry import did_you_mean
from biasbench.tasks.choice import CANT_TELL_ALIASES, ChoiceTask
from biasbench.tasks.sources import load_hf_rows, read_records

CATEGORIES = (
    "Age", "Disability_status", "Gender_identity", "Nationality", "Physical_appearance", "Race_ethnicity",
    "Race_x_gender", "Race_x_SES", "Religion", "SES", "Sexual_orientation",
)
"""The eleven official BBQ categories (file stems of the official jsonl files)."""

_GENDER_WORDS = {"f": {"f", "woman", "girl", "female"}, "m": {"m", "man", "boy", "male"}}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def stereotyped_target(answer_info: Mapping[str, Sequence[str]], stereotyped_groups: Sequence[str]) -> int | None:
    """Index (0-2) of the option naming a stereotyped group, or None when zero or several options do.

    An option matches when its answer text, its group label, or a part of the label split on
    '_' / '-' (e.g. 'trans_F' -> 'trans', 'F') equals a stereotyped group after lowercasing and
    removing non-alphanumerics; 'F' / 'M' also match woman/girl/female and man/boy/male.
    """
    wanted: set[str] = set()
    for group in stereotyped_groups:
        key = _norm(group)
        wanted |= _GENDER_WORDS.get(key, {key})
    matches = []
    for index in range(3):
        text, label = (list(answer_info[f"ans{index}"]) + ["", ""])[:2]
        if label == "unknown":
            continue
        names = {_norm(text), _norm(label), *(_norm(part) for part in re.split(r"[_\-]", label))}
        if names & wanted:
            matches.append(index)
    return matches[0] if len(matches) == 1 else None


class BBQTask(ChoiceTask):
    """BBQ spoken: context + question + three options; s_DIS / s_AMB via biasbench.tasks.metrics.bbq."""

    kind = "bbq"
    path_fields = ("path",)

    class Config(ChoiceTask.Config):
        path: str | None = None
        """Folder of official BBQ jsonl files (``Age.jsonl``, ...); None loads ``hf_dataset``."""
        hf_dataset: str = "heegyu/bbq"
        """Hugging Face dataset (one config per category) used when ``path`` is None."""
        hf_revision: str | None = None
        """Dataset revision to pin."""
        categories: list[str] | None = None
        """Categories to load (default: every official category file found in ``path``)."""
        conditions: list[Literal["ambig", "disambig"]] = ["ambig", "disambig"]
        """Context conditions to keep."""
        n_per_category: int | None = Field(None, ge=1)
        """Seeded sample of this many examples per category (None: all)."""
        instruction: str = "Answer with the letter of the correct option ({letters}) only."

    def item_group(self, item: Item) -> str:
        return str(item.metadata["category"])

    def load_items(self) -> list[Item]:
        items = []
        for category in self._categories():
            rows = self._read(category)
            for row in rows:
                if row.get("context_condition") in self.config.conditions:
                    items.append(_item(self.name, category, row))
        return items

    def select(self, items: list[Item]) -> list[Item]:
        if self.config.n_per_category is None:
            return items
        chosen: list[Item] = []
        for category in dict.fromkeys(self.item_group(item) for item in items):
            pool = [item for item in items if self.item_group(item) == category]
            n = min(self.config.n_per_category, len(pool))
            picked = sorted(random.Random(seed_from("bbq", self.config.seed, category)).sample(range(len(pool)), n))
            chosen.extend(pool[i] for i in picked)
        return chosen

    def answer_details(self, item: Item, original_index: int) -> dict[str, Any]:
        meta = item.metadata
        target, unknown = meta["target_index"], meta["unknown_index"]
        if original_index == unknown:
            role, biased = "unknown", None
        elif target is None:
            role, biased = "undetermined", None
        else:
            role = "target" if original_index == target else "non_target"
            biased = (meta["polarity"] == "neg") == (role == "target")
        return {
            "category": meta["category"], "condition": meta["condition"], "polarity": meta["polarity"],
            "answer_role": role, "biased": biased, "target_index": target, "unknown_index": unknown,
        }

    def _categories(self) -> list[str]:
        for name in self.config.categories or ():
            if name not in CATEGORIES:
                raise ConfigError(f"unknown BBQ category '{name}'{did_you_mean(name, list(CATEGORIES))}")
        if self.config.categories:
            return list(self.config.categories)
        if self.config.path is None:
            return list(CATEGORIES)
        found = [c for c in CATEGORIES if (Path(self.config.path) / f"{c}.jsonl").is_file()]
        if not found:
            raise DataError(f"no official BBQ category files (e.g. Age.jsonl) in {self.config.path}")
        return found

    def _read(self, category: str) -> list[dict[str, Any]]:
        if self.config.path is None:
            return load_hf_rows(self.config.hf_dataset, category, "test", self.config.hf_revision)
        file = Path(self.config.path) / f"{category}.jsonl"
        if not file.is_file():
            raise DataError(f"BBQ file {file.name} not found in {self.config.path}")
        return read_records(file, "jsonl")


def _item(task: str, category: str, row: Mapping[str, Any]) -> Item:
    try:
        info = row["answer_info"]
        choices = (str(row["ans0"]), str(row["ans1"]), str(row["ans2"]))
        unknown = next(i for i in range(3) if info[f"ans{i}"][1] == "unknown")
        metadata = {
            "category": category,
            "group": category,
            "condition": row["context_condition"],
            "polarity": row["question_polarity"],
            "question_index": str(row["question_index"]),
            "subcategory": str(row["additional_metadata"].get("subcategory", "")),
            "stereotyped_groups": list(row["additional_metadata"]["stereotyped_groups"]),
            "unknown_index": unknown,
            "target_index": stereotyped_target(info, row["additional_metadata"]["stereotyped_groups"]),
            "aliases": {str(unknown): list(CANT_TELL_ALIASES)},
        }
        return Item(f"{category}/{row['example_id']}", task, f"{row['context']} {row['question']}", choices,
                    int(row["label"]), metadata)
    except (KeyError, StopIteration, TypeError, ValueError) as exc:
        raise DataError(f"BBQ {category} example {row.get('example_id', '?')} is malformed ({type(exc).__name__}: {exc})") from None
