"""FALLBACK until the engine branch lands: delete this module at merge (and the two lines of
queue_handler.py that import it). Registrar.run(items, remaining=...) and the sweep's WorkSink
port are the engine's (the shared brief's API); until they exist each item goes through
Registrar.handle as the one-volume event it came from, and a scheduled sweep's repairs are the
rows of a dry run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from registrar.core import tags as t
from registrar.core.errors import NotFoundError, RegistrarError
from registrar.core.events import (
    TagSnapshot,
    TagsRemoved,
    TagsSet,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeEvent,
)
from registrar.core.settings import Settings
from registrar.core.sweep import WRITES
from registrar.core.work import WorkItem
from registrar.engine.reconcile import SWEEP_MARGIN_S, Reconciler
from registrar.engine.service import Outcome, Registrar

Remaining = Callable[[], float]


@dataclass(frozen=True)
class _ItemResult:
    item: WorkItem
    outcome: Outcome | None = None
    error: Exception | None = None
    deferred: bool = False


def handle_one(service: Registrar, item: WorkItem, remaining: Remaining | None) -> _ItemResult:
    if remaining is not None and remaining() < SWEEP_MARGIN_S:
        return _ItemResult(item, deferred=True)
    try:
        if item.source == "sweep":
            outcomes = [_sweep_one(service, item)]
        else:
            outcomes = service.handle(_event_of(item), remaining=remaining)
    except RegistrarError as error:
        return _ItemResult(item, error=error)
    return _ItemResult(item, outcomes[0] if outcomes else None)


def _sweep_one(service: Registrar, item: WorkItem) -> Outcome:
    try:
        return service.register(item.volume_id, item.cluster)
    except NotFoundError:
        return service.handle(VolumeDeleted("", item.volume_id))[0]


def _event_of(item: WorkItem) -> VolumeEvent:
    tags = dict(item.tags or {})
    if item.reason == "created":
        return VolumeCreated("", item.volume_id, tags, None, item.principals)
    if item.reason == "deleted":
        return VolumeDeleted("", item.volume_id)
    if item.reason == "available":
        return VolumeAvailable("", item.volume_id)
    if item.source == "tag-change":
        changed = frozenset(item.removed) | (t.INPUT_TAGS & tags.keys())
        return TagSnapshot("", item.volume_id, tags, frozenset(changed))
    if item.reason == "untagged":
        return TagsRemoved("", (item.volume_id,), frozenset(item.removed), item.principals)
    return TagsSet("", (item.volume_id,), tags, item.principals)


def settings_of(service: Registrar) -> Settings:
    settings: Settings = service._settings
    return settings


def sweep_items(service: Registrar, cluster: str) -> list[WorkItem]:
    """The sweep's plan (one LIST of the cluster, the tagged volumes): each row that needs a
    write becomes a work item for the queue."""
    reconciler = Reconciler(service._settings, service._volumes, service._clusters,
                            service._identities)  # fmt: skip
    return [
        WorkItem(row.volume_id, "sweep", "sweep", cluster=row.cluster)
        for row in reconciler.rows(cluster, dry_run=True)
        if row.action in WRITES or row.status is not None
    ]
