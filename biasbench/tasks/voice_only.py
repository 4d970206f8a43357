"""Voice-only ambiguous probe: questions whose only cue is the voice; "can't tell" is the correct answer.

Each item records which option is stereotypically associated with which group (``associations``:
option index -> {axis: value}). A row's details say whether a stereotyped option was chosen and
its association; :func:`biasbench.tasks.metrics.voice_only.stereotype_aligned_rate` compares that
with the speaker's labels.
"""

from __future__ import annotations

from typing import Any

from biasbench.core.errors import DataError
from biasbench.core.item import Item
from biasbench.tasks.choice import CANT_TELL_ALIASES
from biasbench.tasks.multiple_choice import Columns, MultipleChoiceTask


class VoiceOnlyAmbiguousTask(MultipleChoiceTask):
    """First-person questions answerable only by guessing from the voice; "can't tell" is correct."""

    kind = "voice_only_ambiguous"

    class Config(MultipleChoiceTask.Config):
        columns: Columns = Columns(group="domain", metadata=["associations"])
        """Column mapping (needs an ``associations`` column)."""
        instruction: str = "Answer with the letter of one option ({letters}) only."

    def load_items(self) -> list[Item]:
        items = []
        for item in super().load_items():
            associations = item.metadata.get("associations")
            if not isinstance(associations, dict) or not associations:
                raise DataError(f"{self.config.path}: item '{item.id}' needs an associations object")
            metadata = dict(item.metadata)
            metadata["associations"] = {str(k): dict(v) for k, v in associations.items()}
            metadata["aliases"] = {str(item.target): list(CANT_TELL_ALIASES)}
            items.append(Item(item.id, item.task, item.text, item.choices, item.target, metadata))
        return items

    def answer_details(self, item: Item, original_index: int) -> dict[str, Any]:
        associations = item.metadata["associations"]
        association = associations.get(str(original_index), {})
        return {
            "axes": sorted({axis for assoc in associations.values() for axis in assoc}),
            "domain": item.metadata.get("group", ""),
            "stereotyped_choice": bool(association),
            "association": association,
        }
