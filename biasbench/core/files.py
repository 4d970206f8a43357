"""Durable file writes: a unique temp file in the target folder, fsync, then an atomic rename.

Two processes (or threads) writing the same path never share a temp file, so a run sharing a
cache folder with another run cannot crash or leave a half-written file behind; the last
complete write wins. Filesystem faults (disk full, read-only, a file where a folder should be)
become one-line :class:`~biasbench.core.errors.StorageError`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from biasbench.core.errors import StorageError

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a parent path is a file, not a folder",
    errno.EEXIST: "a file is in the way",
    errno.EISDIR: "a folder is in the way",
}

_KEPT = "finished rows are kept; "
_HINTS: dict[int | None, str] = {
    errno.ENOSPC: _KEPT + "free some disk space, then run the same command again",
    errno.EDQUOT: _KEPT + "free some disk space, then run the same command again",
    errno.EROFS: _KEPT + "make the folder writable (or choose another), then run the same command again",
    errno.EACCES: _KEPT + "make the folder writable (or choose another), then run the same command again",
    errno.EPERM: _KEPT + "make the folder writable (or choose another), then run the same command again",
    errno.ENOTDIR: "move the file out of the way or choose another output folder",
    errno.EEXIST: "move the file out of the way or choose another output folder",
    errno.EISDIR: "move the folder out of the way or choose another output path",
    None: _KEPT + "fix the problem, then run the same command again",
}


def storage_error(path: str | Path, exc: OSError, action: str = "write") -> StorageError:
    """A one-line error for an OSError raised while writing ``path``."""
    reason = _REASONS.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    return StorageError(f"cannot {action} {path}: {reason}", hint=_HINTS.get(exc.errno or -1, _HINTS[None]))


def ensure_folder(path: str | Path) -> Path:
    """Create ``path`` (and parents) as a folder; a file in the way or a fault → StorageError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StorageError(f"{path} exists and is a file, not a folder", hint="choose another output folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StorageError(f"{path} exists and is a file, not a folder", hint="choose another output folder") from None
    except OSError as exc:
        raise storage_error(path, exc, "create folder") from None
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None], *, fsync: bool = True) -> None:
    """Call ``write(temp_path)`` then rename the temp file onto ``path`` (creating parent folders).

    The temp name is unique per call (``tempfile.mkstemp``), so concurrent writers of one path
    never collide; on any failure the temp file is removed and ``path`` keeps its old content.
    ``fsync=False`` skips flushing to the disk before the rename: only for files whose readers
    tolerate losing them (the audio cache's sidecars: a lost or empty one makes its clip be made again),
    where a flush per file would cost more than re-making the rare one a power loss truncates.
    """
    path = Path(path)
    ensure_folder(path.parent)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(path, exc) from None
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), fsync=fsync)


def write_text_atomic(path: str | Path, text: str, *, fsync: bool = True) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), fsync=fsync)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TAIL_BYTES = 4096
"""How many bytes before a file's (known) end :func:`tail_sha256` hashes."""


def tail_sha256(handle: Any, size: int) -> str:
    """sha256 of the last :data:`TAIL_BYTES` bytes before byte ``size`` of an open binary file: a cheap mark
    that an append-only file (the response log) still holds what was there at ``size``."""
    handle.seek(max(0, size - TAIL_BYTES))
    return hashlib.sha256(handle.read(min(size, TAIL_BYTES))).hexdigest()
