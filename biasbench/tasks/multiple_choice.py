"""Multiple-choice items from a CSV / JSONL / JSON file with a column mapping (custom tasks without code)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from biasbench.core.errors import DataError
from biasbench.core.item import Item
from biasbench.core.params import Params
from biasbench.tasks.choice import ChoiceTask
from biasbench.tasks.parsers import LETTERS
from biasbench.tasks.sources import read_records


class ItemColumns(Params):
    """Which columns of a choice-item data file hold the item (shared by every file-based choice kind)."""

    id: str | None = "id"
    """Item id column (None: the row number)."""
    question: str = "question"
    """Question text column."""
    choices: str | list[str] = "choices"
    """One column holding a list (JSON list, or '|'-separated text in CSV), or a list of columns, one per option."""
    group: str | None = None
    """Optional stratum column (reported as item_group)."""
    metadata: list[str] = Field(default_factory=list)
    """Further columns kept in item metadata (e.g. a target-group column)."""


class Columns(ItemColumns):
    """Which columns of the data file hold what."""

    answer: str = "answer"
    """Correct-answer column (see ``answer_format``)."""


class MultipleChoiceTask(ChoiceTask):
    """Multiple-choice items read from a local file through a column mapping."""

    kind = "multiple_choice"
    path_fields = ("path",)

    class Config(ChoiceTask.Config):
        path: str
        """CSV, JSONL or JSON file (relative paths: see tasks.loading)."""
        format: Literal["auto", "csv", "jsonl", "json"] = "auto"
        """File format ('auto': by extension)."""
        columns: Columns = Columns()
        """Column mapping."""
        answer_format: Literal["index", "index1", "letter", "text"] = "index"
        """'index': 0-based; 'index1': 1-based; 'letter': A, B, ...; 'text': equals one option's text."""

    def load_items(self) -> list[Item]:
        rows = read_records(self.config.path, self.config.format)
        columns = self.config.columns
        needed = [columns.question, self._key_column(), *_as_list(columns.choices), *columns.metadata]
        needed += [c for c in (columns.id, columns.group) if c]
        missing = sorted({c for c in needed if c not in rows[0]})
        if missing:
            raise DataError(
                f"{self.config.path} lacks column(s) {', '.join(missing)}; it has {', '.join(rows[0])}",
                hint="fix the columns: mapping",
            )
        items = []
        for number, row in enumerate(rows):
            item_id = str(row[columns.id]) if columns.id else str(number)
            choices = self._choices(row, item_id)
            metadata: dict[str, Any] = {name: row[name] for name in columns.metadata}
            if columns.group:
                metadata["group"] = str(row[columns.group])
            items.append(self._item(row, item_id, choices, metadata))
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise DataError(f"{self.config.path}: item ids repeat (set columns.id to a unique column, or null)")
        return items

    def _key_column(self) -> str:
        """The column that holds what each item is scored against (here: the correct answer)."""
        return self.config.columns.answer

    def _item(self, row: dict[str, Any], item_id: str, choices: tuple[str, ...], metadata: dict[str, Any]) -> Item:
        """One item from its row (choices and metadata already read)."""
        return Item(item_id, self.name, str(row[self.config.columns.question]), choices, self._answer(row, choices, item_id), metadata)

    def _choices(self, row: dict[str, Any], item_id: str) -> tuple[str, ...]:
        spec = self.config.columns.choices
        if isinstance(spec, list):
            values = [row[c] for c in spec]
        else:
            raw = row[spec]
            values = raw if isinstance(raw, list) else str(raw).split("|")
        choices = tuple(str(value).strip() for value in values if str(value).strip())
        if len(choices) < 2:
            raise DataError(f"{self.config.path}: item '{item_id}' has fewer than two options")
        return choices

    def _answer(self, row: dict[str, Any], choices: tuple[str, ...], item_id: str) -> int:
        return self._option_index(row[self.config.columns.answer], self.config.answer_format, choices, item_id)

    def _option_index(self, raw: Any, fmt: str, choices: tuple[str, ...], item_id: str) -> int:
        """The original option index ``raw`` names in format ``fmt`` (see ``answer_format``)."""
        try:
            if fmt in ("index", "index1"):
                index = int(str(raw).strip()) - (fmt == "index1")
            elif fmt == "letter":
                index = LETTERS.index(str(raw).strip().upper())
            else:
                index = choices.index(str(raw).strip())
        except ValueError:
            raise DataError(f"{self.config.path}: item '{item_id}' answer {raw!r} is not a valid {fmt} answer") from None
        if not 0 <= index < len(choices):
            raise DataError(f"{self.config.path}: item '{item_id}' answer {raw!r} is outside its {len(choices)} options")
        return index


def _as_list(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list) else [value]

