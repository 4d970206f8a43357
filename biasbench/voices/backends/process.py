"""Stopping a helper process that speaks over stdin/stdout (espeak server, MaskGCT worker)."""

from __future__ import annotations

import subprocess


def close_stdin_and_wait(process: subprocess.Popen, timeout_s: float) -> None:
    """Close the process's stdin (it exits at EOF) and wait; kill it if it outlives ``timeout_s``.
    Its stdout is left open for the caller (a reader thread may still be draining it)."""
    if process.poll() is None and process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
