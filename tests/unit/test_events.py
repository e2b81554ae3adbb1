"""Every documented sample in tests/events, and variants built from them, parse into their model."""

from __future__ import annotations

from typing import Any

import pytest

from registrar.core.errors import InvalidInputError
from registrar.core.events import (
    Ignored,
    ScheduledReconcile,
    TagSnapshot,
    TagsRemoved,
    TagsSet,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    parse_event,
)
from tests.support import eventfactory as ef
from tests.support.events import load_event, sample_event_names

EXPECTED_KIND = {
    "cloudtrail-create-tags.json": TagsSet,
    "cloudtrail-create-volume.json": VolumeCreated,
    "cloudtrail-delete-tags.json": TagsRemoved,
    "cloudtrail-delete-volume.json": VolumeDeleted,
    "ebs-create-volume-available.json": VolumeAvailable,
    "ebs-create-volume-failed.json": Ignored,
    "ebs-delete-volume.json": VolumeDeleted,
    "tag-change-on-resource.json": TagSnapshot,
}


def test_every_documented_sample_is_known() -> None:
    assert set(sample_event_names()) == set(EXPECTED_KIND)


@pytest.mark.parametrize("name", sample_event_names())
def test_documented_samples_parse(name: str) -> None:
    assert type(parse_event(load_event(name))) is EXPECTED_KIND[name]


def test_create_volume_record_is_complete() -> None:
    parsed = parse_event(load_event("cloudtrail-create-volume.json"))
    assert isinstance(parsed, VolumeCreated)
    assert parsed.volume_id == "vol-0a1b2c3d4e5f60718"
    assert parsed.tags["k8s-pvc"] == "shop/orders-db-data"
    assert parsed.principals == (
        "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jdoe",
        "arn:aws:iam::111122223333:role/PlatformAdmin",
    )
    assert parsed.facts is not None
    assert (parsed.facts.size_gib, parsed.facts.availability_zone) == (50, "us-east-1b")
    assert parsed.facts.volume_type == "gp3" and parsed.facts.multi_attach is False


def test_create_volume_without_response_details_needs_a_lookup() -> None:
    parsed = parse_event(ef.create_volume("vol-00000000000000001", {"k8s-pv": ""}, complete=False))
    assert isinstance(parsed, VolumeCreated)
    assert parsed.facts is None


def test_create_volume_without_the_tag_still_parses() -> None:
    parsed = parse_event(ef.create_volume("vol-00000000000000001", {"Name": "scratch"}))
    assert isinstance(parsed, VolumeCreated)
    assert "k8s-pv" not in parsed.tags


@pytest.mark.parametrize("region", ["us-east-1", "cn-north-1", "us-gov-west-1", "eu-west-3"])
def test_regions_and_partitions(region: str) -> None:
    vol = "vol-0123456789abcdef0"
    created = parse_event(ef.create_volume(vol, {"k8s-pv": "x"}, region=region))
    assert isinstance(created, VolumeCreated) and created.region == region
    assert created.facts is not None and created.facts.availability_zone == f"{region}a"
    for event in (
        ef.ebs_notification(vol, region=region),
        ef.tag_change(vol, {"k8s-pv": "x"}, ["k8s-pv"], region=region),
    ):
        parsed = parse_event(event)
        assert isinstance(parsed, (VolumeAvailable, TagSnapshot))
        assert (parsed.volume_id, parsed.region) == (vol, region)
    assert parse_event(ef.scheduled(region=region)) == ScheduledReconcile(region)


def test_create_tags_keeps_only_volumes() -> None:
    ids = ["vol-0000000000000000a", "i-0dc224bad2cb08740", "vol-0000000000000000b", "snap-01234567"]
    parsed = parse_event(ef.create_tags(ids, {"k8s-pv": ""}))
    assert isinstance(parsed, TagsSet)
    assert parsed.volume_ids == ("vol-0000000000000000a", "vol-0000000000000000b")


def test_create_tags_on_an_instance_only_is_ignored() -> None:
    parsed = parse_event(ef.create_tags(["i-0dc224bad2cb08740"], {"k8s-pv": "x"}))
    assert isinstance(parsed, Ignored)


def test_delete_tags_names_the_removed_keys() -> None:
    parsed = parse_event(ef.delete_tags(["vol-0000000000000000a"], ["k8s-pv", "k8s-pvc"]))
    assert isinstance(parsed, TagsRemoved)
    assert parsed.keys == {"k8s-pv", "k8s-pvc"}


def test_tag_change_knows_removed_keys() -> None:
    event = ef.tag_change("vol-0000000000000000a", {"Name": "x"}, ["k8s-pv"])
    parsed = parse_event(event)
    assert isinstance(parsed, TagSnapshot)
    assert parsed.removed_keys == {"k8s-pv"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["detail"].pop("userIdentity"), VolumeCreated),
        (lambda e: e["detail"].pop("awsRegion"), VolumeCreated),
        (lambda e: e["detail"]["requestParameters"].pop("tagSpecificationSet"), VolumeCreated),
        (lambda e: e["detail"].update(errorCode="Client.VolumeLimitExceeded"), Ignored),
        (lambda e: e["detail"].update(eventName="AttachVolume"), Ignored),
        (lambda e: e.update(source="aws.s3"), Ignored),
    ],
)
def test_optional_fields_and_other_calls(mutate: Any, expected: type) -> None:
    event = load_event("cloudtrail-create-volume.json")
    mutate(event)
    assert type(parse_event(event)) is expected


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("not an object", "event"),
        ({"source": "aws.ec2", "region": "us-east-1"}, "detail-type"),
        ({"source": "aws.ec2", "detail-type": "EBS Volume Notification", "region": "r"}, "detail"),
        (
            {"source": "aws.ec2", "detail-type": "EBS Volume Notification", "region": "r",
             "detail": []},
            "detail",
        ),
    ],
)
def test_malformed_envelopes(event: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_event(event)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("sample", "mutate", "field"),
    [
        ("cloudtrail-create-volume.json",
         lambda d: d["responseElements"].update(volumeId=42), "detail.responseElements.volumeId"),
        ("cloudtrail-create-volume.json",
         lambda d: d.update(requestParameters="x"), "detail.requestParameters"),
        ("cloudtrail-create-volume.json",
         lambda d: d["requestParameters"]["tagSpecificationSet"]["items"][0].update(tags="x"),
         "detail.requestParameters.tagSpecificationSet.items[].tags"),
        ("cloudtrail-create-tags.json",
         lambda d: d["requestParameters"]["resourcesSet"].update(items={}),
         "detail.requestParameters.resourcesSet.items"),
        ("cloudtrail-create-tags.json",
         lambda d: d["requestParameters"]["tagSet"]["items"][0].update(value=7),
         "detail.requestParameters.tagSet.items[].value"),
        ("cloudtrail-delete-volume.json",
         lambda d: d["requestParameters"].update(volumeId="i-123"),
         "detail.requestParameters.volumeId"),
        ("tag-change-on-resource.json", lambda d: d.update(tags=["x"]), "detail.tags"),
        ("tag-change-on-resource.json",
         lambda d: d.update({"changed-tag-keys": "k8s-pv"}), "detail.changed-tag-keys"),
        ("ebs-create-volume-available.json", lambda d: d.update(event=None), "detail.event"),
    ],
)
def test_wrong_types_name_the_field(sample: str, mutate: Any, field: str) -> None:
    event = load_event(sample)
    mutate(event["detail"])
    with pytest.raises(InvalidInputError) as caught:
        parse_event(event)
    assert caught.value.field == field


def test_notification_without_a_volume_arn_is_invalid() -> None:
    event = load_event("ebs-create-volume-available.json")
    event["resources"] = ["arn:aws:ec2:us-east-1:111122223333:snapshot/snap-1"]
    with pytest.raises(InvalidInputError) as caught:
        parse_event(event)
    assert caught.value.field == "resources"
