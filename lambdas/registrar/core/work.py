"""Per-volume work: what an event or a sweep asks of the executor, one volume at a time.

Minimal version written on the fleet branch against the shared API; the engine branch owns
this module and replaces it at merge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registrar.core.errors import InvalidInputError
from registrar.core.events import (
    ScheduledReconcile,
    TagSnapshot,
    TagsRemoved,
    TagsSet,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeEvent,
)


@dataclass(frozen=True)
class WorkItem:
    volume_id: str
    reason: str  # what was seen: created, tagged, untagged, deleted, available, modified, sweep
    source: str  # cloudtrail, ec2, tag-change, sweep, cli
    principals: tuple[str, ...] = ()  # the caller(s) the event names; () = unknown
    tags: Mapping[str, str] | None = None  # the tags the event states, when it states them
    removed: tuple[str, ...] = ()  # tag keys removed, for untag events
    cluster: str | None = None  # cluster hint (sweep)

    def to_message(self) -> str:
        """JSON with a stable key order: equal items give equal bodies (and dedup ids)."""
        body: dict[str, Any] = {
            "volume_id": self.volume_id,
            "reason": self.reason,
            "source": self.source,
            "principals": list(self.principals),
            "tags": None if self.tags is None else dict(self.tags),
            "removed": list(self.removed),
            "cluster": self.cluster,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> WorkItem:
        try:
            raw = json.loads(body)
        except (TypeError, ValueError):
            raise InvalidInputError("body", "must be a JSON work item") from None
        if not isinstance(raw, dict):
            raise InvalidInputError("body", "must be a JSON object")
        volume_id, reason, source = (raw.get(key) for key in ("volume_id", "reason", "source"))
        if not all(isinstance(value, str) and value for value in (volume_id, reason, source)):
            raise InvalidInputError("body", "needs volume_id, reason and source")
        tags, cluster = raw.get("tags"), raw.get("cluster")
        principals, removed = raw.get("principals", []), raw.get("removed", [])
        if tags is not None and not (
            isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())
        ):
            raise InvalidInputError("body.tags", "must map strings to strings")
        for name, values in (("principals", principals), ("removed", removed)):
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise InvalidInputError(f"body.{name}", "must be a list of strings")
        if cluster is not None and not isinstance(cluster, str):
            raise InvalidInputError("body.cluster", "must be a string")
        return cls(str(volume_id), str(reason), str(source), tuple(principals),
                   tags, tuple(removed), cluster)  # fmt: skip


def work_items(event: VolumeEvent) -> list[WorkItem]:
    """One item per volume id the event names."""
    if isinstance(event, VolumeCreated):
        return [WorkItem(event.volume_id, "created", "cloudtrail", event.principals,
                         dict(event.tags))]  # fmt: skip
    if isinstance(event, TagsSet):
        return [WorkItem(v, "tagged", "cloudtrail", event.principals, dict(event.tags))
                for v in event.volume_ids]  # fmt: skip
    if isinstance(event, TagsRemoved):
        removed = tuple(sorted(event.keys))
        return [WorkItem(v, "untagged", "cloudtrail", event.principals, removed=removed)
                for v in event.volume_ids]  # fmt: skip
    if isinstance(event, VolumeAvailable):
        return [WorkItem(event.volume_id, "available", "ec2")]
    if isinstance(event, VolumeDeleted):
        return [WorkItem(event.volume_id, "deleted", "ec2")]
    if isinstance(event, TagSnapshot):
        reason = "untagged" if event.removed_keys else "modified"
        return [WorkItem(event.volume_id, reason, "tag-change", (), dict(event.tags),
                         tuple(sorted(event.removed_keys)))]  # fmt: skip
    if isinstance(event, ScheduledReconcile):
        return []
    raise TypeError(f"not a volume event: {event!r}")
