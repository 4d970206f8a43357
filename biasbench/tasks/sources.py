"""Reading task data: local CSV / JSONL / JSON files and Hugging Face datasets (lazily imported)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from biasbench.core.deps import require
from biasbench.core.errors import DataError

FORMATS = ("auto", "csv", "jsonl", "json")
"""Accepted ``format`` values of file-backed tasks."""


def read_records(path: str | Path, fmt: str = "auto") -> list[dict[str, Any]]:
    """Rows of a CSV (header row), JSONL or JSON-list file as dicts; problems become one-line DataErrors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    kind = fmt if fmt != "auto" else {".csv": "csv", ".jsonl": "jsonl", ".json": "json"}.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"cannot tell the format of {path}; set format: csv, jsonl or json")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}") from None
    if kind == "csv":
        rows = list(csv.DictReader(text.splitlines()))
    elif kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                rows.append(_json(line, f"{path} line {number}"))
    else:
        rows = _json(text, str(path))
        if not isinstance(rows, list):
            raise DataError(f"{path} must hold a JSON list of objects")
    bad = next((i for i, row in enumerate(rows, 1) if not isinstance(row, dict)), None)
    if bad is not None:
        raise DataError(f"{path}: record {bad} is not an object")
    if not rows:
        raise DataError(f"{path} has no records")
    return rows


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where} is not valid JSON: {exc.msg} at column {exc.colno}") from None


def load_hf_rows(name: str, config: str | None, split: str, revision: str | None) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset split (needs the ``hf`` extra; offline mode uses the local cache)."""
    datasets = require("datasets", "hf", purpose=f"loading '{name}' from Hugging Face")
    try:
        dataset = datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as exc:  # datasets raises many types (offline, missing config, network)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot load Hugging Face dataset '{name}' ({config or 'default'}, split {split}): {first[:200]}",
            hint="set path: to a local copy instead",
        ) from None
    return [dict(row) for row in dataset]
