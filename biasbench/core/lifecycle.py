"""Child processes die with their parent: a killed run leaves no orphan (and no orphan holding its lock)."""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
"""prctl option: signal this process when its parent dies (Linux)."""


def die_with_parent(expected_parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere). When the
    parent is already gone (it died before this call; ``expected_parent`` differs), exit at once."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)
