"""MaskGCT (Amphion) zero-shot cloning, run in an isolated worker process speaking JSON lines.

MaskGCT's dependencies conflict with ours, so it lives in its own environment; ``python`` in the
config points at that environment's interpreter and the worker script
(``biasbench/voices/workers/maskgct_worker.py``, see docs/voices.md) runs there.

Protocol: the worker writes ``{"event": "ready", ...}`` once its model is loaded; then for each
request line ``{"id", "text", "reference", "reference_text", "language", "seed", "out", "params"}``
it writes one line ``{"id", "ok": true, "path", "sample_rate"}`` or ``{"id", "ok": false, "error"}``.
Closing stdin ends it.
"""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import Field

from biasbench.core.audio import Audio, read_audio
from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import file_sha256
from biasbench.core.voice import Voice
from biasbench.voices.backends.cloning import CloningBackend
from biasbench.voices.backends.process import close_stdin_and_wait

WORKER_SCRIPT = Path(__file__).resolve().parent.parent / "workers" / "maskgct_worker.py"
"""The shipped worker (runs in the MaskGCT environment, not in ours)."""


class MaskGCTBackend(CloningBackend):
    """MaskGCT through a worker process; reference clip + transcript -> 24 kHz speech."""

    name: ClassVar[str] = "maskgct"
    sample_rate: ClassVar[int] = 24_000
    reference_rate: ClassVar[int] = 16_000
    needs_transcript: ClassVar[bool] = True

    class Config(CloningBackend.Config):
        """Where the worker runs and how long to wait for it."""

        python: str | None = None
        """Interpreter of the MaskGCT environment (required to synthesize)."""
        worker: str | None = None
        """Worker script; default: the shipped maskgct_worker.py."""
        worker_args: list[str] = Field(default_factory=list)
        """Extra arguments for the worker (e.g. ['--amphion-dir', '/opt/Amphion', '--device', 'cuda:0'])."""
        language: str = "en"
        """Language of the reference and target texts."""
        params: dict[str, Any] = Field(default_factory=dict)
        """Inference settings passed to the worker (e.g. target_len, n_timesteps)."""
        startup_timeout_s: float = Field(900.0, gt=0)
        """How long model loading may take before the worker is declared stuck."""
        timeout_s: float = Field(300.0, gt=0)
        """How long one clip may take."""

    def __init__(self, config: "MaskGCTBackend.Config") -> None:
        super().__init__(config)
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._log: IO[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._next_id = 0
        self._pump: threading.Thread | None = None
        self.worker_info: dict[str, Any] = {}

    def _script(self) -> Path:
        return Path(self.config.worker).expanduser() if self.config.worker else WORKER_SCRIPT

    def describe(self) -> dict[str, Any]:
        script = self._script()
        return {**super().describe(), "worker_sha256": file_sha256(script) if script.is_file() else None}

    def check_available(self) -> None:
        if not self.config.python:
            raise ConfigError(
                "the maskgct backend needs 'python': the interpreter of its own environment "
                "(tts: {maskgct: {python: /path/to/maskgct-env/bin/python}}; see docs/voices.md)"
            )
        python, script = Path(self.config.python).expanduser(), self._script()
        if not python.is_file():
            raise ConfigError(f"maskgct python interpreter not found: {python}")
        if not script.is_file():
            raise ConfigError(f"maskgct worker script not found: {script}")

    def load(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self.check_available()
        python, script = Path(self.config.python or "").expanduser(), self._script()
        self._folder = tempfile.TemporaryDirectory(prefix="biasbench-maskgct-")
        self._log = open(Path(self._folder.name) / "worker.log", "w+b")
        self._process = subprocess.Popen(
            [str(python), str(script), *self.config.worker_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        self._lines = queue.Queue()
        self._pump = threading.Thread(target=_pump, args=(self._process.stdout, self._lines), daemon=True)
        self._pump.start()
        ready = self._receive(self.config.startup_timeout_s, "to start")
        if ready.get("event") != "ready":
            self.close()
            raise DataError(f"maskgct worker's first message was not 'ready': {json.dumps(ready)[:200]}")
        self.worker_info = {k: v for k, v in ready.items() if k != "event"}

    def synthesize(self, text: str, voice: Voice) -> Audio:
        self.check_voice(voice)
        self.load()
        assert voice.reference is not None and self._process is not None and self._folder is not None
        self._next_id += 1
        out = Path(self._folder.name) / f"clip-{self._next_id}.wav"
        request = {
            "id": self._next_id, "text": text, "reference": str(self.reference_file(voice)),
            "reference_text": voice.reference.transcript, "language": self.config.language,
            "seed": self.clip_seed(text, voice), "out": str(out), "params": self.config.params,
        }
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise DataError(self._death_message()) from None
        answer = self._receive(self.config.timeout_s, "to answer")
        if answer.get("id") != request["id"]:
            self.close()
            raise DataError(f"maskgct worker answered request {answer.get('id')!r}, expected {request['id']}")
        if not answer.get("ok"):
            raise DataError(f"maskgct worker: {answer.get('error', 'failed without a message')}")
        audio, _ = read_audio(answer.get("path") or out)
        out.unlink(missing_ok=True)
        return audio

    def _receive(self, timeout: float, doing: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close(kill=True)
            raise DataError(f"maskgct worker took longer than {timeout:g} s {doing}; stopped it") from None
        if not line:
            message = self._death_message()
            self.close()
            raise DataError(message)
        try:
            message = json.loads(line)
        except ValueError:
            self.close(kill=True)
            shown = line.decode("utf-8", "replace").strip()[:120]
            raise DataError(f"maskgct worker sent a line that is not JSON: {shown!r} (print logs to stderr)") from None
        if not isinstance(message, dict):
            self.close()
            raise DataError(f"maskgct worker sent JSON that is not an object: {str(message)[:120]}")
        return message

    def _death_message(self) -> str:
        code = self._process.wait(timeout=10) if self._process is not None else None
        last = ""
        if self._log is not None:
            self._log.flush()
            self._log.seek(0)
            lines = [l for l in self._log.read().decode("utf-8", "replace").splitlines() if l.strip()]
            last = f": {lines[-1].strip()[:200]}" if lines else ""
        return f"maskgct worker exited with code {code}{last}"

    def close(self, kill: bool = False) -> None:
        """Stop the worker: close its stdin and let it exit, or kill it (after a timeout or bad output)."""
        process, self._process = self._process, None
        if process is not None and kill:
            process.kill()
        if process is not None:
            close_stdin_and_wait(process, timeout_s=10)
            if self._pump is not None:
                self._pump.join(timeout=5)  # reaches EOF once the worker has exited
            if process.stdout is not None:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _pump(stream: IO[bytes], lines: "queue.Queue[bytes]") -> None:
    """Copy the worker's stdout lines into a queue (b'' marks the end)."""
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(b"")
