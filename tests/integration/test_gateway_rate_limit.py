"""The Kubernetes gateway waits on its token bucket instead of flooding the API server (kmock
over TLS; the bucket alone: tests/unit/test_rate_limit.py)."""

from __future__ import annotations

import time

import pytest

from devcluster.standins.kmockthread import KmockThread
from devcluster.standins.tlsapi import Tls
from registrar.adapters.kube import KubeGateway
from registrar.adapters.token_bucket import TokenBucket
from tests.support.clock import bucket


def test_gateway_waits_on_the_bucket_for_every_request(
    kmock_server: KmockThread, tls: Tls
) -> None:
    """Past the burst, each request waits its turn (fake clock: the waits are exact)."""
    limiter, clock = bucket(5, 3)
    gateway = KubeGateway(kmock_server.url, tls.ca_pem, lambda _force: "t", limiter=limiter)
    try:
        for _ in range(6):
            list(gateway.list("PersistentVolume", "a=b"))
    finally:
        gateway.close()
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.6])


def test_gateway_does_not_flood_the_server(kmock_server: KmockThread, tls: Tls) -> None:
    """On the real clock: past the burst, requests wait for their tokens before they are sent
    (never longer than the rate asks), and the server still gets all 12."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    limiter = TokenBucket(20, 2, sleep=sleep)
    gateway = KubeGateway(kmock_server.url, tls.ca_pem, lambda _force: "t", limiter=limiter)
    try:
        for _ in range(12):
            list(gateway.list("PersistentVolume", "a=b"))
    finally:
        gateway.close()
    assert waits  # it waited instead of sending at once
    assert 0 < sum(waits) <= (12 - 2) / 20 + 1e-6  # and never longer than the rate asks
    assert kmock_server.emulator is not None
    assert len(list(kmock_server.emulator)) == 12
