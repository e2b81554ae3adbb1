"""The EventBridge events the registrar accepts, parsed into typed models before any logic runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registrar.core.errors import InvalidInputError
from registrar.core.models import VolumeFacts

VOLUME_ID = re.compile(r"vol-[0-9a-f]{8,32}")
VOLUME_ARN = re.compile(r"arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:volume/(vol-[0-9a-f]{8,32})")


@dataclass(frozen=True)
class VolumeCreated:
    """CloudTrail CreateVolume. `facts` is set when the record alone is complete."""

    region: str
    volume_id: str
    tags: Mapping[str, str]
    facts: VolumeFacts | None
    principals: tuple[str, ...] = ()  # the caller's ARN, and its role's for an assumed role


@dataclass(frozen=True)
class TagsSet:
    """CloudTrail CreateTags on one or more volumes (other resources dropped)."""

    region: str
    volume_ids: tuple[str, ...]
    tags: Mapping[str, str]
    principals: tuple[str, ...] = ()  # the caller's ARN, and its role's for an assumed role


@dataclass(frozen=True)
class TagsRemoved:
    """CloudTrail DeleteTags on one or more volumes."""

    region: str
    volume_ids: tuple[str, ...]
    keys: frozenset[str]
    principals: tuple[str, ...] = ()  # the caller's ARN, and its role's for an assumed role


@dataclass(frozen=True)
class VolumeAvailable:
    """EBS Volume Notification: createVolume with result `available`. No tags inside."""

    region: str
    volume_id: str


@dataclass(frozen=True)
class VolumeModified:
    """EBS Volume Notification: modifyVolume (its size, type or IOPS changed). No size inside:
    the volume is described again."""

    region: str
    volume_id: str


@dataclass(frozen=True)
class VolumeDetached:
    """CloudTrail DetachVolume: a volume waiting for its detach (attached elsewhere, or moving
    between clusters) may go on."""

    region: str
    volume_id: str


@dataclass(frozen=True)
class VolumeDeleted:
    """CloudTrail DeleteVolume or EBS Volume Notification deleteVolume."""

    region: str
    volume_id: str


@dataclass(frozen=True)
class TagSnapshot:
    """Tag Change on Resource: `tags` is the full current set (best-effort delivery)."""

    region: str
    volume_id: str
    tags: Mapping[str, str]
    changed_keys: frozenset[str] = field(default_factory=frozenset)

    @property
    def removed_keys(self) -> frozenset[str]:
        return frozenset(k for k in self.changed_keys if k not in self.tags)


@dataclass(frozen=True)
class ScheduledReconcile:
    region: str


@dataclass(frozen=True)
class Ignored:
    reason: str


VolumeEvent = (
    VolumeCreated
    | TagsSet
    | TagsRemoved
    | VolumeAvailable
    | VolumeModified
    | VolumeDetached
    | VolumeDeleted
    | TagSnapshot
    | ScheduledReconcile
)


def parse_event(raw: object) -> VolumeEvent | Ignored:
    """Parse one EventBridge event. Malformed input raises InvalidInputError naming the field."""
    if not isinstance(raw, Mapping):
        raise InvalidInputError("event", "must be a JSON object")
    detail_type, source, region = (_text(raw, key) for key in ("detail-type", "source", "region"))
    if detail_type == "Scheduled Event" and source == "aws.events":
        return ScheduledReconcile(region)
    detail = raw.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidInputError("detail", "must be a JSON object")
    if source == "aws.ec2" and detail_type == "AWS API Call via CloudTrail":
        return _cloudtrail(region, detail)
    if source == "aws.ec2" and detail_type == "EBS Volume Notification":
        return _ebs_notification(region, raw.get("resources"), detail)
    if source == "aws.tag" and detail_type == "Tag Change on Resource":
        return _tag_change(region, raw.get("resources"), detail)
    return Ignored(f"unsupported event {source!r} {detail_type!r}")


def _cloudtrail(region: str, detail: Mapping[str, Any]) -> VolumeEvent | Ignored:
    name = _text(detail, "eventName", "detail.eventName")
    if detail.get("errorCode"):
        return Ignored(f"{name} failed with {_short(detail.get('errorCode'))}")
    region = _opt_text(detail, "awsRegion", "detail.awsRegion") or region
    params = _mapping(detail, "requestParameters", "detail.requestParameters")
    principal = _principal(detail)
    if name == "CreateVolume":
        return _create_volume(region, params, detail, principal)
    if name in ("CreateTags", "DeleteTags"):
        return _tags_call(name, region, params, principal)
    if name == "DeleteVolume":
        volume_id = _volume_id(params.get("volumeId"), "detail.requestParameters.volumeId")
        return VolumeDeleted(region, volume_id)
    if name == "DetachVolume":
        volume_id = _volume_id(params.get("volumeId"), "detail.requestParameters.volumeId")
        return VolumeDetached(region, volume_id)
    return Ignored(f"unrelated call {name}")


def _create_volume(
    region: str, params: Mapping[str, Any], detail: Mapping[str, Any], principal: tuple[str, ...]
) -> VolumeCreated | Ignored:
    response = _mapping(detail, "responseElements", "detail.responseElements")
    volume_id = _volume_id(response.get("volumeId"), "detail.responseElements.volumeId")
    tags: dict[str, str] = {}
    spec_path = "detail.requestParameters.tagSpecificationSet"
    for spec in _items(_mapping(params, "tagSpecificationSet", spec_path), spec_path):
        if spec.get("resourceType") == "volume":
            tags.update(_tag_list(spec.get("tags"), f"{spec_path}.items[].tags"))
    facts = _complete_facts(volume_id, response, tags)
    return VolumeCreated(region, volume_id, tags, facts, principal)


def _complete_facts(
    volume_id: str, response: Mapping[str, Any], tags: Mapping[str, str]
) -> VolumeFacts | None:
    """The record's own answer is enough when it names size, zone and type."""
    size, zone, kind = response.get("size"), response.get("zone"), response.get("volumeType")
    if not (isinstance(zone, str) and zone and isinstance(kind, str) and kind):
        return None
    try:
        size_gib = int(str(size))
    except ValueError:
        return None
    multi_attach = response.get("multiAttachEnabled", False)
    return VolumeFacts(
        volume_id=volume_id,
        size_gib=size_gib,
        availability_zone=zone,
        volume_type=kind,
        multi_attach=multi_attach is True,
        tags=dict(tags),
        state=str(response.get("status") or "creating"),
    )


def _tags_call(
    name: str, region: str, params: Mapping[str, Any], principal: tuple[str, ...]
) -> TagsSet | TagsRemoved | Ignored:
    resources_path = "detail.requestParameters.resourcesSet"
    resources = _items(_mapping(params, "resourcesSet", resources_path), resources_path)
    volume_ids = tuple(
        dict.fromkeys(
            str(item["resourceId"])
            for item in resources
            if isinstance(item.get("resourceId"), str) and VOLUME_ID.fullmatch(item["resourceId"])
        )
    )
    if not volume_ids:
        return Ignored(f"{name} names no volume")
    tag_path = "detail.requestParameters.tagSet"
    tag_items = _items(_mapping(params, "tagSet", tag_path), tag_path)
    if name == "DeleteTags":
        keys = frozenset(_tag_key(item, f"{tag_path}.items[].key") for item in tag_items)
        return TagsRemoved(region, volume_ids, keys, principal)
    return TagsSet(region, volume_ids, _tag_list(tag_items, f"{tag_path}.items"), principal)


def _ebs_notification(
    region: str, resources: object, detail: Mapping[str, Any]
) -> VolumeEvent | Ignored:
    kind = _text(detail, "event", "detail.event")
    result = _opt_text(detail, "result", "detail.result") or ""
    if kind not in ("createVolume", "deleteVolume", "modifyVolume"):
        return Ignored(f"EBS notification {kind!r} is not ours")
    volume_id = _volume_from_resources(resources)
    if kind == "deleteVolume":
        return VolumeDeleted(region, volume_id)
    if kind == "modifyVolume":
        # The new size is usable from `optimizing` on (Amazon EBS User Guide, "Monitor the
        # progress of volume modifications"); a failed modification changed nothing.
        if result == "failed":
            return Ignored(f"modifyVolume {volume_id} failed")
        return VolumeModified(region, volume_id)
    if result != "available":
        return Ignored(f"createVolume {volume_id} ended {result!r}")
    return VolumeAvailable(region, volume_id)


def _tag_change(
    region: str, resources: object, detail: Mapping[str, Any]
) -> TagSnapshot | Ignored:
    if detail.get("service") != "ec2" or detail.get("resource-type") != "volume":
        return Ignored("tag change is not on an EC2 volume")
    tags = detail.get("tags", {})
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidInputError("detail.tags", "must map strings to strings")
    changed = detail.get("changed-tag-keys", [])
    if not isinstance(changed, list) or not all(isinstance(k, str) for k in changed):
        raise InvalidInputError("detail.changed-tag-keys", "must be a list of strings")
    return TagSnapshot(region, _volume_from_resources(resources), dict(tags), frozenset(changed))


def _principal(detail: Mapping[str, Any]) -> tuple[str, ...]:
    """Who made the call: userIdentity.arn and, for an assumed role, the role's own ARN."""
    identity = detail.get("userIdentity")
    if not isinstance(identity, Mapping):
        return ()
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    arns = [identity.get("arn"), issuer.get("arn") if isinstance(issuer, Mapping) else None]
    return tuple(arn for arn in arns if isinstance(arn, str) and arn)


def _volume_from_resources(resources: object) -> str:
    if isinstance(resources, list):
        for arn in resources:
            match = VOLUME_ARN.fullmatch(arn) if isinstance(arn, str) else None
            if match:
                return match.group(1)
    raise InvalidInputError("resources", "must hold an EC2 volume ARN")


def _volume_id(value: object, path: str) -> str:
    if isinstance(value, str) and VOLUME_ID.fullmatch(value):
        return value
    raise InvalidInputError(path, "must be a volume id (vol-…)")


def _tag_list(items: object, path: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise InvalidInputError(path, "must be a list of tags")
    tags: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInputError(path, "must be a list of {key, value} objects")
        value = item.get("value", "")
        if not isinstance(value, str):
            raise InvalidInputError(f"{path}[].value", "must be a string")
        tags[_tag_key(item, f"{path}[].key")] = value
    return tags


def _tag_key(item: object, path: str) -> str:
    key = item.get("key") if isinstance(item, Mapping) else None
    if not isinstance(key, str):
        raise InvalidInputError(path, "must be a string")
    return key


def _items(container: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    items = container.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise InvalidInputError(f"{path}.items", "must be a list of objects")
    return items


def _mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(path, "must be a JSON object")
    return value


def _text(container: Mapping[str, Any], key: str, path: str | None = None) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(path or key, "must be a non-empty string")
    return value


def _opt_text(container: Mapping[str, Any], key: str, path: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(path, "must be a string")
    return value


def _short(value: object) -> str:
    return str(value)[:64]
