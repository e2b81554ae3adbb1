"""The AWS adapter against AWS as harsh as it is documented to be (devcluster/standins/):
every listing read to its end through short and empty pages, RequestLimitExceeded retried,
a young volume's InvalidVolume.NotFound waited out, absence proved by a volume's own NotFound,
and LookupEvents bounded, shared and paced under CloudTrail's 2 requests a second."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.harsh_ec2 import HarshEc2
from devcluster.standins.harshness import HARSH, settle
from registrar.adapters import aws
from registrar.adapters.aws import CloudTrailIdentities, Ec2Volumes
from registrar.core.errors import NotFoundError
from tests.support import eventfactory as ef

ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer


def new_volumes(ec2: Any, count: int, **tags: str) -> list[str]:
    tags = tags or {"Name": "harsh"}
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return [
        str(
            ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, TagSpecifications=spec)[
                "VolumeId"
            ]
        )
        for _ in range(count)
    ]


@pytest.fixture
def rough(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, moto_direct: str
) -> Iterator[HarshEc2]:
    """EC2 rougher than the session's: one page item at a time, every other request throttled."""
    harsh = dataclasses.replace(HARSH, page_items=1, throttle_every=2, throttle_burst=1)
    proxy = HarshEc2(moto_direct, harsh)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.close()


def test_a_listing_is_read_to_its_last_page(ec2: Any, harsh_ec2: HarshEc2) -> None:
    ids = new_volumes(ec2, 8, **{"k8s-pv": ""})
    settle(HARSH)
    before = harsh_ec2.pages
    tagged = {facts.volume_id for facts in Ec2Volumes("us-east-1").tagged_volumes()}
    assert set(ids) <= tagged
    assert harsh_ec2.pages - before >= 3  # short and empty pages, each with a NextToken
    assert Ec2Volumes("us-east-1").existing_ids(ids) == set(ids)


def test_throttling_is_retried_and_every_page_still_read(ec2: Any, rough: HarshEc2) -> None:
    ids = new_volumes(ec2, 5)
    settle(HARSH)
    assert Ec2Volumes("us-east-1").existing_ids(ids) == set(ids)
    assert rough.throttled["DescribeVolumes"] >= 3  # RequestLimitExceeded, retried by botocore


def test_missing_ids_are_those_ec2_says_do_not_exist(ec2: Any, harsh_ec2: HarshEc2) -> None:
    alive = new_volumes(ec2, 5)
    gone = new_volumes(ec2, 2)
    for volume_id in gone:
        ec2.delete_volume(VolumeId=volume_id)
    settle(HARSH)
    never = "vol-0000000000000dead"
    assert Ec2Volumes("us-east-1").missing_ids([*alive, *gone, never]) == {*gone, never}
    assert Ec2Volumes("us-east-1").missing_ids(alive) == set()


def test_a_volume_just_created_is_described_once_ec2_shows_it(ec2: Any, moto_endpoint: str) -> None:
    (volume_id,) = new_volumes(ec2, 1, **{"k8s-pv": "young"})
    assert Ec2Volumes("us-east-1").describe_volume(volume_id).tags == {"k8s-pv": "young"}


def test_a_missing_volume_is_not_found_after_the_settle_delays(moto_endpoint: str) -> None:
    waits: list[float] = []
    volumes = Ec2Volumes("us-east-1", sleep=waits.append)
    with pytest.raises(NotFoundError):
        volumes.describe_volume("vol-0000000000000dead")
    assert waits == list(aws.SETTLE_DELAYS_S)


# --- CloudTrail LookupEvents --------------------------------------------------------------------


def tagging(volume_ids: list[str], tags: dict[str, str]) -> dict[str, Any]:
    return dict(ef.create_tags(volume_ids, tags)["detail"])


def test_lookups_are_paced_under_two_a_second(trail: CloudTrailStandIn) -> None:
    ids = [f"vol-{n:017x}" for n in range(6)]
    for volume_id in ids:
        trail.record(tagging([volume_id], {"k8s-pv": volume_id}), lag=0)
    identities = CloudTrailIdentities("us-east-1")
    started = time.monotonic()
    for volume_id in ids:
        assert identities.who_set(volume_id, ["k8s-pv"])["k8s-pv"][-1] == ADMIN
    elapsed = time.monotonic() - started
    assert trail.calls == 6 and trail.throttled == 0
    assert elapsed >= 2.4  # 6 calls at 2 a second: the first at once, then one each 0.5 s


def test_the_stand_in_throttles_a_third_call_within_a_second(
    trail: CloudTrailStandIn, moto_endpoint: str
) -> None:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    client = boto3.client(
        "cloudtrail",
        region_name="us-east-1",
        endpoint_url=trail.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    codes = []
    for _ in range(4):
        try:
            client.lookup_events(MaxResults=1)
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    assert "ThrottlingException" in codes


def test_one_walk_serves_every_key_and_repeat(trail: CloudTrailStandIn) -> None:
    volume_id = "vol-00000000000000001"
    trail.record(tagging([volume_id], {"k8s-pv": "a", "k8s-pvc": "b"}), lag=0)
    identities = CloudTrailIdentities("us-east-1")
    assert identities.who_set(volume_id, ["k8s-pv"]).keys() == {"k8s-pv"}
    assert identities.who_set(volume_id, ["k8s-pv", "k8s-pvc"]).keys() == {"k8s-pv", "k8s-pvc"}
    assert identities.who_set(volume_id, ["k8s-pv"]).keys() == {"k8s-pv"}  # a duplicate event
    assert trail.calls == 1
    identities.new_invocation()
    identities.who_set(volume_id, ["k8s-pv"])
    assert trail.calls == 2


def test_one_create_tags_over_many_volumes_is_found_for_each(trail: CloudTrailStandIn) -> None:
    ids = [f"vol-{n:017x}" for n in range(100, 104)]
    trail.record(tagging(ids, {"k8s-pv": ""}), lag=0)
    identities = CloudTrailIdentities("us-east-1")
    assert all(identities.who_set(v, ["k8s-pv"])["k8s-pv"][-1] == ADMIN for v in ids)


def test_lookups_stop_at_the_budget(
    trail: CloudTrailStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "LOOKUP_BUDGET", 3)
    ids = [f"vol-{n:017x}" for n in range(200, 205)]
    for volume_id in ids:
        trail.record(tagging([volume_id], {"k8s-pv": ""}), lag=0)
    identities = CloudTrailIdentities("us-east-1", sleep=lambda _s: None)
    answers = [identities.who_set(v, ["k8s-pv"]) for v in ids]
    assert [bool(a) for a in answers] == [True, True, True, False, False]  # unknown, not refused
    assert identities.calls == 3  # (unpaced here: the stand-in throttles, botocore retries)


def test_a_record_not_delivered_yet_is_not_found(trail: CloudTrailStandIn) -> None:
    volume_id = "vol-00000000000000300"
    trail.record(tagging([volume_id], {"k8s-pv": ""}), lag=1.0)
    identities = CloudTrailIdentities("us-east-1")
    assert identities.who_set(volume_id, ["k8s-pv"]) == {}
    time.sleep(1.0)
    identities.new_invocation()
    assert identities.who_set(volume_id, ["k8s-pv"]).keys() == {"k8s-pv"}


def test_records_older_than_90_days_are_gone(trail: CloudTrailStandIn) -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    volume_id = "vol-00000000000000400"
    long_ago = datetime.now(UTC) - timedelta(days=91)
    trail.record(tagging([volume_id], {"k8s-pv": ""}), lag=0, at=long_ago)
    assert CloudTrailIdentities("us-east-1").who_set(volume_id, ["k8s-pv"]) == {}
