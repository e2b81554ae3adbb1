"""Builds EventBridge events shaped like the documented samples in tests/events/, for any region,
partition and volume (the tests and the benchmarks share it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "events"

ACCOUNT = "111122223333"
PARTITIONS = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}


def _sample(name: str) -> dict[str, Any]:
    """A fresh copy of a documented sample: callers may change it."""
    return dict(json.loads((SAMPLES / name).read_text()))


def partition_of(region: str) -> str:
    return next((p for prefix, p in PARTITIONS.items() if region.startswith(prefix)), "aws")


def volume_arn(volume_id: str, region: str) -> str:
    return f"arn:{partition_of(region)}:ec2:{region}:{ACCOUNT}:volume/{volume_id}"


def _tag_items(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _cloudtrail(sample: str, region: str) -> dict[str, Any]:
    event = _sample(sample)
    event["region"] = region
    event["detail"]["awsRegion"] = region
    return event


def create_volume(
    volume_id: str,
    tags: Mapping[str, str],
    *,
    region: str = "us-east-1",
    zone: str | None = None,
    size: int = 10,
    volume_type: str = "gp3",
    multi_attach: bool = False,
    complete: bool = True,
) -> dict[str, Any]:
    event = _cloudtrail("cloudtrail-create-volume.json", region)
    zone = zone or f"{region}a"
    params = event["detail"]["requestParameters"]
    params.update({"size": str(size), "zone": zone, "volumeType": volume_type})
    params["tagSpecificationSet"]["items"] = [{"resourceType": "volume", "tags": _tag_items(tags)}]
    response = event["detail"]["responseElements"]
    response.update(
        {
            "volumeId": volume_id,
            "size": str(size),
            "zone": zone,
            "volumeType": volume_type,
            "multiAttachEnabled": multi_attach,
            "tagSet": {"items": _tag_items(tags)},
        }
    )
    if not complete:
        for key in ("size", "zone", "volumeType", "multiAttachEnabled", "tagSet"):
            response.pop(key)
    return event


def create_tags(
    resource_ids: Iterable[str], tags: Mapping[str, str], *, region: str = "us-east-1"
) -> dict[str, Any]:
    event = _cloudtrail("cloudtrail-create-tags.json", region)
    params = event["detail"]["requestParameters"]
    params["resourcesSet"]["items"] = [{"resourceId": r} for r in resource_ids]
    params["tagSet"]["items"] = _tag_items(tags)
    return event


def delete_tags(
    resource_ids: Iterable[str], keys: Iterable[str], *, region: str = "us-east-1"
) -> dict[str, Any]:
    event = _cloudtrail("cloudtrail-delete-tags.json", region)
    params = event["detail"]["requestParameters"]
    params["resourcesSet"]["items"] = [{"resourceId": r} for r in resource_ids]
    params["tagSet"]["items"] = [{"key": k} for k in keys]
    return event


def delete_volume(volume_id: str, *, region: str = "us-east-1") -> dict[str, Any]:
    event = _cloudtrail("cloudtrail-delete-volume.json", region)
    event["detail"]["requestParameters"]["volumeId"] = volume_id
    return event


def ebs_notification(
    volume_id: str,
    *,
    event_name: str = "createVolume",
    result: str = "available",
    region: str = "us-east-1",
) -> dict[str, Any]:
    event = _sample("ebs-create-volume-available.json")
    event["region"] = region
    event["resources"] = [volume_arn(volume_id, region)]
    event["detail"].update({"event": event_name, "result": result})
    return event


def tag_change(
    volume_id: str,
    tags: Mapping[str, str],
    changed: Iterable[str],
    *,
    region: str = "us-east-1",
) -> dict[str, Any]:
    event = _sample("tag-change-on-resource.json")
    event["region"] = region
    event["resources"] = [volume_arn(volume_id, region)]
    event["detail"]["tags"] = dict(tags)
    event["detail"]["changed-tag-keys"] = list(changed)
    return event


def scheduled(*, region: str = "us-east-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5c8c4f2a-0000-1111-2222-333344445555",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-05-04T10:00:00Z",
        "region": region,
        "resources": [f"arn:{partition_of(region)}:events:{region}:{ACCOUNT}:rule/reconcile"],
        "detail": {},
    }
