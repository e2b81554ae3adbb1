"""The one answer to "what should this volume be in this cluster?", for events and sweeps alike.

Pure: (a work item, the volume as EC2 describes it or None when EC2 says it is gone, the
clusters' views, settings, what CloudTrail said) -> one `Decision` in one result vocabulary.
The executor (engine/service.py) carries it out; `after_apply` reads what the cluster answered.

One vocabulary, each result one metric (core/contract.py OUTCOME_METRICS):
- registered: an object was created (or managed again); status `registered …`
- unchanged: in sync; a stale status tag is rewritten
- drift: our objects differ from the tags (a grown volume, a changed claim, a renamed PV):
  never overwritten; a rename also says `error: k8s-pv: …` on the volume
- pending: an allow-list, and no record yet of who tagged it: `pending: …` (never over a
  `registered` status); a volume attached to an instance that is no node of its cluster
  (`waiting: attached to i-…`, no objects); a claim made bindable again but not bound yet;
  the next sweep checks again
- invalid, conflict, refused: a tag or caller breaks a rule, a name or the volume is held by
  an object not ours, the cluster refused for good: `error: …`
- released: the volume is gone or untagged: our objects deleted or marked `unmanaged`
- ignored: nothing to do
- deferred, failed, reconciled: set by the executor (no time left, an error a retry may fix,
  a sweep's summary)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from registrar.core import tags as t
from registrar.core.attachments import held_elsewhere, waiting_status
from registrar.core.binding import stale_claim
from registrar.core.errors import ClusterUnreachableError, InvalidInputError, RegistrarError
from registrar.core.events import Ignored
from registrar.core.growth import growth
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.objects import ClusterView, conflict_reason, key_of, second_pv_rule
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.status import (
    REGISTERED,
    error_status,
    quoted,
    registered_cluster,
    status_is_current,
    status_tags,
    status_text,
    unmanaged_status,
)
from registrar.core.work import WorkItem

Result = Literal[
    "registered",
    "unchanged",
    "drift",
    "pending",
    "invalid",
    "conflict",
    "refused",
    "released",
    "ignored",
    "deferred",
    "failed",
    "reconciled",
]
Action = Literal[
    "created", "updated", "unchanged", "conflict", "skipped", "deleted", "unmanaged", "failed"
]
SHORT_KIND = {"PersistentVolume": "pv", "PersistentVolumeClaim": "pvc"}
VOLUME_DELETED = "volume deleted"
GROWN = "differs in spec.capacity.storage"  # conflict_reason of a PV whose volume was resized
GROWN_NOTE = "(grown "
MOVING = "moving "  # the status of a volume moving between clusters: `moving blue -> green: …`
REBOUND = "stale claim uid cleared: bindable again"
UNTAGGED = "k8s-pv tag removed"
NO_CALLER = "the event names no caller; the CloudTrail event of the tagging decides"


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one object."""

    kind: str
    name: str
    namespace: str | None
    action: Action
    reason: str = ""

    @property
    def ref(self) -> str:
        path = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{SHORT_KIND.get(self.kind, self.kind)}/{path}"

    def line(self) -> str:
        return f"{self.action} {self.ref}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Decision:
    result: Result
    detail: str = ""
    status: str | None = None  # the status tag to write; None leaves the volume's as it is
    cluster: str | None = None
    plan: Plan | None = None  # objects to create or compare
    release: tuple[tuple[str, Manifest], ...] = ()  # (cluster, our PV) to delete or mark
    deleted: bool = False  # release because the volume is gone (else: untagged)
    lookup: tuple[str, ...] = ()  # tag keys whose writer CloudTrail must name first
    pv: str = "-"
    pvc: str = "-"
    grow: str | None = None  # the PV's new capacity (a volume grown by ModifyVolume)
    rebind: bool = False  # our PV may hold a deleted claim's uid: check it, clear it
    handoff: tuple[str, Manifest] | None = None  # (source cluster, our PV there) to release first

    @property
    def acts(self) -> bool:
        """Something to write or to ask: else the decision is only reported."""
        return bool(self.plan or self.release or self.status or self.lookup or self.grow
                    or self.rebind or self.handoff)  # fmt: skip


def triage(item: WorkItem, settings: Settings) -> Decision | None:
    """What the item alone settles, before any read."""
    stated = set(item.tags or {}) | set(item.removed)
    if item.reason == "untagged" and not may_unregister(item, settings):
        return Decision("ignored", f"{_caller(item)} may not unregister volumes")
    if item.reason == "created" and item.tags is not None and t.PV_TAG not in item.tags:
        return Decision("ignored", f"{item.volume_id} created without a {t.PV_TAG} tag")
    if item.reason == "tagged" and item.tags is not None and not t.INPUT_TAGS & stated:
        if stated and stated <= t.OUTPUT_TAGS:
            return Decision("ignored", "only the registrar's own status tags changed")
        return Decision("ignored", "the event changes no k8s-* input tag")
    return None


def may_unregister(item: WorkItem, settings: Settings) -> bool:
    """With an allow-list only a CloudTrail event naming an allowed caller unregisters: a Tag
    Change or a sweep names no caller, and absence of evidence is no verdict."""
    if not settings.allowed_principals:
        return True
    return item.source == "cloudtrail" and settings.principal_allowed(item.principals)


def clusters_of(
    item: WorkItem, volume: VolumeFacts | None, settings: Settings
) -> tuple[str, ...]:
    """The clusters whose view `decide` reads, the one it decides for first. Also the managed
    cluster the volume's status says it is registered in (or moving from): a PV of ours there
    means the volume is moving (a handoff)."""
    sweep = item.cluster if item.source == "sweep" and item.cluster else None
    if volume is None or t.PV_TAG not in volume.tags:
        if sweep:
            return (sweep,)
        return settings.clusters if item.reason in ("deleted", "untagged") or volume is None else ()
    try:
        planned = plan_volume(volume, settings, _override(item))
    except InvalidInputError:
        return (sweep,) if sweep else ()
    target = planned.cluster if isinstance(planned, Plan) else None
    if not target:
        return (sweep,) if sweep else ()
    status = volume.tags.get(t.STATUS_TAG, "")
    source = registered_cluster(status) or (status.split()[1] if status.startswith(MOVING) else "")
    others = [c for c in (target, source) if c in settings.clusters]
    return tuple(dict.fromkeys([sweep or target, *others]))


def decide(
    item: WorkItem,
    volume: VolumeFacts | None,
    views: Mapping[str, ClusterView],
    settings: Settings,
    writers: Mapping[str, tuple[str, ...]] | None = None,
    *,
    nodes: Mapping[str, frozenset[str]] | None = None,
) -> Decision:
    """`volume` None means EC2 said it does not exist (its own NotFound, or DeleteVolume).
    `nodes`: the instances of each cluster's nodes, read when the volume is attached."""
    if volume is None or t.PV_TAG not in volume.tags:
        return _release(item, volume, views, settings)
    scope = item.cluster if item.source == "sweep" else None
    try:
        planned = plan_volume(volume, settings, _override(item))
    except InvalidInputError as error:
        target = volume.tags.get(t.CLUSTER_TAG) or settings.default_cluster
        if scope is not None and target != scope and not _ours(views, scope, volume):
            return Decision("ignored", "another cluster's volume", cluster=target)
        return invalid(volume, error)
    if isinstance(planned, Ignored):
        return Decision("ignored", planned.reason)
    pvc = "/".join(planned.claim) if planned.claim else "-"
    if planned.cluster is None:
        return invalid(volume, InvalidInputError(t.CLUSTER_TAG, "no tag and no default cluster"))
    if scope is not None and planned.cluster != scope:
        ours = _ours(views, scope, volume)
        if not ours:
            return Decision("ignored", "another cluster's volume", cluster=planned.cluster)
        if planned.cluster not in views:  # a cluster this deployment may not write to
            moved = f"now targets cluster {planned.cluster}; this PV is kept"
            return Decision("drift", moved, cluster=scope, pv=ours[0]["metadata"]["name"],
                            pvc=pvc)  # fmt: skip
    refusal = _verify(item, volume, None, settings, stated_only=True)
    if refusal is not None:
        return replace(refusal, cluster=planned.cluster, pvc=pvc)
    view = views[planned.cluster]
    moving = _moving(views, planned.cluster, volume)
    if moving is not None:
        return _hand_off(item, volume, planned, moving, writers=writers, settings=settings)
    holders = view.holders(volume.volume_id)
    taken = second_pv_rule(planned.pv_name, holders)
    if taken is not None:  # one volume, one PV: nothing is written to the cluster
        other = next(name for name, _ in holders if name != planned.pv_name)
        result: Result = "drift" if all(ours for _, ours in holders) else "conflict"
        status = _error(volume, f"{t.PV_TAG}: {taken}")
        return Decision(result, taken, status, planned.cluster, pv=other, pvc=pvc)
    base = Decision("unchanged", "in sync", None, planned.cluster, pv=planned.pv_name, pvc=pvc)
    todo: list[str] = []
    for desired in planned.items:
        existing = view.get(key_of(desired))
        annotations = {} if existing is None else existing["metadata"].get("annotations") or {}
        if existing is None or t.UNMANAGED_ANNOTATION in annotations:
            todo.append(str(desired["kind"]))
            continue
        reason = conflict_reason(desired, existing)
        if reason is not None and desired["kind"] == "PersistentVolume" and reason == GROWN:
            return _grown(base, volume, existing, registered_status(planned), settings)
        if reason is not None:
            return _differs(base, volume, (desired, existing), reason)
    # A claim deleted by its user left our PV Released with its uid: the claim the tags ask
    # for (again) would stay Pending. A sweep sees our claims; an event does not, so the
    # executor checks the PV's claimRef against the claim itself.
    pv_now = view.get(key_of(planned.pv))
    claim_now = None if planned.pvc is None else view.get(key_of(planned.pvc))
    rebind = pv_now is not None and planned.pvc is not None and stale_claim(pv_now, claim_now)
    text = registered_status(planned)
    shown = volume.tags.get(t.STATUS_TAG, "")
    kept = shown if shown.startswith(f"{text} {GROWN_NOTE}") else text  # said at the growth
    status = _news(volume, kept, planned.cluster, settings)
    if not todo:
        return replace(base, status=status, detail=text, rebind=rebind)
    waiting = None if pv_now is not None else _held(volume, nodes, planned.cluster, settings)
    if waiting is not None:
        return replace(base, result=waiting.result, detail=waiting.detail, status=waiting.status)
    if pv_now is None:  # new to this cluster: who tagged it?
        refusal = _verify(item, volume, writers, settings)
        if refusal is not None:
            return replace(refusal, cluster=planned.cluster, pv=planned.pv_name, pvc=pvc)
    return replace(base, result="registered", detail="missing " + ", ".join(todo),
                   status=status, plan=planned, rebind=rebind)  # fmt: skip


def _moving(
    views: Mapping[str, ClusterView], target: str, volume: VolumeFacts
) -> tuple[str, Manifest] | None:
    """A PV of ours for the volume in another cluster than the one its tags name."""
    for cluster, view in views.items():
        if cluster != target:
            for pv in view.our_pvs(volume.volume_id):
                return cluster, pv
    return None


def _held(
    volume: VolumeFacts,
    nodes: Mapping[str, frozenset[str]] | None,
    cluster: str,
    settings: Settings,
) -> Decision | None:
    """A volume new to the cluster but in use by an instance that is none of its nodes waits."""
    held = held_elsewhere(volume, (nodes or {}).get(cluster, frozenset()))
    if not held:
        return None
    waiting = waiting_status(held, cluster)
    return Decision("pending", waiting, _news(volume, waiting, None, settings))


def _hand_off(
    item: WorkItem,
    volume: VolumeFacts,
    planned: Plan,
    moving: tuple[str, Manifest],
    *,
    writers: Mapping[str, tuple[str, ...]] | None,
    settings: Settings,
) -> Decision:
    """`k8s-cluster` now names another cluster than the one holding our PV (a blue/green
    upgrade): released from the source only when nothing uses the volume (no attachment),
    registered in the target only once the source's PV is gone, so no two clusters ever hold
    a usable PV for it; each step says so on the volume."""
    source, pv = moving
    target, pvc = str(planned.cluster), "/".join(planned.claim) if planned.claim else "-"
    head = f"{MOVING}{source} -> {target}"
    if volume.attached_to:
        text = status_text(f"{head}: waiting for detach from {', '.join(volume.attached_to)}")
        return Decision("pending", text, _news(volume, text, None, settings), target,
                        pv=str(pv["metadata"]["name"]), pvc=pvc)  # fmt: skip
    refusal = _verify(item, volume, writers, settings)
    if refusal is not None:
        return replace(refusal, cluster=target, pv=planned.pv_name, pvc=pvc)
    status = _news(volume, registered_status(planned), target, settings)
    return Decision("registered", f"{head}: released from {source}", status, target,
                    plan=planned, handoff=moving, pv=planned.pv_name, pvc=pvc)  # fmt: skip


def after_handoff(decision: Decision, gone: bool) -> Decision:
    """The source's PV deleted (its claim first): on to the target; still there (a finalizer:
    a pod still uses its claim): wait, and the next sweep goes on."""
    done = replace(decision, handoff=None)
    if gone or decision.handoff is None:
        return done
    source, pv = decision.handoff
    text = status_text(f"{MOVING}{source} -> {decision.cluster}: released from {source}; "
                       f"waiting for its PV {pv['metadata']['name']} to be deleted")  # fmt: skip
    return replace(done, result="pending", detail=text, status=text, plan=None, rebind=False)


def after_rebind(decision: Decision, objects: tuple[ObjectResult, ...]) -> Decision:
    """Once our PV's stale claim uid is cleared the PV controller binds the claim, but not yet:
    the status says `pending` until a sweep sees the claim bound, never `registered`."""
    done = replace(decision, rebind=False)
    if not any(o.reason == REBOUND for o in objects):
        return done
    text = (f"pending: claim {decision.pvc} is not bound yet: its PV {decision.pv} was "
            "Released by a deleted claim and is bindable again; checked again")  # fmt: skip
    return replace(done, result="pending", detail=text, status=status_text(text))


def after_apply(
    decision: Decision, objects: tuple[ObjectResult, ...], volume: VolumeFacts
) -> Decision:
    """What the cluster's answers make of a decision to create."""
    done = replace(decision, plan=None)
    failure = next((o for o in objects if o.action == "failed"), None)
    if failure is not None:
        field = t.PVC_TAG if failure.kind == "PersistentVolumeClaim" else t.PV_TAG
        return refused(volume, f"{field}: {failure.reason}", decision.cluster)
    clash = next((o for o in objects if o.action == "conflict"), None)
    if clash is not None:
        detail = f"{clash.ref} {clash.reason}"
        if _foreign(clash.reason):
            status = _error(volume, f"conflict: {detail}")
            return replace(done, result="conflict", detail=detail, status=status)
        return replace(done, result="drift", detail=detail, status=None)
    text = registered_status(decision.plan) if decision.plan else decision.detail
    if any(o.action in ("created", "updated") for o in objects):
        return replace(done, result="registered", detail=text)
    return replace(done, result="unchanged", detail=text)


def invalid(volume: VolumeFacts, error: InvalidInputError) -> Decision:
    return Decision("invalid", str(error), _error(volume, str(error)))


def refused(volume: VolumeFacts, reason: str, cluster: str | None) -> Decision:
    """The cluster refused for good: the volume says why (README: Errors)."""
    return Decision("refused", reason, _error(volume, reason), cluster)


def cluster_refused(volume: VolumeFacts, cluster: str, error: RegistrarError) -> Decision:
    if isinstance(error, ClusterUnreachableError):  # it names the cluster and the fix
        return refused(volume, str(error), cluster)
    return refused(volume, f"{t.CLUSTER_TAG}: {cluster}: {error}", cluster)


def _release(
    item: WorkItem, volume: VolumeFacts | None, views: Mapping[str, ClusterView], settings: Settings
) -> Decision:
    """Only on positive proof: EC2 says the volume is gone, or its `k8s-pv` is gone and the
    item may unregister (an untag event, or a sweep that found our PV without its tag)."""
    deleted = volume is None
    why = VOLUME_DELETED if deleted else UNTAGGED
    if not deleted and item.reason not in ("untagged", "sweep"):
        return Decision("ignored", f"{item.volume_id} has no {t.PV_TAG} tag")
    ours = [(c, pv) for c in views for pv in views[c].our_pvs(item.volume_id)]
    pvs = [(c, pv) for c, pv in ours if deleted or _marked(pv) != why]
    name = str(ours[0][1]["metadata"]["name"]) if ours else "-"
    if not deleted and not may_unregister(item, settings):
        return Decision("ignored", f"{why}: {_caller(item)} may not unregister volumes", pv=name)
    if not pvs:
        detail = "left as marked" if ours else "no PV of ours for it"
        return Decision("ignored", f"{why}: {detail}", pv=name)
    cluster, first = pvs[0]
    name = str(first["metadata"]["name"])
    ref = first["spec"].get("claimRef") or {}
    pvc = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else "-"
    status = None if deleted else unmanaged_status(cluster, name, why)
    return Decision("released", why, status, cluster, release=tuple(pvs), deleted=deleted,
                    pv=name, pvc=pvc)  # fmt: skip


def _verify(
    item: WorkItem,
    volume: VolumeFacts,
    writers: Mapping[str, tuple[str, ...]] | None,
    settings: Settings,
    *,
    stated_only: bool = False,
) -> Decision | None:
    """With REGISTRAR_ALLOWED_PRINCIPALS every input tag must have been set by an allowed
    principal: the item's caller for the keys it sets, CloudTrail's record for the others. No
    record yet is no verdict, only pending: CloudTrail delivers "within an average of about 5
    minutes of an API call. This time is not guaranteed." (AWS CloudTrail User Guide, "Getting
    and viewing your CloudTrail log files").
    `stated_only`: a caller the item names is evidence whatever the cluster holds."""
    if not settings.allowed_principals or item.source == "cli":
        return None
    keys = sorted(t.INPUT_TAGS & volume.tags.keys(), key=lambda k: (k != t.PV_TAG, k))
    found = {k: item.principals for k in keys if k in (item.tags or {}) and item.principals}
    found |= {k: tuple(w) for k, w in (writers or {}).items() if k in keys and w}
    for key in keys:
        if key in found and not settings.principal_allowed(found[key]):
            action = "register" if key == t.PV_TAG else f"set {key}"
            rule = f"{_caller(item, found[key])} may not {action}"
            return invalid(volume, InvalidInputError("principal", rule))
    unknown = tuple(k for k in keys if k not in found)
    if not unknown or stated_only:
        return None
    if writers is None:  # the executor asks CloudTrail, or with no one to ask, ignores it
        return Decision("pending", "who tagged it: CloudTrail is asked", lookup=unknown)
    named = ", ".join(unknown)
    text = f"pending: no CloudTrail record yet of who set {named}; the next sweep checks again"
    current = volume.tags.get(t.STATUS_TAG, "")
    fresh = _news(volume, status_text(text), None, settings)
    status = None if current.startswith(REGISTERED) else fresh
    return Decision("pending", text, status)


def _grown(
    base: Decision, volume: VolumeFacts, pv: Manifest, text: str, settings: Settings
) -> Decision:
    """The PV's capacity follows a volume grown by ModifyVolume (the claim's request too, in
    an expandable class: the executor reads the class); a size the volume cannot have is
    reported, never written."""
    grown = growth(volume, pv, None, expandable=False)
    if grown is None:  # a capacity written in a form we do not read: left to the operator
        return replace(base, result="drift", detail=f"PV capacity differs from {volume.size_gib}Gi")
    if grown.error is not None:
        status = _error(volume, f"size: {grown.error}")
        return replace(base, result="drift", detail=grown.error, status=status)
    was = pv["spec"]["capacity"]["storage"]
    shown = status_text(f"{text} {GROWN_NOTE}{was} -> {grown.size})")
    status = _news(volume, shown, base.cluster, settings)
    return replace(base, result="registered", detail=grown.note, status=status, grow=grown.size)


def after_growth(decision: Decision, objects: tuple[ObjectResult, ...]) -> Decision:
    """What the cluster's answers make of a growth: the objects say what changed."""
    done = replace(decision, grow=None)
    changed = [o.line() for o in objects]
    return replace(done, detail="; ".join(changed) or decision.detail)


def _differs(
    base: Decision, volume: VolumeFacts, pair: tuple[Manifest, Manifest], reason: str
) -> Decision:
    desired, existing = pair
    ref = f"{SHORT_KIND[str(desired['kind'])]}/{key_of(desired)[2]}"
    if _foreign(reason):
        status = _error(volume, f"conflict: {ref} {reason}")
        return replace(base, result="conflict", detail=f"{ref} {reason}", status=status)
    return replace(base, result="drift", detail=_drift(desired, existing, reason))


def _drift(desired: Manifest, existing: Manifest, reason: str) -> str:
    if desired["kind"] == "PersistentVolume":
        have = existing.get("spec", {}).get("capacity", {}).get("storage")
        want = desired["spec"]["capacity"]["storage"]
        if have != want and reason.endswith("differs in spec.capacity.storage"):
            return f"volume is {want}, PV says {have} (grown by ModifyVolume?)"
    return f"{reason}: tags changed since registration; delete it to re-register"


def _marked(pv: Manifest) -> str | None:
    return (pv["metadata"].get("annotations") or {}).get(t.UNMANAGED_ANNOTATION)


def _foreign(reason: str) -> bool:
    """Not ours, or ours for another volume: the name is taken, not drifted."""
    return reason.startswith(("exists and is not managed", "already holds volume"))


def _error(volume: VolumeFacts, reason: str) -> str | None:
    """An error status, unless the volume says it already (an error adds no other tag)."""
    status = error_status(reason)
    return None if volume.tags.get(t.STATUS_TAG) == status else status


def _news(volume: VolumeFacts, status: str, cluster: str | None, settings: Settings) -> str | None:
    current = status_is_current(volume.tags, status_tags(status, cluster, settings.csi_driver))
    return None if current else status


def _ours(views: Mapping[str, ClusterView], cluster: str, volume: VolumeFacts) -> list[Manifest]:
    view = views.get(cluster)
    return [] if view is None else view.our_pvs(volume.volume_id)


def _override(item: WorkItem) -> str | None:
    return item.cluster if item.source == "cli" else None


def _caller(item: WorkItem, principals: tuple[str, ...] | None = None) -> str:
    names = item.principals if principals is None else principals
    return quoted(names[0], limit=160) if names else "an unknown caller"
