"""Counting what reaches the servers: AWS actions through a proxy in front of moto, and the
requests the kmock API server saw."""

from __future__ import annotations

import threading
import urllib.parse
from collections import Counter

from devcluster.standins.kmockthread import KmockThread
from devcluster.standins.loopback import Loopback, QuietHandler, forward

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

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.body()
                action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
                with lock:
                    counter[action] += 1
                    throttled = throttle[action] > 0
                    throttle[action] -= throttled
                if throttled:
                    self.reply(503, THROTTLED)
                else:
                    self.reply(*forward(upstream, "POST", self.path, body, dict(self.headers)))

        self._loopback = Loopback(Handler)
        self.url = self._loopback.url

    def close(self) -> None:
        self._loopback.close()


def kube_requests(server: KmockThread) -> Counter[str]:
    assert server.emulator is not None
    seen: Counter[str] = Counter()
    for request in list(server.emulator):
        method = str(request.method).upper().rsplit(".", 1)[-1]
        seen[f"{method} {urllib.parse.urlsplit(str(request.url)).path}"] += 1
    return seen
