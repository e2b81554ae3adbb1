"""What every stand-in in front of (or beside) moto shares: a quiet HTTP server on a loopback
port the OS picks, run on a daemon thread; a reply with an exact Content-Length; and a
request forwarded upstream as it came, errors included."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Set by this server, never copied from the upstream's answer.
OWN_HEADERS = frozenset({"transfer-encoding", "content-length", "connection", "date", "server"})


class QuietHandler(BaseHTTPRequestHandler):
    def reply(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            if key.lower() not in OWN_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def log_message(self, *args: Any) -> None:
        pass


class Loopback:
    """`handler` served on 127.0.0.1 at `url` until `close()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def forward(
    upstream: str,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = 30,
) -> tuple[int, bytes, dict[str, str]]:
    """The upstream's status, body and headers for the same request."""
    sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
    request = urllib.request.Request(
        upstream + path, data=body if method == "POST" else None, headers=sent, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
