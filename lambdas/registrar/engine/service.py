"""The one executor. Events, queue batches, sweeps and the CLI become work items (core/work.py);
each is decided by core/decision.py and carried out here: the cluster, then the status tag.
One call shares its reads: one LIST of PVs per cluster, whatever the number of items."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from registrar.core import tags as t
from registrar.core.attachments import node_instances
from registrar.core.decision import (
    NO_CALLER,
    Decision,
    ObjectResult,
    Result,
    after_apply,
    after_growth,
    after_handoff,
    after_rebind,
    cluster_refused,
    clusters_of,
    decide,
    triage,
)
from registrar.core.errors import DeferredError, NotFoundError, RegistrarError
from registrar.core.events import Ignored, ScheduledReconcile, VolumeCreated, VolumeEvent
from registrar.core.models import VolumeFacts
from registrar.core.objects import ClusterView
from registrar.core.settings import Settings
from registrar.core.status import cluster_name_tags, status_is_current, status_tags
from registrar.core.sweep import Row, orphans, reported, sweep_item
from registrar.core.work import WorkItem, work_items
from registrar.engine.applier import apply_plan
from registrar.engine.lifecycle import hand_off, settle_orphan
from registrar.engine.ports import (
    ClusterConnector,
    IdentityLookup,
    KubePort,
    VolumeLister,
    VolumeReader,
    VolumeTagger,
    WorkSink,
)
from registrar.engine.reconcile import Progress, no_progress
from registrar.engine.resize import grow, rebind

log = logging.getLogger(__name__)

# Seconds left to the function's timeout (Lambda's context.get_remaining_time_in_millis).
Remaining = Callable[[], float]
# No new item starts with less than this left: one is a few requests at REGISTRAR_KUBE_QPS plus
# a CreateTags, and the invocation must still log and return.
MARGIN_S = 10.0
DEFERRED = "left for the next run: the function's time is nearly up"
LEVELS = {"invalid": logging.WARNING, "conflict": logging.WARNING, "drift": logging.WARNING,
          "refused": logging.ERROR}  # fmt: skip


class Volumes(VolumeReader, VolumeLister, VolumeTagger, Protocol):
    """The AWS side the registrar needs: read and list volumes, write their status tags."""


@dataclass(frozen=True)
class Outcome:
    """How one volume of one event ended."""

    volume_id: str | None
    result: Result
    detail: str = ""
    objects: tuple[ObjectResult, ...] = ()


@dataclass(frozen=True)
class ItemResult:
    """One item of a `run`: settled (`outcome`), failed in a way a retry may fix (`error`), or
    not started for lack of time (`deferred`)."""

    item: WorkItem
    outcome: Outcome | None = None
    error: Exception | None = None
    deferred: bool = False


@dataclass
class Batch:
    """What one call shares: each cluster's view (one LIST), the volumes already described
    (None: EC2 says it is gone)."""

    clusters: ClusterConnector
    known: dict[str, VolumeFacts | None] = field(default_factory=dict)
    views: dict[str, ClusterView | RegistrarError] = field(default_factory=dict)
    instances: dict[str, frozenset[str]] = field(default_factory=dict)  # the nodes' instances

    def view(self, cluster: str) -> ClusterView:
        if cluster not in self.views:
            try:  # every PV, not only ours: one volume, one PV
                self.views[cluster] = ClusterView(self.kube(cluster).list("PersistentVolume"))
            except RegistrarError as error:
                if error.retryable:
                    raise
                self.views[cluster] = error
        found = self.views[cluster]
        if isinstance(found, RegistrarError):
            raise found
        return found

    def nodes(self, cluster: str) -> frozenset[str]:
        """The EC2 instances of the cluster's nodes: one LIST, only when a volume is attached."""
        if cluster not in self.instances:
            self.instances[cluster] = node_instances(self.kube(cluster).list("Node"))
        return self.instances[cluster]

    def kube(self, cluster: str) -> KubePort:
        return self.clusters.kube_for(cluster)


class Registrar:
    """Registers volumes into clusters through the ports it is given."""

    def __init__(
        self,
        settings: Settings,
        volumes: Volumes,
        clusters: ClusterConnector,
        identities: IdentityLookup | None = None,
        sink: WorkSink | None = None,
    ) -> None:
        self._settings = settings
        self._volumes = volumes
        self._clusters = clusters
        self._identities = identities  # CloudTrail's record, for events that name no caller
        self._sink = sink  # where a sweep's repairs go; None: carried out inline

    @property
    def sink(self) -> WorkSink | None:
        """Where work is handed to be carried out elsewhere (the work queue); None: here."""
        return self._sink

    def handle(
        self, event: VolumeEvent | Ignored, *, remaining: Remaining | None = None
    ) -> list[Outcome]:
        """`run` over the event's items. Every item is tried; then the first error is raised,
        or DeferredError (retryable) when time ran out before some item."""
        if isinstance(event, Ignored):
            log.info("ignored", extra={"reason": event.reason})
            return [Outcome(None, "ignored", event.reason)]
        if isinstance(event, ScheduledReconcile):  # a sweep defers to the next sweep
            return self._reconcile_all(remaining)
        # A complete CreateVolume record is the volume's description: no DescribeVolumes.
        batch = Batch(self._clusters)
        if isinstance(event, VolumeCreated) and event.facts is not None:
            batch.known[event.volume_id] = event.facts
        return _settled(self._run(work_items(event), remaining, batch))

    def run(
        self, items: Sequence[WorkItem], *, remaining: Remaining | None = None
    ) -> list[ItemResult]:
        """Each item decided and carried out in turn; none starts with less than MARGIN_S left."""
        return self._run(items, remaining, Batch(self._clusters))

    def register(self, volume_id: str, cluster: str | None = None) -> Outcome:
        """An operator's registration (no principal check); `cluster` overrides the tag."""
        [done] = self.run([WorkItem(volume_id, "register", "cli", cluster=cluster)])
        if done.error is not None:
            raise done.error
        assert done.outcome is not None  # run defers only with `remaining`
        return done.outcome

    def reconcile(self, cluster: str, *, remaining: Remaining | None = None) -> Outcome:
        # Counted as they come: the function holds no row of a large fleet.
        counts = dict(Counter(str(row.action) for row in self.rows(cluster, remaining=remaining)))
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "empty"
        log.info("reconciled", extra={"cluster": cluster, "rows": sum(counts.values()), **counts})
        return Outcome(None, "reconciled", f"{cluster}: {summary}")

    def sweep(
        self,
        cluster: str,
        *,
        dry_run: bool = False,
        progress: Progress = no_progress,
        remaining: Remaining | None = None,
    ) -> list[Row]:
        return list(self.rows(cluster, dry_run=dry_run, progress=progress, remaining=remaining))

    def rows(
        self,
        cluster: str,
        *,
        dry_run: bool = False,
        progress: Progress = no_progress,
        remaining: Remaining | None = None,
    ) -> Iterator[Row]:
        """Every tagged volume of `cluster`, then our PVs whose volume was not listed, through
        the same decision and executor as an event. A sweep holds the cluster's view and one
        page of volumes. With a sink, repairs are queued (`deferred: queued`), not carried out."""
        kube = self._clusters.kube_for(cluster)
        view = ClusterView(progress(kube.list("PersistentVolume"), "PVs"))
        for claim in progress(kube.list("PersistentVolumeClaim", t.MANAGED_SELECTOR), "PVCs"):
            view.add(claim)
        batch = Batch(self._clusters, views={cluster: view})
        self._look_afresh()
        queue: list[WorkItem] | None = None if self._sink is None or dry_run else []
        seen: set[str] = set()
        for facts in progress(self._volumes.tagged_volumes(), "tagged volumes"):
            seen.add(facts.volume_id)
            batch.known = {facts.volume_id: facts}
            row = self._sweep_row(sweep_item(facts.volume_id, cluster), batch, remaining,
                                  dry_run, queue)  # fmt: skip
            if row is not None:
                yield row
        # Released only on proof: EC2's own NotFound; a volume absent from the listing is
        # described again, and may turn out untagged, or tagged after all.
        found = list(orphans(view, seen, cluster))
        missing = self._volumes.missing_ids([v for v, _ in found]) if found else set()
        for volume_id, _ in found:
            batch.known = {volume_id: None} if volume_id in missing else {}
            row = self._sweep_row(sweep_item(volume_id, cluster), batch, remaining, dry_run, queue)
            if row is not None:
                yield row
        if self._sink is not None and queue:
            self._sink.submit(queue)

    def _sweep_row(
        self,
        item: WorkItem,
        batch: Batch,
        remaining: Remaining | None,
        dry_run: bool,
        queue: list[WorkItem] | None,
    ) -> Row | None:
        decision, done = self._step(item, batch, remaining, dry_run or queue is not None)
        cluster = str(item.cluster)
        if decision is not None and not reported(decision):
            return None
        pv, pvc = (decision.pv, decision.pvc) if decision is not None else ("-", "-")
        if queue is not None and decision is not None and decision.acts and done.error is None:
            queue.append(item)
            return Row(item.volume_id, cluster, pv, pvc, "deferred", f"queued: {decision.detail}")
        if done.deferred:
            return Row(item.volume_id, cluster, pv, pvc, "deferred", DEFERRED)
        if done.outcome is None:
            return Row(item.volume_id, cluster, pv, pvc, "failed", str(done.error))
        objects = ", ".join(o.line() for o in done.outcome.objects if o.action != "unchanged")
        detail = f"{done.outcome.detail}: {objects}" if objects else done.outcome.detail
        return Row(item.volume_id, cluster, pv, pvc, done.outcome.result, detail)

    def _reconcile_all(self, remaining: Remaining | None) -> list[Outcome]:
        """Every cluster is swept; then the first error is raised."""
        outcomes, failure = [], None
        for cluster in self._settings.clusters:
            if remaining is not None and remaining() < MARGIN_S:  # not even its listing
                outcomes.append(Outcome(None, "deferred", f"{cluster}: {DEFERRED}"))
                continue
            try:
                outcomes.append(self.reconcile(cluster, remaining=remaining))
            except RegistrarError as error:
                log.error("sweep failed", extra={"cluster": cluster, "error": str(error),
                                                 "retryable": error.retryable})  # fmt: skip
                failure = failure or error
        if failure is not None:
            raise failure
        return outcomes

    def _run(
        self, items: Sequence[WorkItem], remaining: Remaining | None, batch: Batch
    ) -> list[ItemResult]:
        self._look_afresh()
        results = []
        for item in items:
            if remaining is not None and remaining() < MARGIN_S:
                results.append(ItemResult(item, deferred=True))
            else:
                results.append(self._step(item, batch)[1])
        return results

    def _look_afresh(self) -> None:
        """A warm function asks CloudTrail again: it has delivered more records since."""
        if self._identities is not None:
            self._identities.new_invocation()

    def _step(
        self, item: WorkItem, batch: Batch, remaining: Remaining | None = None,
        dry_run: bool = False,
    ) -> tuple[Decision | None, ItemResult]:  # fmt: skip
        """Decide, then carry out what the decision asks (unless `dry_run`). One failing item
        never stops the others: its error is its result."""
        decision = None
        try:
            unread = item.volume_id not in batch.known  # reading it costs time too
            if remaining is not None and unread and remaining() < MARGIN_S:
                return decision, ItemResult(item, deferred=True)
            volume, decision = self._decide(item, batch, dry_run)
            if dry_run or not decision.acts:  # a sweep's rows are counted in its summary line
                quiet = dry_run or item.source == "sweep"
                return decision, ItemResult(item, _report(item, decision, quiet=quiet))
            if remaining is not None and remaining() < MARGIN_S:
                return decision, ItemResult(item, deferred=True)
            return decision, ItemResult(item, self._carry_out(item, volume, decision, batch))
        except RegistrarError as error:
            log.error("item failed", extra={"volume_id": item.volume_id, "error": str(error),
                                            "retryable": error.retryable})  # fmt: skip
            return decision, ItemResult(item, error=error)

    def _decide(
        self, item: WorkItem, batch: Batch, dry_run: bool
    ) -> tuple[VolumeFacts | None, Decision]:
        """The reads a decision needs: the volume, the clusters' views, CloudTrail's record."""
        early = triage(item, self._settings)
        if early is not None:
            return None, early
        volume = self._read(item, batch)
        views: dict[str, ClusterView] = {}
        nodes: dict[str, frozenset[str]] = {}
        for cluster in clusters_of(item, volume, self._settings):
            first = not views
            try:
                views[cluster] = batch.view(cluster)
                if volume is not None and volume.attached_to:  # held by one of its nodes?
                    nodes[cluster] = batch.nodes(cluster)
            except RegistrarError as error:
                if error.retryable or volume is None or t.PV_TAG not in volume.tags:
                    raise
                if not first:  # another cluster refused us: it cannot be a handoff's source
                    continue
                return volume, cluster_refused(volume, cluster, error)
        decision = decide(item, volume, views, self._settings, nodes=nodes)
        if decision.lookup and self._identities is None:  # REGISTRAR_UNVERIFIED_EVENTS=refuse
            return volume, replace(decision, result="ignored", detail=NO_CALLER, lookup=())
        if decision.lookup and not dry_run and volume is not None and self._identities:
            writers = self._identities.who_set(item.volume_id, decision.lookup)
            decision = decide(item, volume, views, self._settings, writers, nodes=nodes)
        return volume, decision

    def _read(self, item: WorkItem, batch: Batch) -> VolumeFacts | None:
        """The volume as EC2 describes it; None only on proof it is gone."""
        if item.reason == "deleted":
            return None
        if item.volume_id in batch.known:
            return batch.known[item.volume_id]
        try:
            return self._volumes.describe_volume(item.volume_id)
        except NotFoundError:
            if item.source == "cli":  # the operator named a volume that does not exist
                raise
            return None

    def _carry_out(
        self, item: WorkItem, volume: VolumeFacts | None, decision: Decision, batch: Batch
    ) -> Outcome:
        objects: tuple[ObjectResult, ...] = ()
        if decision.handoff is not None:  # before anything is created in the target
            source, pv = decision.handoff
            released, gone = hand_off(batch.kube(source), pv, f"moved to {decision.cluster}")
            objects += tuple(released)
            batch.view(source).discard(pv)
            decision = after_handoff(decision, gone)
        if decision.plan is not None and decision.cluster is not None and volume is not None:
            plan, view = decision.plan, batch.view(decision.cluster)
            objects = apply_plan(plan, batch.kube(decision.cluster), view.known(plan.items))
            for desired, done in zip(plan.items, objects, strict=True):
                if done.action in ("created", "updated"):
                    view.add(desired)  # the next item of the batch sees it
            decision = after_apply(decision, objects, volume)
        if decision.rebind and decision.cluster is not None and decision.result in (
            "registered", "unchanged"
        ):
            objects += rebind(batch.kube(decision.cluster), decision.pv)
            decision = after_rebind(decision, objects)
        if decision.grow is not None and decision.cluster is not None and volume is not None:
            objects += grow(batch.kube(decision.cluster), volume, decision.pv)
            decision = after_growth(decision, objects)
        for cluster, pv in decision.release:
            kube = batch.kube(cluster)
            objects += tuple(settle_orphan(kube, pv, decision.deleted, self._settings))
            batch.view(cluster).discard(pv)
        if decision.status is not None and volume is not None:
            tags = status_tags(decision.status, decision.cluster, self._settings.csi_driver)
            if not status_is_current(volume.tags, tags):  # duplicate events write nothing
                self._volumes.write_status(item.volume_id, tags)
        stale = cluster_name_tags(volume.tags) if decision.release and volume is not None else ()
        if stale:  # released: no cluster's driver may attach it by its cluster-name any more
            self._volumes.remove_tags(item.volume_id, stale)
        return _report(item, decision, objects)


def _report(
    item: WorkItem, decision: Decision, objects: tuple[ObjectResult, ...] = (), *,
    quiet: bool = False,
) -> Outcome:
    """One log line per settled item (unless `quiet`); an invalid input names its tag and rule."""
    extra: dict[str, object] = {"volume_id": item.volume_id, "source": item.source}
    if decision.result == "invalid" and not quiet:
        tag, _, rule = decision.detail.partition(": ")
        log.warning("invalid input", extra={**extra, "tag": tag, "rule": rule})
    elif not quiet:
        extra |= {"reason": decision.detail, "retryable": False}
        log.log(LEVELS.get(decision.result, logging.INFO), decision.result, extra=extra)
    return Outcome(item.volume_id, decision.result, decision.detail, objects)


def _settled(results: list[ItemResult]) -> list[Outcome]:
    error = next((r.error for r in results if r.error is not None), None)
    if error is not None:
        raise error
    deferred = sum(r.deferred for r in results)
    if deferred:
        raise DeferredError(f"{deferred} of {len(results)} volumes left for a retry: {DEFERRED}")
    return [r.outcome for r in results if r.outcome is not None]
