"""Base64 WAV encoding of stored clips, here or in a helper process.

The helper (``python -m biasbench.adapters.clip_encoder``) reads one JSON-quoted clip path per line
on stdin and answers each, in order, with a line holding the payload's length (``-`` when the clip
cannot be read) followed by the payload's ASCII bytes. It is a plain subprocess, not
``multiprocessing``: a spawned multiprocessing child re-imports the user's main script, which would
run their experiment a second time when it lacks a ``__main__`` guard. It exits at the end of its input,
so it ends with the process that started it, even after a kill -9.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from biasbench.core.audio import wav_bytes_of_file


def encode_clip(path: str) -> str:
    """The clip at ``path`` as base64 of its 16-bit WAV bytes (a FLAC clip decoded exactly)."""
    return base64.b64encode(wav_bytes_of_file(path)).decode("ascii")


def encode_or_none(path: str) -> str | None:
    """:func:`encode_clip`, or None where it fails: the request that sends the clip meets the error itself."""
    try:
        return encode_clip(path)
    except Exception:  # noqa: BLE001 - reported by that request
        return None


HELPER_NICENESS = 19
"""Added to the helper's niceness (POSIX)."""


class EncoderProcess:
    """The helper process, seen from its parent: :meth:`send` paths, :meth:`receive` payloads in order.
    Any failure of the helper surfaces as OSError/EOFError/ValueError from these calls."""

    def __init__(self) -> None:
        import biasbench

        package_root = str(Path(biasbench.__file__).resolve().parent.parent)  # importable as the parent imported it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "biasbench.adapters.clip_encoder"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )

    def send(self, paths: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(json.dumps(path) + "\n" for path in paths).encode("utf-8"))
        self.process.stdin.flush()

    def receive(self) -> str | None:
        """The next payload (None: the helper could not read that clip)."""
        assert self.process.stdout is not None
        header = self.process.stdout.readline()
        if not header:
            raise EOFError("the clip encoder process ended")
        if header == b"-\n":
            return None
        size = int(header)
        data = self.process.stdout.read(size)
        if len(data) != size:
            raise EOFError("the clip encoder process ended mid-clip")
        return data.decode("ascii")

    def close(self) -> None:
        """End the helper (at once: nothing it still holds is needed)."""
        self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self.process.wait()


def serve() -> None:
    """The helper's loop (see the module docstring), at a lower CPU priority: it should use idle cores
    only, never take one from the process asking the model or from a local server."""
    if hasattr(os, "nice"):
        os.nice(HELPER_NICENESS)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        payload = encode_or_none(json.loads(line))
        if payload is None:
            out.write(b"-\n")
        else:
            data = payload.encode("ascii")
            out.write(b"%d\n" % len(data) + data)
        out.flush()


if __name__ == "__main__":
    try:
        serve()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
