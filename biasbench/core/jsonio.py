"""Reading JSON objects from files with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biasbench.core.errors import DataError


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
