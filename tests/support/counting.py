"""Counting what reaches the servers: AWS actions through a proxy in front of moto, and the
requests the kmock API server saw."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devcluster.standins.kmockthread import KmockThread

THROTTLED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
    b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    b"</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)


class CountingProxy:
    """Forwards every request to moto and counts the AWS actions it carried. `throttle[action]`
    answers that many of the next calls with EC2's RequestLimitExceeded instead."""

    def __init__(self, upstream: str) -> None:
        self.actions: Counter[str] = Counter()
        self.throttle: Counter[str] = Counter()
        counter, throttle, lock = self.actions, self.throttle, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
                with lock:
                    counter[action] += 1
                    throttled = throttle[action] > 0
                    throttle[action] -= throttled
                if throttled:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(THROTTLED)))
                    self.end_headers()
                    self.wfile.write(THROTTLED)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    upstream + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, data, reply = response.status, response.read(), response.headers
                except urllib.error.HTTPError as error:
                    status, data, reply = error.code, error.read(), error.headers
                self.send_response(status)
                for key, value in reply.items():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def kube_requests(server: KmockThread) -> Counter[str]:
    assert server.emulator is not None
    seen: Counter[str] = Counter()
    for request in list(server.emulator):
        method = str(request.method).upper().rsplit(".", 1)[-1]
        seen[f"{method} {urllib.parse.urlsplit(str(request.url)).path}"] += 1
    return seen
