"""One writer per run directory: an advisory ``flock`` that the kernel releases if the process dies.

Worker processes never hold it: the descriptor is close-on-exec (subprocesses) and closed in every
forked child (multiprocessing 'fork' workers). A lock file whose recorded holder is dead is stale:
some orphan inherited it, so the next run takes a fresh lock file instead of refusing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from biasbench.core.errors import RunLockedError
from biasbench.core.rundir import RunDir

LOCK_NAME = RunDir.LOCK

_HELD: set[int] = set()
"""Descriptors of the locks this process holds (closed in forked children)."""


def _close_in_child() -> None:
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive lock on a run directory (``with RunLock(dir): ...``)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunDir(run_dir).lock_path
        self._fd: int | None = None

    def _try(self) -> tuple[int | None, str]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return None, holder
        return fd, ""

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunLockedError` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, holder = self._try()
        if fd is None and holder.isdigit() and not _alive(int(holder)):
            # the writer is dead; an orphan of it still holds the old file: start a fresh lock file
            self.path.unlink(missing_ok=True)
            fd, holder = self._try()
        if fd is None:
            raise RunLockedError(
                f"another biasbench process (pid {holder or 'unknown'}) is writing {self.path.parent}",
                hint="wait for it to finish, or choose another --out",
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        _HELD.add(fd)

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            _HELD.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
