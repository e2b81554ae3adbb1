"""Client-side pacing shared by the gateways: the Kubernetes gateway's QPS and burst, and
CloudTrail LookupEvents' pace and budget (adapters/aws.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class TokenBucket:
    """Allows `burst` requests at once, then `qps` per second. Thread-safe: a caller reserves
    its token under the lock and sleeps outside it, so concurrent callers queue up in order.
    `acquire` waits for a token; `try_take` gives up at once."""

    def __init__(
        self,
        qps: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not qps > 0 or burst < 1:
            raise ValueError("rate limit: qps must be positive and burst at least 1")
        self._qps = float(qps)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        with self._lock:
            self._tokens = self._refilled() - 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._qps
        if wait > 0:
            log.debug("rate limit: waiting %.3f s", wait)
            self._sleep(wait)
        return wait

    def try_take(self) -> bool:
        """Take one token if there is one, without waiting."""
        with self._lock:
            tokens = self._refilled()
            taken = tokens >= 1.0
            self._tokens = tokens - 1.0 if taken else tokens
            return taken

    def refill(self) -> None:
        """Full again, as at the start."""
        with self._lock:
            self._tokens, self._last = self._burst, self._clock()

    def _refilled(self) -> float:
        now = self._clock()
        tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        return tokens
