"""Work items: what one event, queue message or sweep says about one volume. Pure and small: an
item crosses queues as JSON (`to_message`), and every entry point hands items to one executor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registrar.core import tags as t
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
    VolumeDetached,
    VolumeEvent,
    VolumeModified,
)


@dataclass(frozen=True)
class WorkItem:
    volume_id: str
    reason: str  # what was seen: created, tagged, untagged, deleted, available, modified, detached,
    # sweep, register
    source: str  # cloudtrail, ec2, tag-change, sweep, cli
    principals: tuple[str, ...] = ()  # the caller(s) the event names; () = unknown
    tags: Mapping[str, str] | None = None  # the tags the event states, when it states them
    removed: tuple[str, ...] = ()  # tag keys removed, for untag events
    cluster: str | None = None  # the cluster a sweep saw it in; the operator's choice (cli)

    def to_message(self) -> str:
        body = {
            "volume_id": self.volume_id,
            "reason": self.reason,
            "source": self.source,
            "principals": list(self.principals),
            "tags": None if self.tags is None else dict(sorted(self.tags.items())),
            "removed": list(self.removed),
            "cluster": self.cluster,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> WorkItem:
        try:
            raw = json.loads(body)
        except ValueError:
            raise InvalidInputError("message", "must be JSON") from None
        if not isinstance(raw, dict):
            raise InvalidInputError("message", "must be a JSON object")
        tags = raw.get("tags")
        if tags is not None and not _strings(tags.items() if isinstance(tags, dict) else None):
            raise InvalidInputError("message.tags", "must map strings to strings or be null")
        return cls(
            volume_id=_text(raw, "volume_id"),
            reason=_text(raw, "reason"),
            source=_text(raw, "source"),
            principals=_names(raw, "principals"),
            tags=None if tags is None else dict(tags),
            removed=_names(raw, "removed"),
            cluster=_text(raw, "cluster") if raw.get("cluster") is not None else None,
        )


def work_items(event: VolumeEvent | Ignored) -> list[WorkItem]:
    """One item per volume the event names (a CreateTags may name up to 1,000)."""
    if isinstance(event, VolumeCreated):
        return [WorkItem(event.volume_id, "created", "cloudtrail", event.principals, event.tags)]
    if isinstance(event, TagsSet):
        return [WorkItem(v, "tagged", "cloudtrail", event.principals, event.tags)
                for v in event.volume_ids]  # fmt: skip
    if isinstance(event, TagsRemoved):
        removed = tuple(sorted(event.keys))
        reason = "untagged" if t.PV_TAG in event.keys else "tagged"
        return [WorkItem(v, reason, "cloudtrail", event.principals, {}, removed)
                for v in event.volume_ids]  # fmt: skip
    if isinstance(event, TagSnapshot):
        # Only what changed is stated: the snapshot's other tags may be older than the volume's.
        changed = {k: v for k, v in event.tags.items() if k in event.changed_keys}
        removed = tuple(sorted(event.removed_keys))
        reason = "untagged" if t.PV_TAG in removed else "tagged"
        return [WorkItem(event.volume_id, reason, "tag-change", (), changed, removed)]
    if isinstance(event, VolumeAvailable):
        return [WorkItem(event.volume_id, "available", "ec2")]
    if isinstance(event, VolumeModified):
        return [WorkItem(event.volume_id, "modified", "ec2")]
    if isinstance(event, VolumeDetached):
        return [WorkItem(event.volume_id, "detached", "cloudtrail")]
    if isinstance(event, VolumeDeleted):
        return [WorkItem(event.volume_id, "deleted", "ec2")]
    if isinstance(event, ScheduledReconcile | Ignored):
        return []  # a sweep finds its own items (Registrar.reconcile)
    raise TypeError(f"not a volume event: {event!r}")


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"message.{key}", "must be a non-empty string")
    return value


def _names(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"message.{key}", "must be a list of strings")
    return tuple(value)


def _strings(pairs: Any) -> bool:
    return pairs is not None and all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
