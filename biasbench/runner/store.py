"""The append-only response log: one JSON line per answer, written as answers arrive.

A crash loses at most the answers in flight. Reading repairs the log once: every line that cannot
be read back as an answer (a torn last write, garbage, a wrong value type such as a null or
numeric ``text``) is moved to ``responses.quarantine.jsonl`` and counted, so it neither blocks a
resume nor warns again on the next run. A valid last line that only lacks its newline is kept;
fields this version does not know (a newer format) are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from biasbench.core.errors import BiasbenchError
from biasbench.core.files import atomic_write, storage_error
from biasbench.core.response import Response
from biasbench.core.rundir import RunDir

LOG_NAME = RunDir.LOG
QUARANTINE_NAME = RunDir.QUARANTINE
"""Where unreadable log lines go (kept for inspection, never read as answers)."""
_TAIL_BYTES = 4096
"""How many bytes before a known size must be unchanged for an incremental read."""


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
    """Unreadable lines found in this read (moved to the quarantine file when repairing)."""
    quarantine: Path | None = None
    """The quarantine file they went to (None when nothing was moved)."""

    def note(self) -> str:
        """One line for the terminal ('' when the log was clean)."""
        if not self.dropped_lines:
            return ""
        where = f"moved to {self.quarantine.name}" if self.quarantine is not None else "ignored"
        return f"{self.dropped_lines} unreadable line(s) in {LOG_NAME} (an interrupted write or a damaged file) {where}"


class ResponseLog:
    """Append-only JSONL log of responses in a run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOG_NAME
        self.quarantine_path = Path(run_dir) / QUARANTINE_NAME
        self._handle: Any = None
        self._known: tuple[tuple[int, int, str], LogState] | None = None
        """(inode, size, hash of the bytes before ``size``) of the last clean read, and what it held: a later
        read of the same file that only grew parses the appended lines alone."""

    def _prefix_mark(self, handle: Any, size: int) -> str:
        handle.seek(max(0, size - _TAIL_BYTES))
        return hashlib.sha256(handle.read(min(size, _TAIL_BYTES))).hexdigest()

    def read(self, repair: bool = True) -> LogState:
        """Read every line. With ``repair``, unreadable lines move to the quarantine file and the
        log is rewritten (atomically) without them, a missing final newline added. A second read through
        the same ``ResponseLog`` of a log that was only appended to since (same file, the bytes it read
        still in place) parses only the new lines."""
        answers: dict[str, LoggedResponse] = {}
        last_seen: dict[str, LoggedResponse] = {}
        if not self.path.exists():
            return LogState(answers, last_seen, 0)
        start, mark = 0, None
        try:
            with open(self.path, "rb") as handle:
                inode, known = os.fstat(handle.fileno()).st_ino, self._known
                if known is not None and known[0][0] == inode and self._prefix_mark(handle, known[0][1]) == known[0][2]:
                    start = known[0][1]
                    answers, last_seen = dict(known[1].answers), dict(known[1].last_seen)
                handle.seek(start)
                data = handle.read()
                if not data or data.endswith(b"\n"):
                    mark = (inode, start + len(data), self._prefix_mark(handle, start + len(data)))
        except OSError as exc:
            raise storage_error(self.path, exc, "read") from None
        self._known = None
        state = self._parse(data, answers, last_seen, repair, previous=start)
        if start and repair and (state.dropped_lines or mark is None):
            return self.read(repair=True)  # something to repair: the whole file is read and rewritten
        if mark is not None and not state.dropped_lines:
            self._known = (mark, state)
        return state

    def _parse(self, data: bytes, answers: dict[str, LoggedResponse], last_seen: dict[str, LoggedResponse],
               repair: bool, previous: int) -> LogState:
        """Parse ``data`` (the log from byte ``previous`` on) into ``answers``/``last_seen``; repair as :meth:`read` says."""
        good: list[bytes] = []
        bad: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            if not raw.strip():
                continue
            entry = _parse_line(raw)
            if entry is None:
                bad.append(raw if raw.endswith(b"\n") else raw + b"\n")
                continue
            good.append(raw if raw.endswith(b"\n") else raw + b"\n")
            last_seen[entry.key] = entry
            if entry.response.ok:
                answers[entry.key] = entry
        quarantine = None
        if repair and not previous and (bad or not data.endswith(b"\n")) and data.strip():
            self.close()
            if bad:
                try:
                    with open(self.quarantine_path, "ab") as handle:
                        handle.writelines(bad)
                except OSError as exc:
                    raise storage_error(self.quarantine_path, exc) from None
                quarantine = self.quarantine_path
            atomic_write(self.path, lambda tmp: tmp.write_bytes(b"".join(good)))
        return LogState(answers, last_seen, len(bad), quarantine)

    def append(self, entries: Iterable[LoggedResponse]) -> None:
        """Append entries and fsync (one flush per batch); a full disk is a one-line StorageError."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        lines = [
            json.dumps(
                {"key": e.key, "row": e.row, "response": e.response.to_json(), "invocation": e.invocation, "time": now},
                ensure_ascii=False,
                sort_keys=True,
            )
            + "\n"
            for e in entries
        ]
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a+b")
                if self._handle.tell() > 0:
                    self._handle.seek(-1, os.SEEK_END)
                    if self._handle.read(1) != b"\n":  # a kept final line without its newline
                        self._handle.write(b"\n")
            self._handle.write("".join(lines).encode("utf-8"))
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self.close()
            raise storage_error(self.path, exc, "append to") from None

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:  # the data that failed to flush was already reported by append
                pass
            self._handle = None


def _parse_line(raw: bytes) -> LoggedResponse | None:
    """The entry on one line, or None when it is not a well-typed entry."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        key, row, invocation = data["key"], data["row"], data.get("invocation", 0)
        if not isinstance(key, str) or not key or not isinstance(row, dict):
            return None
        if isinstance(invocation, bool) or not isinstance(invocation, int) or invocation < 0:
            return None
        if not isinstance(data["response"], dict):
            return None
        return LoggedResponse(key=key, row=row, response=Response.from_json(data["response"]), invocation=invocation)
    except (ValueError, KeyError, TypeError, BiasbenchError):
        return None
