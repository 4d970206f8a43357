"""Reading JSON objects from files with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biasbench.core.errors import DataError
from biasbench.core.files import write_text_atomic


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is absent; unreadable or not an object → DataError."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(f"cannot read {path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object")
    return data


def write_json_object(path: str | Path, data: dict[str, Any], *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON atomically (unique temp file + rename); faults → StorageError."""
    write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False, default=str) + "\n")
