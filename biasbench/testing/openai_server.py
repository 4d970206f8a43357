"""A local OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It speaks the real chat-completions protocol (``POST /v1/chat/completions``, ``GET /v1/models``)
so the real ``openai`` client talks to it; it checks the request shape (including ``input_audio``
parts holding base64 WAV), and injects latency and faults (429 with Retry-After, 500, connection
reset, timeout; 401 for a wrong key). Faults are drawn from a seed and the request's content, so a
run is reproducible. Answers are a deterministic function of the text *and the audio bytes*, so a
changed clip changes the answer (audio canary).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from biasbench.core.hashing import seed_from

FAULTS = ("429", "500", "reset", "timeout")
"""Retryable faults the server can inject."""

REFUSE_TRIGGER = "PLEASE REFUSE"
"""Text that makes the server answer with a structured refusal."""

SAMPLING_FIELDS = ("temperature", "top_p", "seed")
"""Sampling fields the server requires when ``require_explicit_sampling`` is on."""


@dataclass
class ServerLog:
    """What the server saw (read by tests)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every well-formed chat request body, in arrival order (attempts included)."""
    answered: Counter = field(default_factory=Counter)
    """Successful answers per request digest."""
    faults: Counter = field(default_factory=Counter)
    """Injected faults by kind."""
    attempts: Counter = field(default_factory=Counter)
    """Attempts per request digest."""
    max_in_flight: int = 0
    """Most requests handled at the same moment."""


class OpenAITestServer:
    """Threaded chat-completions server on 127.0.0.1 (use as a context manager)."""

    def __init__(
        self,
        models: tuple[str, ...] = ("gpt-4o-audio-preview-2025-06-03",),
        *,
        api_key: str | None = "sk-test-key",
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        retry_after_s: float = 0.05,
        timeout_sleep_s: float = 2.0,
        require_explicit_sampling: bool = True,
        seed: int = 0,
        fail_after: int | None = None,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
        self.models = models
        self.api_key = api_key
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.faults = faults
        self.retry_after_s = retry_after_s
        self.timeout_sleep_s = timeout_sleep_s
        self.require_explicit_sampling = require_explicit_sampling
        self.seed = seed
        self.fail_after = fail_after
        """After this many answers every request gets a 500 (an endpoint that dies for good); None: never."""
        self.log = ServerLog()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._granted = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "OpenAITestServer":
        handler = type("Handler", (_Handler,), {"owner": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.request_queue_size = 256
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "OpenAITestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- behaviour --------------------------------------------------------------------------
    def fault_for(self, digest: str, attempt: int) -> str | None:
        """The fault injected into this attempt of this request (None = answer)."""
        if not self.fault_rate or not self.faults:
            return None
        draw = seed_from(self.seed, digest, attempt)
        if (draw % 10_000) / 10_000 >= self.fault_rate:
            return None
        return self.faults[(draw // 10_000) % len(self.faults)]

    def answer(self, body: dict[str, Any]) -> tuple[str, int, int]:
        """(answer text, text tokens, audio tokens) for a validated request."""
        digest = hashlib.sha256()
        text_chars = 0
        audio_tokens = 0
        for message in body["messages"]:
            content = message["content"]
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts:
                if part["type"] == "text":
                    digest.update(part["text"].encode())
                    text_chars += len(part["text"])
                else:
                    raw = base64.b64decode(part["input_audio"]["data"])
                    digest.update(raw)
                    audio_tokens += max(1, round(_wav_seconds(raw) * 10))
        letter = "ABCD"[int(digest.hexdigest(), 16) % 4]
        return f"The answer is {letter}.", max(1, text_chars // 4), audio_tokens

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.log.max_in_flight = max(self.log.max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _wav_seconds(raw: bytes) -> float:
    """Duration of a PCM WAV from its header (raises ValueError when it is not a WAV)."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("input_audio data is not a RIFF/WAVE file")
    stream = io.BytesIO(raw[12:])
    rate = block = 0
    while True:
        header = stream.read(8)
        if len(header) < 8:
            raise ValueError("WAV has no data chunk")
        name, size = header[:4], struct.unpack("<I", header[4:])[0]
        if name == b"fmt ":
            fmt = stream.read(size)
            rate, block = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
        elif name == b"data":
            if not rate or not block:
                raise ValueError("WAV data chunk before fmt chunk")
            return size / block / rate
        else:
            stream.seek(size, 1)


def validate_chat_request(body: Any, models: tuple[str, ...], require_sampling: bool) -> str | None:
    """The first problem with a chat-completions body, or None when it is well formed."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") not in models:
        return f"model '{body.get('model')}' does not exist"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    if require_sampling:
        missing = [name for name in SAMPLING_FIELDS if name not in body]
        if "max_tokens" not in body and "max_completion_tokens" not in body:
            missing.append("max_tokens")
        if missing:
            return f"sampling parameters must be explicit; missing {', '.join(missing)}"
    for message in messages:
        if message.get("role") not in ("system", "user", "assistant"):
            return f"bad role {message.get('role')!r}"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return "content must be a string or a non-empty list of parts"
        for part in content:
            kind = part.get("type")
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    return "text part without text"
            elif kind == "input_audio":
                audio = part.get("input_audio") or {}
                if audio.get("format") != "wav":
                    return f"input_audio format must be 'wav', got {audio.get('format')!r}"
                try:
                    _wav_seconds(base64.b64decode(audio.get("data", ""), validate=True))
                except (ValueError, struct.error) as exc:
                    return f"input_audio data is not base64 WAV: {exc}"
            else:
                return f"unsupported content part type {kind!r}"
    return None


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAITestServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
        return

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)

    def _authorized(self) -> bool:
        owner = self.owner
        if owner.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {owner.api_key}":
            return True
        self._error(401, "Incorrect API key provided.", "invalid_request_error")
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.owner.models]
            self._send(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        owner = self.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        if not self._authorized():
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._error(400, "body is not JSON", "invalid_request_error")
            return
        problem = validate_chat_request(body, owner.models, owner.require_explicit_sampling)
        if problem:
            self._error(400, problem, "invalid_request_error")
            return
        digest = hashlib.sha256(raw).hexdigest()  # a retry resends the same bytes
        owner.enter()
        try:
            with owner._lock:
                owner.log.requests.append(body)
                owner.log.attempts[digest] += 1
                attempt = owner.log.attempts[digest]
            if owner.latency_s:
                time.sleep(owner.latency_s)
            fault = owner.fault_for(digest, attempt)
            if owner.fail_after is not None and fault is None:
                with owner._lock:  # grant answers atomically: exactly fail_after, even under concurrency
                    dead = owner._granted >= owner.fail_after
                    owner._granted += 0 if dead else 1
                fault = "500" if dead else None
            if fault is not None:
                with owner._lock:
                    owner.log.faults[fault] += 1
                self._fault(fault)
                return
            self._complete(body, digest)
        finally:
            owner.leave()

    def _fault(self, fault: str) -> None:
        owner = self.owner
        if fault == "429":
            self._error(429, "Rate limit reached.", "rate_limit_exceeded", {"Retry-After": f"{owner.retry_after_s:g}"})
        elif fault == "500":
            self._error(500, "The server had an error while processing your request.", "server_error")
        elif fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        else:  # timeout: answer nothing until the client gives up
            time.sleep(owner.timeout_sleep_s)
            self.close_connection = True

    def _complete(self, body: dict[str, Any], digest: str) -> None:
        owner = self.owner
        text, text_tokens, audio_tokens = owner.answer(body)
        refused = any(
            REFUSE_TRIGGER in (m["content"] if isinstance(m["content"], str) else " ".join(p.get("text", "") for p in m["content"]))
            for m in body["messages"]
        )
        message = {"role": "assistant", "content": None if refused else text, "refusal": "I can't help with that." if refused else None}
        completion = 1 if refused else 5
        payload = {
            "id": f"chatcmpl-{digest[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": {
                "prompt_tokens": text_tokens + audio_tokens,
                "completion_tokens": completion,
                "total_tokens": text_tokens + audio_tokens + completion,
                "prompt_tokens_details": {"audio_tokens": audio_tokens, "cached_tokens": 0},
                "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 0},
            },
        }
        with owner._lock:
            owner.log.answered[digest] += 1
        self._send(200, payload)


def main(argv: list[str] | None = None) -> None:
    """``python -m biasbench.testing.openai_server``: serve until killed (prints the base URL first)."""
    import argparse

    parser = argparse.ArgumentParser(description="Local OpenAI-compatible test server (loopback only).")
    parser.add_argument("--model", action="append", dest="models", help="served model id (repeatable)")
    parser.add_argument("--api-key", default="sk-test-key")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fail-after", type=int, default=None, help="answer 500 to everything after this many answers")
    args = parser.parse_args(argv)
    models = tuple(args.models or ("gpt-4o-audio-preview-2025-06-03",))
    server = OpenAITestServer(
        models, api_key=args.api_key, latency_s=args.latency, fault_rate=args.fault_rate, seed=args.seed, fail_after=args.fail_after
    ).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


class ServerProcess:
    """The test server in its own process (benchmarks: keeps its CPU off the client's GIL)."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.process: Any = None
        self.base_url = ""

    def __enter__(self) -> "ServerProcess":
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "biasbench.testing.openai_server", *self.args], stdout=subprocess.PIPE, text=True
        )
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self.process.kill()
            raise RuntimeError("test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    main()
