"""The registration logic: a parsed event -> volume facts -> plan -> cluster -> status tag."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Literal, Protocol

from registrar.core import tags as t
from registrar.core.errors import (
    ClusterUnreachableError,
    InvalidInputError,
    NotFoundError,
    RegistrarError,
)
from registrar.core.events import (
    Ignored,
    ScheduledReconcile,
    TagSnapshot,
    TagsRemoved,
    TagsSet,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeEvent,
)
from registrar.core.models import VolumeFacts
from registrar.core.objects import second_pv_rule
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.status import (
    error_status,
    quoted,
    status_is_current,
    status_tags,
    unmanaged_status,
)
from registrar.engine.applier import ObjectResult, apply_plan
from registrar.engine.lifecycle import UNTAGGED, VOLUME_DELETED, holders, pvs_of, settle_orphan
from registrar.engine.ports import (
    ClusterConnector,
    IdentityLookup,
    VolumeLister,
    VolumeReader,
    VolumeTagger,
)
from registrar.engine.reconcile import Reconciler, Remaining

log = logging.getLogger(__name__)

# Three vocabularies, one per level:
# - `Action` (engine/applier.py): what happened to one object (created, unchanged, conflict, ...);
# - `RowAction` (core/sweep.py): what a sweep decided for one volume (create, drift, orphan, ...);
# - `Result` (here): how one volume of one event ended; the handler counts each as a metric.
# A volume's Result follows from its objects' Actions: any conflict -> "conflict", a refused
# request -> "refused", anything created or updated -> "registered", else "unchanged". A sweep
# is one "reconciled" Result whose detail counts its rows' RowActions.
Result = Literal[
    "registered",
    "unchanged",
    "ignored",
    "invalid",
    "conflict",
    "refused",
    "released",
    "reconciled",
    "failed",
]


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
class Rejected:
    """A volume whose tags break a rule: reported on the volume, never retried."""

    facts: VolumeFacts
    error: InvalidInputError


@dataclass(frozen=True)
class Ready:
    """A volume with the objects it should have."""

    facts: VolumeFacts
    plan: Plan


Planned = Ready | Ignored | Rejected


def volumes_of_event(
    event: VolumeEvent | Ignored, reader: VolumeReader
) -> Iterator[VolumeFacts | Ignored]:
    """The volumes an event is about, reading AWS only when the event itself is not enough."""
    if isinstance(event, Ignored):
        yield event
    elif isinstance(event, VolumeCreated):
        if t.PV_TAG not in event.tags:
            yield Ignored(f"{event.volume_id} created without a {t.PV_TAG} tag")
        else:
            yield event.facts or _describe(reader, event.volume_id)
    elif isinstance(event, TagsSet):
        if not t.INPUT_TAGS & event.tags.keys():
            yield Ignored("CreateTags sets no k8s-* input tag")
        else:
            yield from (_describe(reader, volume_id) for volume_id in event.volume_ids)
    elif isinstance(event, VolumeAvailable):
        yield _describe(reader, event.volume_id)
    elif isinstance(event, TagSnapshot):
        if t.PV_TAG in event.removed_keys:
            yield Ignored(f"{t.PV_TAG} removed from {event.volume_id}: nothing to create")
        elif t.PV_TAG not in event.tags:
            yield Ignored(f"{event.volume_id} has no {t.PV_TAG} tag")
        elif event.changed_keys and event.changed_keys <= t.OUTPUT_TAGS:
            yield Ignored("only the registrar's own status tags changed")
        else:
            yield _describe(reader, event.volume_id)
    elif isinstance(event, TagsRemoved):
        if t.PV_TAG in event.keys:
            yield Ignored(f"{t.PV_TAG} removed: nothing to create")
        elif not t.INPUT_TAGS & event.keys:
            yield Ignored("DeleteTags removes no k8s-* input tag")
        else:
            yield from (_describe(reader, volume_id) for volume_id in event.volume_ids)
    elif isinstance(event, VolumeDeleted):
        yield Ignored(f"{event.volume_id} deleted: nothing to create")
    elif isinstance(event, ScheduledReconcile):
        yield Ignored("a scheduled reconcile creates nothing by itself")


def plan_event(
    event: VolumeEvent | Ignored,
    reader: VolumeReader,
    settings: Settings,
    cluster: str | None = None,
) -> Iterator[Planned]:
    """Every volume of an event, planned; one bad volume never blocks the others."""
    for facts in volumes_of_event(event, reader):
        if isinstance(facts, Ignored):
            yield facts
            continue
        yield _plan(facts, settings, cluster)


class Registrar:
    """Registers volumes into clusters through the ports it is given."""

    def __init__(
        self,
        settings: Settings,
        volumes: Volumes,
        clusters: ClusterConnector,
        identities: IdentityLookup | None = None,
    ) -> None:
        self._settings = settings
        self._volumes = volumes
        self._clusters = clusters
        self._identities = identities  # CloudTrail's record, for events that name no caller

    def handle(
        self,
        event: VolumeEvent | Ignored,
        cluster: str | None = None,
        *,
        remaining: Remaining | None = None,
    ) -> list[Outcome]:
        """Every volume of the event is tried; the first error is raised at the end."""
        if isinstance(event, ScheduledReconcile):
            sweeps = [(None, partial(self.reconcile, name, remaining=remaining))
                      for name in self._settings.clusters]  # fmt: skip
            return _per_volume(sweeps)
        if isinstance(event, VolumeDeleted):
            return _per_volume([(event.volume_id, partial(self._release, event.volume_id, True))])
        untagged = _untagged(event)
        if untagged:
            if isinstance(event, TagsRemoved) and not self._settings.principal_allowed(
                event.principals
            ):
                reason = f"{_caller(event.principals)} may not unregister volumes"
                return [Outcome(v, "ignored", reason) for v in untagged]
            return _per_volume([(v, partial(self._untag, v)) for v in untagged])
        planned = plan_event(event, self._volumes, self._settings, cluster)
        steps = ((_volume_of(p), partial(self._settle_verified, event, p)) for p in planned)
        return _per_volume(steps)

    def reconcile(self, cluster: str, *, remaining: Remaining | None = None) -> Outcome:
        reconciler = Reconciler(self._settings, self._volumes, self._clusters, self._identities)
        # Counted as they come: the function holds no row of a large fleet.
        rows = reconciler.rows(cluster, remaining=remaining)
        counts = dict(Counter(str(row.action) for row in rows))
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "empty"
        log.info("reconciled", extra={"cluster": cluster, "rows": sum(counts.values()), **counts})
        return Outcome(None, "reconciled", f"{cluster}: {summary}")

    def _settle_verified(self, event: VolumeEvent | Ignored, planned: Planned) -> Outcome:
        """With REGISTRAR_ALLOWED_PRINCIPALS, every input tag on the volume must have been set
        by an allowed principal: the event's caller for the keys it sets, CloudTrail's record
        (`cloudtrail` mode) for the others. `refuse` mode can check only the event's own keys
        (docs/deploy.md shows the IAM guard that closes that gap)."""
        if isinstance(planned, Ready) and self._settings.allowed_principals:
            facts = planned.facts
            keys = sorted(t.INPUT_TAGS & facts.tags.keys())
            writers: dict[str, tuple[str, ...]] = {}
            if isinstance(event, VolumeCreated | TagsSet):
                writers = {key: event.principals for key in keys if key in event.tags}
            elif self._identities is None:  # an EBS notification or a Tag Change names no caller
                why = "the event names no caller; the CloudTrail event of the tagging decides"
                log.info("unverified", extra={"volume_id": facts.volume_id, "reason": why})
                return Outcome(facts.volume_id, "ignored", why)
            rest = [key for key in keys if key not in writers]
            if rest and self._identities is not None:
                found = self._identities.who_set(facts.volume_id, rest)
                writers |= {key: tuple(found.get(key, ())) for key in rest}
            for key in sorted(writers, key=lambda k: (k != t.PV_TAG, k)):
                principals = writers[key]
                if not self._settings.principal_allowed(principals):
                    action = "register" if key == t.PV_TAG else f"set {key}"
                    rule = f"{_caller(principals)} may not {action}"
                    return self._reject(facts, InvalidInputError("principal", rule))
        return self._settle(planned)

    def _untag(self, volume_id: str) -> Outcome:
        """Events come out of order: only a volume still without `k8s-pv` is released."""
        try:
            facts = self._volumes.describe_volume(volume_id)
        except NotFoundError:
            return self._release(volume_id, True)
        if t.PV_TAG in facts.tags:
            return self._settle(_plan(facts, self._settings, None))
        return self._release(volume_id, False)

    def _release(self, volume_id: str, deleted: bool) -> Outcome:
        objects: list[ObjectResult] = []
        for cluster in self._settings.clusters:
            kube = self._clusters.kube_for(cluster)
            for pv in pvs_of(kube, [volume_id]):
                objects += settle_orphan(kube, pv, deleted, self._settings)
                if not deleted:
                    status = unmanaged_status(cluster, pv["metadata"]["name"], UNTAGGED)
                    tags = status_tags(status, cluster, self._settings.csi_driver)
                    self._volumes.write_status(volume_id, tags)
        why = VOLUME_DELETED if deleted else UNTAGGED
        if not objects:
            return Outcome(volume_id, "ignored", f"{why}: no PV of ours for it")
        log.info("released", extra={"volume_id": volume_id, "reason": why})
        return Outcome(volume_id, "released", why, tuple(objects))

    def register(self, volume_id: str, cluster: str | None = None) -> Outcome:
        facts = self._volumes.describe_volume(volume_id)
        return self._settle(_plan(facts, self._settings, cluster))

    def _settle(self, planned: Planned) -> Outcome:
        if isinstance(planned, Ignored):
            log.info("ignored", extra={"reason": planned.reason})
            return Outcome(None, "ignored", planned.reason)
        if isinstance(planned, Rejected):
            return self._reject(planned.facts, planned.error)
        facts, plan = planned.facts, planned.plan
        if plan.cluster is None:
            error = InvalidInputError(t.CLUSTER_TAG, "no tag and no default cluster")
            return self._reject(facts, error)
        try:
            kube = self._clusters.kube_for(plan.cluster)
            taken = second_pv_rule(plan.pv_name, holders(kube, facts.volume_id))
        except RegistrarError as error:
            if error.retryable:
                raise
            if isinstance(error, ClusterUnreachableError):  # it names the cluster and the fix
                return self._refused(facts, str(error))
            return self._refused(facts, f"{t.CLUSTER_TAG}: {plan.cluster}: {error}")
        if taken is not None:  # one volume, one PV: nothing is written to the cluster
            return self._reject(facts, InvalidInputError(t.PV_TAG, taken), "conflict")
        result = apply_plan(plan, kube)
        failure = result.failure
        if failure is not None:
            field = t.PVC_TAG if failure.kind == "PersistentVolumeClaim" else t.PV_TAG
            return self._refused(facts, f"{field}: {failure.reason}", result.objects)
        conflict = result.conflict
        if conflict is not None:
            detail = f"{conflict.ref} {conflict.reason}"
            self._write_status(facts, error_status(f"conflict: {detail}"), plan.cluster)
            log.warning("conflict", extra={"volume_id": facts.volume_id, "detail": detail})
            return Outcome(facts.volume_id, "conflict", detail, result.objects)
        status = registered_status(plan)
        self._write_status(facts, status, plan.cluster)
        outcome: Result = "registered" if result.created else "unchanged"
        log.info(outcome, extra={"volume_id": facts.volume_id, "status": status})
        return Outcome(facts.volume_id, outcome, status, result.objects)

    def _refused(
        self, facts: VolumeFacts, reason: str, objects: tuple[ObjectResult, ...] = ()
    ) -> Outcome:
        """The cluster refused for good (404, 403, 401, 400/422): a retry cannot help, so the
        volume says why and the event is settled; what was created stays (README: Errors)."""
        log.error("refused", extra={"volume_id": facts.volume_id, "reason": reason,
                                    "retryable": False})  # fmt: skip
        self._write_status(facts, error_status(reason), None)
        return Outcome(facts.volume_id, "refused", reason, objects)

    def _reject(
        self, facts: VolumeFacts, error: InvalidInputError, result: Result = "invalid"
    ) -> Outcome:
        log.warning(
            "invalid input" if result == "invalid" else result,
            extra={"volume_id": facts.volume_id, "tag": error.field, "rule": error.rule},
        )
        self._write_status(facts, error_status(str(error)), None)
        return Outcome(facts.volume_id, result, str(error))

    def _write_status(self, facts: VolumeFacts, status: str, cluster: str | None) -> None:
        """Skip the write when the volume already says exactly this (duplicate events)."""
        tags = status_tags(status, cluster, self._settings.csi_driver)
        if status_is_current(facts.tags, tags):
            return
        self._volumes.write_status(facts.volume_id, tags)


def _plan(facts: VolumeFacts, settings: Settings, cluster: str | None) -> Planned:
    try:
        planned = plan_volume(facts, settings, cluster)
    except InvalidInputError as error:
        return Rejected(facts, error)
    return planned if isinstance(planned, Ignored) else Ready(facts, planned)


def _describe(reader: VolumeReader, volume_id: str) -> VolumeFacts | Ignored:
    try:
        return reader.describe_volume(volume_id)
    except NotFoundError:
        return Ignored(f"{volume_id} no longer exists")


def _untagged(event: VolumeEvent | Ignored) -> tuple[str, ...]:
    """Volumes whose `k8s-pv` tag an event says was removed."""
    if isinstance(event, TagsRemoved) and t.PV_TAG in event.keys:
        return event.volume_ids
    if isinstance(event, TagSnapshot) and t.PV_TAG in event.removed_keys:
        return (event.volume_id,)
    return ()


def _caller(principals: tuple[str, ...]) -> str:
    return quoted(principals[0], limit=160) if principals else "an unknown caller"


def _volume_of(planned: Planned) -> str | None:
    return None if isinstance(planned, Ignored) else planned.facts.volume_id


def _per_volume(steps: Iterable[tuple[str | None, Callable[[], Outcome]]]) -> list[Outcome]:
    """Run every step; one failure never blocks the others, and the first is raised at the end."""
    outcomes: list[Outcome] = []
    pending: RegistrarError | None = None
    for volume_id, step in steps:
        try:
            outcomes.append(step())
        except RegistrarError as error:
            fields = {"volume_id": volume_id, "error": str(error), "retryable": error.retryable}
            log.error("registration failed", extra=fields)
            outcomes.append(Outcome(volume_id, "failed", str(error)))
            pending = pending or error
    if pending is not None:
        raise pending
    return outcomes
