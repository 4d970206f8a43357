"""A small loopback HTTP server for the viewer (standard library only).

Routes: ``/`` the page, ``/api/data`` the rows as JSON, ``/audio/<sha256>.wav`` a clip of the run
(only clips the run's rows use; byte ranges honoured so the browser can seek). It binds to
127.0.0.1 by default: the run's answers stay on this machine.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from biasbench.viewer.data import ViewerData

_AUDIO = re.compile(r"^/audio/([0-9a-f]{64})\.wav$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _mime(path: Path) -> str:
    """Content type of a stored clip (the cache keeps FLAC or WAV)."""
    return "audio/flac" if path.suffix == ".flac" else "audio/wav"


def page_html() -> bytes:
    """The viewer page (self-contained: inline CSS and JS)."""
    return resources.files("biasbench.viewer").joinpath("static/index.html").read_bytes()


def make_server(data: ViewerData, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for ``data`` (port 0: any free port; read it from ``server.server_address``)."""
    payload = json.dumps(
        {"meta": data.meta, "notes": data.notes, "rows": data.rows}, ensure_ascii=False, allow_nan=False, default=str
    ).encode("utf-8")
    page = page_html()
    clips = dict(data.clips)

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "biasbench-view"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI prints the address
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, page, "text/html; charset=utf-8")
            elif path == "/api/data":
                self._send(200, payload, "application/json")
            elif (match := _AUDIO.match(path)) and match.group(1) in clips:
                self._send_file(clips[match.group(1)])
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send_file(self, path: Path) -> None:
            try:
                body = path.read_bytes()
            except OSError:
                self._send(404, b"clip missing", "text/plain")
                return
            size = len(body)
            match = _RANGE.match(self.headers.get("Range", "") or "")
            if match and (match.group(1) or match.group(2)):
                start_text, end_text = match.groups()
                if start_text:
                    start, end = int(start_text), min(int(end_text) if end_text else size - 1, size - 1)
                else:
                    start, end = max(size - int(end_text), 0), size - 1
                if start > end or start >= size:
                    self._send(416, b"", _mime(path), {"Content-Range": f"bytes */{size}"})
                    return
                self._send(206, body[start : end + 1], _mime(path), {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"})
                return
            self._send(200, body, _mime(path), {"Accept-Ranges": "bytes"})

    return http.server.ThreadingHTTPServer((host, port), Handler)


def serve_in_background(data: ViewerData, host: str = "127.0.0.1", port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start the server in a daemon thread; returns it and its base URL (tests, notebooks)."""
    server = make_server(data, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
