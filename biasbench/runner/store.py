"""The append-only response log: one JSON line per answer, written as answers arrive.

Two ways in. :meth:`ResponseLog.append` writes and fsyncs at once (a local model's batch).
:meth:`ResponseLog.add` buffers (API answers, hundreds a second): the executor has the buffer written
and fsynced as one write, from a writer thread, when it holds ``flush_entries`` answers or its oldest
answer has waited ``flush_interval_s`` (on that deadline even when no new answer arrives), and always
at the end of the asking, on a stop, an error, Ctrl-C and :meth:`close`. The promise: **a crash
(kill -9, power loss) loses at most the answers that arrived in the last ``flush_interval_s`` seconds
(default 0.25 s; fewer when ``flush_entries`` came sooner) plus the requests in flight**; every answer
written before is whole on disk. A lost answer is only asked again on resume: nothing is ever half-kept.
A batch is one ``write`` of whole lines; a crash inside it leaves at most one torn last line, which the
next read quarantines (below). A full disk is a one-line StorageError; the batches written before stay.

Reading repairs the log once: every line that cannot
be read back as an answer (a torn last write, garbage, a wrong value type such as a null or
numeric ``text``) is moved to ``responses.quarantine.jsonl`` and counted, so it neither blocks a
resume nor warns again on the next run. A valid last line that only lacks its newline is kept;
fields this version does not know (a newer format) are ignored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable

from biasbench.core.errors import BiasbenchError
from biasbench.core.files import atomic_write, storage_error, tail_sha256
from biasbench.core.response import Response
from biasbench.core.rundir import RunDir

LOG_NAME = RunDir.LOG
QUARANTINE_NAME = RunDir.QUARANTINE
"""Where unreadable log lines go (kept for inspection, never read as answers)."""

FLUSH_INTERVAL_S = 0.25
"""Longest time a buffered answer waits before it is written and fsynced (what a crash can lose)."""

FLUSH_ENTRIES = 256
"""Buffered answers that trigger a write before the interval ends."""


@dataclass(frozen=True, slots=True)
class LoggedResponse:
    """One line of the log."""

    key: str
    """Response key (see Request.key)."""
    row: dict[str, Any]
    """Identity of the planned row that asked (model, task, item, voice, modality, rotation, repeat); written to
    the log for the record, empty in entries read back (nothing reads it, and it would cost ~0.6 KB a line)."""
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

    def __init__(self, run_dir: Path, *, flush_interval_s: float = FLUSH_INTERVAL_S, flush_entries: int = FLUSH_ENTRIES) -> None:
        self.path = Path(run_dir) / LOG_NAME
        self.quarantine_path = Path(run_dir) / QUARANTINE_NAME
        self.flush_interval_s = flush_interval_s
        """Longest wait of a buffered answer (see the module docstring)."""
        self.flush_entries = max(1, flush_entries)
        """Buffer size that triggers a write."""
        self._handle: Any = None
        self._pending: list[bytes] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        """Guards the buffer (held for microseconds)."""
        self._write_lock = threading.RLock()
        """Serializes writes and closing (held across a write + fsync)."""
        self._known: tuple[tuple[int, int, str], LogState] | None = None
        """(inode, size, hash of the bytes before ``size``) of the last clean read, and what it held: a later
        read of the same file that only grew parses the appended lines alone."""

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
                known = self._take_known(handle)
                if known is not None:
                    start = known[0]
                    answers, last_seen = dict(known[1].answers), dict(known[1].last_seen)
                handle.seek(start)
                data = handle.read()
                if not data or data.endswith(b"\n"):
                    mark = (os.fstat(handle.fileno()).st_ino, start + len(data), tail_sha256(handle, start + len(data)))
        except OSError as exc:
            raise storage_error(self.path, exc, "read") from None
        state = self._parse(data, answers, last_seen, repair, previous=start)
        if start and repair and (state.dropped_lines or mark is None):
            return self.read(repair=True)  # something to repair: the whole file is read and rewritten
        if mark is not None and not state.dropped_lines:
            self._known = (mark, state)
        return state

    def _take_known(self, handle: BinaryIO) -> tuple[int, LogState] | None:
        """The end offset and state of the last clean read, when ``handle``'s file is the same one and still
        begins with the bytes that read parsed; released either way (a caller that uses it owns it)."""
        known, self._known = self._known, None
        if known is None:
            return None
        (inode, size, digest), state = known
        if os.fstat(handle.fileno()).st_ino != inode or tail_sha256(handle, size) != digest:
            return None
        return size, state

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

    def read_latest(self) -> dict[str, LoggedResponse]:
        """Per key, the entry a table row is built from: its latest answer (Response.ok), else its latest line.
        Read-only (nothing repaired; unreadable lines skipped, as ``read(repair=False)`` does) and lean: the
        file is streamed line by line and one entry is kept per key. After a clean :meth:`read` through this object only the lines appended
        since are parsed; that read's state is handed over (and released), not copied."""
        latest: dict[str, LoggedResponse] = {}
        if not self.path.exists():
            return latest
        try:
            with open(self.path, "rb") as handle:
                known = self._take_known(handle)
                if known is not None:
                    answers = known[1].answers
                    latest = {key: answers.get(key) or entry for key, entry in known[1].last_seen.items()}
                    handle.seek(known[0])
                else:
                    handle.seek(0)
                del known
                for line in handle:
                    for raw in line.splitlines() if b"\r" in line else (line,):  # the lines read() sees
                        entry = _parse_line(raw) if raw.strip() else None
                        if entry is None:
                            continue
                        if entry.response.ok:
                            latest[entry.key] = entry
                        else:
                            held = latest.get(entry.key)
                            if held is None or not held.response.ok:
                                latest[entry.key] = entry
        except OSError as exc:
            raise storage_error(self.path, exc, "read") from None
        return latest

    def append(self, entries: Iterable[LoggedResponse]) -> None:
        """Write ``entries`` (after anything buffered) and fsync now; a full disk is a one-line StorageError."""
        self._pending.extend(_encode(entries))
        self.flush()

    def add(self, entries: Iterable[LoggedResponse]) -> bool:
        """Buffer ``entries``; True when the buffer is due (see :meth:`due`). The caller writes it with
        :meth:`flush` (the executor does so from a writer thread, so the fsync never blocks its event loop)."""
        lines = _encode(entries)
        with self._lock:
            if lines and not self._pending:
                self._oldest = time.monotonic()
            self._pending.extend(lines)
        return self.due()

    def due(self) -> bool:
        """The buffer holds ``flush_entries`` answers, or its oldest has waited ``flush_interval_s``."""
        oldest = self._oldest
        return oldest is not None and (
            len(self._pending) >= self.flush_entries or time.monotonic() - oldest >= self.flush_interval_s
        )

    def seconds_until_due(self) -> float | None:
        """Seconds until the buffer must be written (0: now); None when it is empty."""
        oldest = self._oldest
        if oldest is None:
            return None
        return max(0.0, oldest + self.flush_interval_s - time.monotonic())

    def flush_if_due(self) -> None:
        """Write the buffer when :meth:`due`."""
        if self.due():
            self.flush()

    def flush(self) -> None:
        """Write every buffered line in one write and fsync (thread-safe: batches never interleave, and
        :meth:`add` never waits for a write); on failure the batch is not kept (it was not on disk:
        resume asks again) and the error is one line."""
        with self._write_lock:
            with self._lock:
                if not self._pending:
                    return
                data = b"".join(self._pending)
                self._pending, self._oldest = [], None
            try:
                if self._handle is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._handle = open(self.path, "a+b", buffering=0)
                    if self._handle.tell() > 0:
                        self._handle.seek(-1, os.SEEK_END)
                        if self._handle.read(1) != b"\n":  # a kept final line without its newline
                            data = b"\n" + data
                view = memoryview(data)
                while view:
                    view = view[self._handle.write(view) :]
                os.fsync(self._handle.fileno())
            except OSError as exc:
                self.close()
                raise storage_error(self.path, exc, "append to") from None

    def close(self) -> None:
        """Write what is buffered, then release the file."""
        with self._write_lock:
            try:
                self.flush()
            finally:
                if self._handle is not None:
                    try:
                        self._handle.close()
                    except OSError:  # the data that failed to flush was already reported by flush
                        pass
                    self._handle = None


def _encode(entries: Iterable[LoggedResponse]) -> list[bytes]:
    """One JSON line per entry, stamped with the time it was handed to the log."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [
        (
            json.dumps(
                {"key": e.key, "row": e.row, "response": e.response.to_json(), "invocation": e.invocation, "time": now},
                ensure_ascii=False,
                sort_keys=True,
            )
            + "\n"
        ).encode("utf-8")
        for e in entries
    ]


_NO_ROW: dict[str, Any] = {}
"""The row identity of entries read back (checked, not kept: see :attr:`LoggedResponse.row`); shared, never written to."""


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
        return LoggedResponse(key=key, row=_NO_ROW, response=Response.from_json(data["response"]), invocation=invocation)
    except (ValueError, KeyError, TypeError, BiasbenchError):
        return None
