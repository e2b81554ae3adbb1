"""The client-side token bucket (qps, burst) in front of every Kubernetes request, on a fake
clock (the gateway waiting on it: tests/integration/test_gateway_rate_limit.py)."""

from __future__ import annotations

import threading

import pytest

from registrar.adapters.kube_transport import DEFAULT_RATE_LIMIT, RateLimit
from registrar.adapters.token_bucket import TokenBucket
from registrar.core.errors import SettingsError
from registrar.core.settings import Settings
from tests.support.clock import bucket


def test_burst_passes_without_waiting() -> None:
    limiter, clock = bucket(5, 10)
    assert [limiter.acquire() for _ in range(10)] == [0.0] * 10
    assert clock.sleeps == []


def test_beyond_the_burst_callers_queue_at_qps() -> None:
    limiter, clock = bucket(5, 10)
    for _ in range(10):
        limiter.acquire()
    # No time passes: each further caller reserves the next slot, 1/qps apart.
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.2, 0.4, 0.6])
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.6])


def test_tokens_refill_at_qps_up_to_the_burst() -> None:
    limiter, clock = bucket(5, 10)
    for _ in range(10):
        limiter.acquire()
    clock.advance(1.0)  # 5 tokens back
    assert [limiter.acquire() for _ in range(5)] == [0.0] * 5
    assert limiter.acquire() == pytest.approx(0.2)
    clock.advance(3600)  # a long idle refills to the burst, not beyond
    waits = [limiter.acquire() for _ in range(11)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.2)


def test_steady_rate_never_exceeds_qps_plus_burst_in_any_second() -> None:
    limiter, clock = bucket(5, 10)
    granted: list[float] = []
    for _ in range(200):
        wait = limiter.acquire()
        clock.advance(wait)  # the caller slept until its slot
        granted.append(clock.now)
    for start in granted:
        in_window = sum(1 for t in granted if start <= t < start + 1.0)
        assert in_window <= 5 + 10
    # The long-run rate is qps: 190 requests after the burst take 38 s.
    assert granted[-1] - granted[0] == pytest.approx((200 - 10) / 5)


def test_concurrent_callers_each_get_their_own_slot() -> None:
    limiter, _ = bucket(10, 2)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = limiter.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 2 free, then 10 reservations 0.1 s apart: no two callers share a slot.
    assert sorted(waits) == pytest.approx([0.0, 0.0] + [0.1 * i for i in range(1, 11)])


@pytest.mark.parametrize(("qps", "burst"), [(0, 10), (-1, 10), (5, 0)])
def test_invalid_limits_are_a_programming_error(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        TokenBucket(qps, burst)


def test_defaults_are_client_gos() -> None:
    assert RateLimit(qps=5.0, burst=10) == DEFAULT_RATE_LIMIT
    settings = Settings.from_env({})
    assert (settings.kube_qps, settings.kube_burst) == (5.0, 10)


def test_settings_read_and_validate_the_rate() -> None:
    env = {"REGISTRAR_KUBE_QPS": "2.5", "REGISTRAR_KUBE_BURST": "4"}
    settings = Settings.from_env(env)
    assert (settings.kube_qps, settings.kube_burst) == (2.5, 4)
    for name, value in [
        ("REGISTRAR_KUBE_QPS", "0"),
        ("REGISTRAR_KUBE_QPS", "-1"),
        ("REGISTRAR_KUBE_QPS", "fast"),
        ("REGISTRAR_KUBE_QPS", "inf"),
        ("REGISTRAR_KUBE_QPS", "nan"),
        ("REGISTRAR_KUBE_BURST", "0"),
        ("REGISTRAR_KUBE_BURST", "2.5"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
