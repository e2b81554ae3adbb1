"""A CloudTrail `CreateVolume` event for a real (moto) volume, shaped like the README's example
(examples/create-volume-event.json), as EventBridge delivers it."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "create-volume-event.json"


def _items(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"key": tag["Key"], "value": tag["Value"]} for tag in tags]


def create_volume_event(volume: dict[str, Any], region: str) -> dict[str, Any]:
    """`volume` is a DescribeVolumes entry (or CreateVolume's answer)."""
    event: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = _items(volume.get("Tags", []))
    event.update({"id": str(uuid.uuid4()), "time": now, "region": region})
    detail = event["detail"]
    detail.update({"eventTime": now, "awsRegion": region, "eventID": str(uuid.uuid4())})
    request = detail["requestParameters"]
    request.update(
        {
            "size": str(volume["Size"]),
            "zone": volume["AvailabilityZone"],
            "volumeType": volume["VolumeType"],
            "encrypted": bool(volume.get("Encrypted", False)),
        }
    )
    request["tagSpecificationSet"]["items"] = [{"resourceType": "volume", "tags": tags}]
    response = detail["responseElements"]
    response.update(
        {
            "volumeId": volume["VolumeId"],
            "size": str(volume["Size"]),
            "zone": volume["AvailabilityZone"],
            "volumeType": volume["VolumeType"],
            "encrypted": bool(volume.get("Encrypted", False)),
            "multiAttachEnabled": bool(volume.get("MultiAttachEnabled", False)),
            "tagSet": {"items": tags},
        }
    )
    response.pop("masterEncryptionKeyId", None)
    return event
