"""The append-only response log: one JSON line per answer, written as answers arrive.

A crash loses at most the answers in flight. A torn last line (the process died mid-write) is
detected, reported and cut off before anything new is appended.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from biasbench.core.response import Response
from biasbench.core.rundir import RunDir

LOG_NAME = RunDir.LOG


@dataclass(frozen=True)
class LoggedResponse:
    """One line of the log."""

    key: str
    """Response key (see Request.key)."""
    row: dict[str, Any]
    """Identity of the planned row that asked (model, task, item, voice, modality, rotation, repeat)."""
    response: Response
    """What came back."""
    invocation: int
    """Which invocation of the run wrote it (0 = the first)."""


@dataclass(frozen=True)
class LogState:
    """What the log holds after reading (and repairing) it."""

    answers: dict[str, LoggedResponse]
    """Latest cacheable answer (Response.ok) per key."""
    last_seen: dict[str, LoggedResponse]
    """Latest line of any kind per key (errors and empty answers included)."""
    dropped_lines: int
    """Torn or unreadable lines removed."""


class ResponseLog:
    """Append-only JSONL log of responses in a run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOG_NAME
        self._handle: Any = None

    def read(self, repair: bool = True) -> LogState:
        """Read every line; a torn last line is dropped (and cut from the file when ``repair``)."""
        answers: dict[str, LoggedResponse] = {}
        last_seen: dict[str, LoggedResponse] = {}
        dropped = 0
        if not self.path.exists():
            return LogState(answers, last_seen, 0)
        data = self.path.read_bytes()
        good_end = 0
        position = 0
        for raw in data.splitlines(keepends=True):
            position += len(raw)
            complete = raw.endswith(b"\n")
            entry = _parse_line(raw) if complete else None
            if entry is None:
                if raw.strip():
                    dropped += 1
                continue
            good_end = position
            last_seen[entry.key] = entry
            if entry.response.ok:
                answers[entry.key] = entry
        if repair and good_end < len(data) and dropped:
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
        return LogState(answers, last_seen, dropped)

    def append(self, entries: Iterable[LoggedResponse]) -> None:
        """Append entries and fsync (one flush per batch)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for entry in entries:
            line = {"key": entry.key, "row": entry.row, "response": entry.response.to_json(), "invocation": entry.invocation, "time": now}
            self._handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _parse_line(raw: bytes) -> LoggedResponse | None:
    try:
        data = json.loads(raw)
        return LoggedResponse(
            key=data["key"], row=data["row"], response=Response.from_json(data["response"]), invocation=int(data.get("invocation", 0))
        )
    except (ValueError, KeyError, TypeError):
        return None
