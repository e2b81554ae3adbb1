"""A reconcile sweep: list once, plan without I/O page by page, write only what the plan needs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Protocol, TypeVar

from registrar.core import tags as t
from registrar.core.errors import RegistrarError
from registrar.core.settings import Settings
from registrar.core.status import error_status, status_is_current, status_tags, unmanaged_status
from registrar.core.sweep import WRITES, Row, SweepIndex, orphan_rows, volume_rows
from registrar.engine.applier import apply_plan
from registrar.engine.lifecycle import UNTAGGED, VOLUME_DELETED, settle_orphan
from registrar.engine.ports import (
    ClusterConnector,
    IdentityLookup,
    KubePort,
    VolumeLister,
    VolumeTagger,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class Progress(Protocol):
    """Wraps a long iteration to show progress (the CLI passes a tqdm bar on stderr)."""

    def __call__(self, items: Iterable[T], label: str, total: int | None = None) -> Iterable[T]:
        ...


# Seconds left to the function's timeout (Lambda's context.get_remaining_time_in_millis).
Remaining = Callable[[], float]
# A sweep stops starting repairs with less than this left: one repair is a few requests at
# REGISTRAR_KUBE_QPS plus a CreateTags, and the invocation must still log and return.
SWEEP_MARGIN_S = 10.0
DEFERRED = "left for the next run: the function's time is nearly up"


def no_progress(items: Iterable[T], label: str, total: int | None = None) -> Iterable[T]:
    return items


class SweepVolumes(VolumeLister, VolumeTagger, Protocol):
    """The AWS side of a sweep."""


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        volumes: SweepVolumes,
        clusters: ClusterConnector,
        identities: IdentityLookup | None = None,
    ) -> None:
        self._settings = settings
        self._volumes = volumes
        self._clusters = clusters
        self._identities = identities

    def sweep(
        self,
        cluster: str,
        *,
        dry_run: bool = False,
        progress: Progress = no_progress,
        remaining: Remaining | None = None,
    ) -> list[Row]:
        """The plan for one cluster; carried out unless `dry_run`. Rows say what was done.
        With `remaining`, repairs stop cleanly before the timeout: the rest are `deferred`."""
        return list(self.rows(cluster, dry_run=dry_run, progress=progress, remaining=remaining))

    def rows(
        self,
        cluster: str,
        *,
        dry_run: bool = False,
        progress: Progress = no_progress,
        remaining: Remaining | None = None,
    ) -> Iterator[Row]:
        """`sweep` one row at a time, each repaired as it is planned: a sweep holds the
        cluster's index (`SweepIndex`) and one page of volumes, whatever the fleet."""
        kube = self._clusters.kube_for(cluster)
        # Every PV, not only ours: one volume, one PV. Of the others only a name is kept, of
        # ours a packed projection; the volumes stream through the planner page by page.
        index = SweepIndex()
        index.add_all(progress(kube.list("PersistentVolume"), "PVs"))
        index.add_all(progress(kube.list("PersistentVolumeClaim", t.MANAGED_SELECTOR), "PVCs"))
        volumes = progress(self._volumes.tagged_volumes(), "tagged volumes")
        for row in volume_rows(volumes, index, self._settings, cluster):
            yield row.reported() if dry_run else self._repair(row, kube, index, remaining)
        # One batched DescribeVolumes tells a deleted volume from an untagged one.
        orphans = [row.volume_id for row in orphan_rows(index, cluster) if row.action == "orphan"]
        alive = self._volumes.existing_ids(orphans) if orphans else set()
        for orphan in orphan_rows(index, cluster):
            if orphan.action == "orphan":
                gone = orphan.volume_id not in alive
                orphan = replace(orphan, detail=VOLUME_DELETED if gone else UNTAGGED)  # noqa: PLW2901
            yield orphan.reported() if dry_run else self._repair(orphan, kube, index, remaining)

    def _repair(
        self, row: Row, kube: KubePort, index: SweepIndex, remaining: Remaining | None
    ) -> Row:
        if row.action not in WRITES and row.status is None:
            return row.reported()
        if remaining is not None and remaining() < SWEEP_MARGIN_S:
            return replace(row, action="deferred", detail=DEFERRED).reported()
        return self._carry_out_safely(row, kube, index).reported()

    def _carry_out_safely(self, row: Row, kube: KubePort, index: SweepIndex) -> Row:
        """One failing volume never stops a sweep: its row says why, and the next run retries."""
        try:
            return self._carry_out(row, kube, index)
        except RegistrarError as error:
            log.error("sweep row failed", extra={"volume_id": row.volume_id, "error": str(error),
                                                 "retryable": error.retryable})  # fmt: skip
            return replace(row, action="failed", detail=str(error))

    def _carry_out(self, row: Row, kube: KubePort, index: SweepIndex) -> Row:
        if row.action == "create" and row.plan is not None:
            if not self._verified(row, index):
                return self._unverified(row)
            result = apply_plan(row.plan, kube, index.known(row.plan.items))
            failure = result.failure
            if failure is not None:
                field = t.PVC_TAG if failure.kind == "PersistentVolumeClaim" else t.PV_TAG
                status = error_status(f"{field}: {failure.reason}")
                tags = status_tags(status, row.cluster, self._settings.csi_driver)
                if not status_is_current(row.tags, tags):
                    self._volumes.write_status(row.volume_id, tags)
                return replace(row, action="refused", detail=status, status=None)
            conflict = result.conflict
            if conflict is not None:
                return replace(row, action="conflict", detail=f"{conflict.ref} {conflict.reason}")
            done = ", ".join(o.line() for o in result.objects if o.action != "unchanged")
            row = replace(row, detail=done)
        elif row.action == "orphan" and row.orphan is not None:
            deleted = row.detail == VOLUME_DELETED
            released = settle_orphan(kube, row.orphan, deleted, self._settings)
            if not deleted:
                status = unmanaged_status(row.cluster, row.pv, UNTAGGED)
                self._write(row.volume_id, status, row.cluster)
            return replace(row, detail=f"{row.detail}: " + ", ".join(o.line() for o in released))
        if row.status is not None:
            self._write(row.volume_id, row.status, row.cluster)
        return row

    def _write(self, volume_id: str, status: str, cluster: str) -> None:
        tags = status_tags(status, cluster, self._settings.csi_driver)
        self._volumes.write_status(volume_id, tags)

    def _verified(self, row: Row, index: SweepIndex) -> bool:
        """A sweep names no caller: with an allow-list, a volume new to this cluster (no PV of
        ours yet) registers only when CloudTrail shows an allowed principal tagged it."""
        if not self._settings.allowed_principals or ("PersistentVolume", None, row.pv) in index:
            return True
        if self._identities is None:
            return False
        keys = sorted(t.INPUT_TAGS & row.tags.keys()) or [t.PV_TAG]
        writers = self._identities.who_set(row.volume_id, keys)
        return all(self._settings.principal_allowed(tuple(writers.get(k, ()))) for k in keys)

    def _unverified(self, row: Row) -> Row:
        if self._identities is None:
            return replace(row, action="unverified", detail="no caller to check (refuse)")
        status = error_status("principal: the volume was not tagged by an allowed principal")
        self._write(row.volume_id, status, row.cluster)
        return replace(row, action="invalid", detail=status)
