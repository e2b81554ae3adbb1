"""CloudTrail lookups on a fake clock: paced at two calls a second, bounded per volume and per
window, one walk shared by every key and repeat of a volume (the adapter's own arithmetic; the
integration tier measures it against the LookupEvents stand-in)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registrar.adapters import aws
from registrar.adapters.aws import CloudTrailIdentities
from registrar.adapters.token_bucket import TokenBucket
from tests.support import eventfactory as ef


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Trail:
    """LookupEvents over pages of `per_page` events that tag one key each, newest first."""

    def __init__(self, keys: list[str], per_page: int = 1) -> None:
        self.keys, self.per_page, self.calls = keys, per_page, 0

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        volume_id = request["LookupAttributes"][0]["AttributeValue"]
        start = int(request.get("NextToken") or 0)
        keys = self.keys[start : start + self.per_page]
        events = [
            {"EventName": "CreateTags", "CloudTrailEvent": json.dumps(
                ef.create_tags([volume_id], {key: "x"})["detail"])}
            for key in keys
        ]  # fmt: skip
        more = start + self.per_page < len(self.keys)
        return {"Events": events, **({"NextToken": str(start + self.per_page)} if more else {})}


def identities(trail: Trail, clock: Clock) -> CloudTrailIdentities:
    found = CloudTrailIdentities("us-east-1", clock=clock, sleep=clock.sleep)
    found.__dict__["_trail"] = trail  # the cached client
    return found


def test_the_bucket_paces_after_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 1.0, clock=clock, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.5, 0.5]
    assert not bucket.try_take()
    clock.now += 0.5
    assert bucket.try_take()


def test_lookups_are_paced_at_two_a_second() -> None:
    clock, trail = Clock(), Trail(["k8s-pv"])
    lookups = identities(trail, clock)
    for n in range(5):
        assert lookups.who_set(f"vol-{n:017x}", ["k8s-pv"]).keys() == {"k8s-pv"}
    assert trail.calls == 5
    assert clock.now == pytest.approx(2.0)  # the first at once, then one each 0.5 s


def test_one_walk_serves_every_key_and_carries_on_where_it_stopped() -> None:
    clock, trail = Clock(), Trail(["k8s-pv", "k8s-pvc", "k8s-cluster"])
    lookups = identities(trail, clock)
    assert lookups.who_set("vol-00000000000000001", ["k8s-pv"]).keys() == {"k8s-pv"}
    assert trail.calls == 1
    both = lookups.who_set("vol-00000000000000001", ["k8s-pv", "k8s-cluster"])
    assert both.keys() == {"k8s-pv", "k8s-cluster"}
    assert trail.calls == 3  # pages 2 and 3, not page 1 again
    assert lookups.who_set("vol-00000000000000001", ["k8s-pvc"]).keys() == {"k8s-pvc"}
    assert trail.calls == 3


def test_a_walk_is_shared_for_seconds_only() -> None:
    clock, trail = Clock(), Trail(["k8s-pv"])
    lookups = identities(trail, clock)
    lookups.who_set("vol-00000000000000001", ["k8s-pv"])
    lookups.who_set("vol-00000000000000001", ["k8s-pv"])
    assert trail.calls == 1
    clock.now += aws.LOOKUP_SHARE_S + 0.1
    lookups.who_set("vol-00000000000000001", ["k8s-pv"])
    assert trail.calls == 2


def test_one_volume_reads_at_most_its_pages_and_the_rest_is_unknown() -> None:
    clock = Clock()
    trail = Trail(["Name"] * (aws.LOOKUP_PAGES + 5) + ["k8s-pv"])
    assert identities(trail, clock).who_set("vol-00000000000000001", ["k8s-pv"]) == {}
    assert trail.calls == aws.LOOKUP_PAGES


def test_the_budget_bounds_every_volume_together_then_refills() -> None:
    clock, trail = Clock(), Trail(["k8s-pv"])
    lookups = identities(trail, clock)
    asked = 2 * aws.LOOKUP_BUDGET
    answered = [bool(lookups.who_set(f"vol-{n:017x}", ["k8s-pv"])) for n in range(asked)]
    count = answered.count(True)
    assert answered == [True] * count + [False] * (asked - count)  # the rest: writer unknown
    # The budget, plus what refilled while the calls were paced (LOOKUP_BUDGET a minute).
    assert aws.LOOKUP_BUDGET <= count == trail.calls < aws.LOOKUP_BUDGET + 4
    lookups.new_invocation()
    assert lookups.who_set("vol-0000000000000ffff", ["k8s-pv"]).keys() == {"k8s-pv"}
