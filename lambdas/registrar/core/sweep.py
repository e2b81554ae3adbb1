"""Pure planning of a reconcile sweep: tagged volumes + our listed objects -> one row per gap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from registrar.core import tags as t
from registrar.core.errors import InvalidInputError
from registrar.core.events import Ignored
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.objects import (
    Holder,
    ObjectKey,
    conflict_reason,
    ebs_volume_of,
    is_ours,
    key_of,
    second_pv_rule,
    slim,
    volume_of,
)
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.status import error_status, status_is_current, status_tags

RowAction = Literal[
    "in-sync",
    "create",
    "status",
    "drift",
    "conflict",
    "invalid",
    "orphan",
    "unmanaged",
    "unverified",
    "refused",
    "failed",
    "deferred",
]
# What a row asks of the executor; the others are only reported.
WRITES: frozenset[RowAction] = frozenset({"create", "status", "invalid", "orphan"})


@dataclass(frozen=True)
class Row:
    volume_id: str
    cluster: str
    pv: str
    pvc: str
    action: RowAction
    detail: str = ""
    plan: Plan | None = field(default=None, repr=False, compare=False)
    status: str | None = None  # the status tag to write, when the volume's is not it
    orphan: Manifest | None = field(default=None, repr=False, compare=False)
    # The volume's tags when listed: a refusal writes its status only when it is news.
    tags: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def split_pvs(pvs: Iterable[Manifest]) -> tuple[list[Manifest], dict[str, str]]:
    """Our PVs, and the volume -> name of every other PV on an EBS volume (all a sweep needs
    of PVs that are not ours, so a listing of every PV holds only that much of them)."""
    ours: list[Manifest] = []
    foreign: dict[str, str] = {}
    for pv in pvs:
        if is_ours(pv):
            ours.append(slim(pv))
            continue
        volume_id = ebs_volume_of(pv)
        if volume_id:
            foreign.setdefault(volume_id, str(pv["metadata"]["name"]))
    return ours, foreign


def plan_sweep(
    volumes: Iterable[VolumeFacts],
    pvs: Iterable[Manifest],
    pvcs: Iterable[Manifest],
    settings: Settings,
    cluster: str,
    *,
    foreign: Mapping[str, str] | None = None,
) -> list[Row]:
    """Every tagged volume of `cluster` and every PV of ours there, compared without I/O.
    `foreign` maps volumes to the PV (not ours) that uses them: one volume, one PV."""
    known: dict[ObjectKey, Manifest] = {key_of(o): o for o in [*pvs, *pvcs] if is_ours(o)}
    ours_by_volume: dict[str | None, Manifest] = {}
    holders: dict[str, list[Holder]] = {}
    for obj in known.values():
        if obj["kind"] == "PersistentVolume":
            volume_id = volume_of(obj)
            ours_by_volume[volume_id] = obj
            holders.setdefault(str(volume_id), []).append((_name(obj), True))
    for volume_id, name in (foreign or {}).items():
        holders.setdefault(volume_id, []).append((name, False))
    rows: list[Row] = []
    tagged: set[str] = set()
    for facts in volumes:
        tagged.add(facts.volume_id)
        row = _volume_row(facts, known, ours_by_volume.get(facts.volume_id), settings, cluster)
        if row is not None and row.plan is not None:
            row = _one_pv(row, facts, holders.get(facts.volume_id, []), settings)
        if row is not None and row.action not in WRITES and row.status is None:
            row = replace(row, plan=None, tags={})  # a row only reported holds no objects
        if row is not None:
            rows.append(row)
    for volume_id, pv in sorted(ours_by_volume.items(), key=lambda item: str(item[0])):
        if volume_id is None or volume_id in tagged or not _in_cluster(pv, cluster):
            continue
        rows.append(_orphan_row(volume_id, pv, cluster))
    return rows


def _volume_row(
    facts: VolumeFacts,
    known: dict[ObjectKey, Manifest],
    our_pv: Manifest | None,
    settings: Settings,
    cluster: str,
) -> Row | None:
    try:
        planned = plan_volume(facts, settings)
    except InvalidInputError as error:
        if target_cluster(facts, settings) != cluster and our_pv is None:
            return None
        status = _changed(facts, error_status(str(error)), cluster, settings)
        return Row(facts.volume_id, cluster, "-", "-", "invalid", str(error), status=status)
    if isinstance(planned, Ignored):
        return None
    pvc_ref = "/".join(planned.claim) if planned.claim else "-"
    if planned.cluster != cluster:
        if our_pv is None:
            return None
        moved = f"now targets cluster {planned.cluster}; this PV is kept"
        return Row(facts.volume_id, cluster, _name(our_pv), pvc_ref, "drift", moved)
    row = Row(facts.volume_id, cluster, planned.pv_name, pvc_ref, "in-sync", plan=planned,
              tags=facts.tags)  # fmt: skip
    status = _changed(facts, registered_status(planned), cluster, settings)
    pairs = [(item, known.get(key_of(item))) for item in planned.items]
    for index, (item, obj) in enumerate(pairs):
        if obj is None:
            missing = ", ".join(str(i["kind"]) for i, o in pairs[index:] if o is None)
            return _with(row, "create", f"missing {missing}", status)
        reason = conflict_reason(item, obj)
        if reason is not None:
            return _with(row, "drift", _drift(item, obj, reason))
    return _with(row, "status", "status tag out of date", status) if status else row


def _one_pv(row: Row, facts: VolumeFacts, holders: list[Holder], settings: Settings) -> Row:
    """A volume another PV already uses gets no PV of its own: a rename of ours is drift, a PV
    written by hand a conflict; either way the volume says why."""
    taken = second_pv_rule(row.pv, holders)
    if taken is None:
        return row
    other = next(name for name, _ in holders if name != row.pv)
    action: RowAction = "drift" if all(ours for _, ours in holders) else "conflict"
    status = _changed(facts, error_status(f"{t.PV_TAG}: {taken}"), row.cluster, settings)
    return Row(row.volume_id, row.cluster, other, row.pvc, action, taken, status=status)


def _orphan_row(volume_id: str, pv: Manifest, cluster: str) -> Row:
    ref = pv.get("spec", {}).get("claimRef") or {}
    pvc = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else "-"
    if t.UNMANAGED_ANNOTATION in (pv["metadata"].get("annotations") or {}):
        return Row(volume_id, cluster, _name(pv), pvc, "unmanaged", "left as marked")
    return Row(volume_id, cluster, _name(pv), pvc, "orphan", "volume untagged or deleted",
               orphan=pv)


def _drift(desired: Manifest, existing: Manifest, reason: str) -> str:
    if desired["kind"] == "PersistentVolume":
        have = existing.get("spec", {}).get("capacity", {}).get("storage")
        want = desired["spec"]["capacity"]["storage"]
        if have != want and reason.endswith("differs in spec.capacity.storage"):
            return f"volume is {want}, PV says {have} (grown by ModifyVolume?)"
    return f"{reason}: tags changed since registration; delete it to re-register"


def _with(row: Row, action: RowAction, detail: str, status: str | None = None) -> Row:
    return replace(row, action=action, detail=detail, status=status)


def _changed(facts: VolumeFacts, status: str, cluster: str, settings: Settings) -> str | None:
    current = status_is_current(facts.tags, status_tags(status, cluster, settings.csi_driver))
    return None if current else status


def target_cluster(facts: VolumeFacts, settings: Settings) -> str | None:
    """The cluster a volume's tags point at (not validated)."""
    return facts.tags.get(t.CLUSTER_TAG) or settings.default_cluster


def _in_cluster(pv: Manifest, cluster: str) -> bool:
    annotated = (pv["metadata"].get("annotations") or {}).get(t.CLUSTER_ANNOTATION)
    return annotated in (None, cluster)


def _name(obj: Manifest) -> str:
    return str(obj["metadata"]["name"])
