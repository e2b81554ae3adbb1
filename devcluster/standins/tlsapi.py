"""Test peers: a throwaway CA and server certificate, a scriptable HTTPS API server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from devcluster.standins import certs
from devcluster.standins.certs import LocalTls

# --- a CA and a server certificate for 127.0.0.1 / localhost ------------------------------------


@dataclass(frozen=True)
class Tls(LocalTls):
    other_ca_pem: bytes = b""  # a CA that did not sign the server certificate


def make_tls(folder: Path) -> Tls:
    local = certs.make_tls(folder, "registrar-test-ca")
    _, other_ca = certs.make_ca("registrar-other-ca")
    other_pem = other_ca.public_bytes(serialization.Encoding.PEM)
    return Tls(local.ca_pem, local.cert_file, local.key_file, other_ca_pem=other_pem)


# --- a scriptable HTTPS server ------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Callable[[Seen], Reply]


class ApiServer:
    """Answers with queued replies (then `default`), records every request it saw."""

    def __init__(self, tls: Tls) -> None:
        self.seen: list[Seen] = []
        self.queue: list[Reply] = []
        self.default: Responder = lambda _request: Reply()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    json.loads(raw) if raw else None,
                )
                server.seen.append(seen)
                reply = server.queue.pop(0) if server.queue else server.default(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = tls.server_context().wrap_socket(self._httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
