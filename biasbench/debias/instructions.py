"""Instruction records from Alpaca- or ShareGPT-format data (JSON, JSON lines, or a Hugging Face dataset name)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from biasbench.core.deps import require
from biasbench.core.errors import DataError
from biasbench.core.item import Exclusion

_FIELDS = ("instruction", "input", "output")


@dataclass(frozen=True)
class Instruction:
    """One instruction and its text answer; the instruction is spoken, the answer is the target."""

    id: str
    """'<dataset>/<index in the source>' (stable across runs)."""
    instruction: str
    """The request (what the voice says)."""
    input: str
    """Optional context appended to the request (Alpaca's ``input``; '' when absent)."""
    output: str
    """The answer the model is trained to give (text)."""
    dataset: str
    """Name of the dataset it comes from (curriculum entry)."""
    license: str = ""
    """License of the source data (carried into the spoken dataset and its card)."""

    def __post_init__(self) -> None:
        if not self.id:
            raise DataError("an instruction has an empty id")

    @property
    def request_text(self) -> str:
        """The request as written: the instruction, then the input when there is one."""
        return f"{self.instruction}\n\n{self.input}" if self.input else self.instruction


def _records_from_file(path: Path) -> list[Mapping[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"instruction file {path} is not UTF-8 text") from None
    try:
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"instruction file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"instruction file {path} must hold a list of objects with instruction/input/output")
    return records


def _records_from_hub(name: str, split: str) -> list[Mapping[str, Any]]:
    datasets = require("datasets", "finetune", purpose="loading an instruction dataset by name")
    try:
        return list(datasets.load_dataset(name, split=split))
    except Exception as exc:  # hub/network/format errors of many types
        raise DataError(f"cannot load instruction dataset '{name}' (split '{split}'): {type(exc).__name__}: {exc}") from None


def read_alpaca(
    source: str, *, dataset: str, license: str = "", split: str = "train", base_dir: Path | None = None
) -> tuple[list[Instruction], list[Exclusion]]:
    """Records of an Alpaca-format source: a .json/.jsonl path (relative to ``base_dir`` or CWD) or a
    Hugging Face dataset name. Field names match case-insensitively. Records without an
    instruction or an answer, or with earlier turns (``history``), are excluded with a reason."""
    path = Path(source)
    if base_dir is not None and not path.is_absolute() and (base_dir / path).exists():
        path = base_dir / path
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise DataError(f"instruction file not found: {path}")
        records = _records_from_file(path)
    else:
        records = _records_from_hub(source, split)
    records = [from_sharegpt(record) for record in records]
    if records and not any(_answer_of(record) for record in records):
        raise DataError(
            f"instruction source {source} has prompts only (no record has an 'output'/answer; e.g. the WizardLM test set): "
            "use WizardLMTeam/WizardLM_evol_instruct_70k or a local Alpaca/ShareGPT file with answers"
        )
    return to_instructions(records, dataset=dataset, license=license)


SHAREGPT_USER = ("human", "user")
SHAREGPT_ASSISTANT = ("gpt", "assistant", "chatgpt", "bing", "bard")
"""``from``/``role`` values of ShareGPT turns (the format of WizardLM's 70k/196k releases, Vicuna, ...)."""


def from_sharegpt(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ShareGPT record (``conversations``/``messages``: [{from|role, value|content}, ...]) as Alpaca fields:
    the first user turn is the instruction, the first assistant reply the output; later turns become
    ``history`` (excluded as multi-turn). Other records pass through unchanged."""
    turns = record.get("conversations", record.get("messages"))
    if not isinstance(turns, list) or "instruction" in {str(k).lower() for k in record}:
        return record
    parsed = [(str(t.get("from", t.get("role", ""))).lower(), str(t.get("value", t.get("content", "")) or "")) for t in turns if isinstance(t, dict)]
    parsed = [(role, text) for role, text in parsed if role != "system"]
    instruction = parsed[0][1] if parsed and parsed[0][0] in SHAREGPT_USER else ""
    output = parsed[1][1] if len(parsed) > 1 and parsed[1][0] in SHAREGPT_ASSISTANT else ""
    history = parsed[2:]
    return {"instruction": instruction, "input": "", "output": output, **({"history": history} if history else {})}


def _answer_of(record: Mapping[str, Any]) -> str:
    fields = {str(key).lower(): value for key, value in record.items()}
    return str(fields.get("output") or "").strip()


def to_instructions(
    records: Iterable[Mapping[str, Any]], *, dataset: str, license: str = ""
) -> tuple[list[Instruction], list[Exclusion]]:
    """Instructions kept and exclusions (with reasons) from Alpaca-format records."""
    kept: list[Instruction] = []
    excluded: list[Exclusion] = []
    for index, record in enumerate(records):
        fields = {str(key).lower(): value for key, value in record.items()}
        item_id = f"{dataset}/{index}"
        values = {name: str(fields.get(name) or "").strip() for name in _FIELDS}
        reason = ""
        if not values["instruction"]:
            reason = "no instruction text"
        elif not values["output"]:
            reason = "no answer ('output') to train on"
        elif fields.get("history"):
            reason = f"multi-turn record ({len(fields['history'])} earlier turns); only single-turn instructions are spoken"
        if reason:
            excluded.append(Exclusion(dataset, item_id, reason))
            continue
        kept.append(Instruction(item_id, values["instruction"], values["input"], values["output"], dataset, license))
    return kept, excluded
