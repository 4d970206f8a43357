"""A loopback stand-in for the Hugging Face Hub's HTTP API, for testing ``export --push-to-hub``.

It speaks the endpoints ``huggingface_hub`` calls to create a repo and commit files (create, YAML
validation of the card, pre-upload, NDJSON commit with base64 file contents), checks the bearer token,
and keeps what was committed so a test can compare it byte for byte with what was exported. Point
``HF_ENDPOINT`` at :attr:`FakeHub.url`.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeHub:
    """The server's state: repos created and files committed, per repo."""

    token: str = "hf_test_token"
    """The only token accepted (Authorization: Bearer ...)."""
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'owner/name' -> the create request (type, visibility)."""
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """'owner/name' -> path -> committed bytes."""
    commits: list[dict[str, Any]] = field(default_factory=list)
    """Commit headers (summary), in order."""
    unauthorized: int = 0
    """Requests refused for a missing or wrong token."""
    url: str = ""
    """Base URL once started."""
    _server: Any = None

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(404, {"error": f"not served by the fake hub: {self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    hub.unauthorized += 1
                    self._reply(401, {"error": "Invalid credentials in Authorization header"})
                    return
                path = self.path.split("?", 1)[0]
                if path == "/api/repos/create":
                    request = json.loads(body)
                    repo = f"{request.get('organization')}/{request['name']}"
                    hub.repos[repo] = request
                    self._reply(200, {"url": f"{hub.url}/datasets/{repo}", "name": repo})
                elif path == "/api/validate-yaml":
                    self._reply(200, {"errors": [], "warnings": []})
                elif path.startswith("/api/datasets/") and "/preupload/" in path:
                    files = json.loads(body)["files"]
                    self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                elif path.startswith("/api/datasets/") and "/commit/" in path:
                    repo = path.removeprefix("/api/datasets/").split("/commit/")[0]
                    if repo not in hub.repos:
                        self._reply(404, {"error": f"Repository Not Found for url: {self.path}"})
                        return
                    for line in body.decode().splitlines():
                        entry = json.loads(line)
                        if entry["key"] == "header":
                            hub.commits.append(entry["value"])
                        elif entry["key"] == "file":
                            value = entry["value"]
                            hub.files.setdefault(repo, {})[value["path"]] = base64.b64decode(value["content"])
                    oid = "0" * 40
                    self._reply(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{oid}", "commitOid": oid, "success": True})
                else:
                    self._reply(404, {"error": f"not served by the fake hub: {self.path}"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
