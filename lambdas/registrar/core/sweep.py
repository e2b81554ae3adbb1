"""Pure planning of a reconcile sweep: tagged volumes + our listed objects -> one row per gap.

The volumes stream through the planner (`volume_rows`) against a compact index of the cluster
(`SweepIndex`), so a sweep holds the index and one page, never the fleet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
    pack,
    second_pv_rule,
    unpack,
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


@dataclass(frozen=True, slots=True)
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

    def reported(self) -> Row:
        """The row without the objects it carried: what a caller keeps once it is done."""
        if self.plan is None and self.orphan is None and not self.tags:
            return self
        return replace(self, plan=None, orphan=None, tags={})


class SweepIndex:
    """What a sweep keeps of a cluster while the volumes stream past, page by page: our PVs and
    claims by key, packed (`objects.pack`: about 100 bytes each instead of the whole object),
    our PV of each volume by volume id, and of every other PV on an EBS volume only its name
    (one volume, one PV). Single use: a sweep takes each volume's entry as it plans it, and
    what is left at the end are the orphans."""

    def __init__(self) -> None:
        self._packed: dict[ObjectKey, bytes] = {}
        self._pv_of: dict[str, str] = {}  # volume -> our PV (the last listed, as a sweep reports)
        self._holders: dict[str, list[Holder]] = {}  # only volumes with more than one PV of ours
        self._foreign: dict[str, str] = {}  # volume -> the first PV not ours that uses it

    def add(self, obj: Manifest) -> None:
        """One listed PV (any) or claim (ours are kept): nothing of `obj` itself is held."""
        if not is_ours(obj):
            volume_id = ebs_volume_of(obj) if obj.get("kind") == "PersistentVolume" else None
            if volume_id:
                self._foreign.setdefault(volume_id, _name(obj))
            return
        key = key_of(obj)
        self._packed[key] = pack(obj)
        volume_id = volume_of(obj) if key[0] == "PersistentVolume" else None
        if volume_id is None:
            return
        name = key[2]
        before = self._pv_of.get(volume_id)
        if before is not None and before != name:
            self._holders.setdefault(volume_id, [(before, True)]).append((name, True))
        self._pv_of[volume_id] = name

    def add_all(
        self, objects: Iterable[Manifest], foreign: Mapping[str, str] | None = None
    ) -> None:
        for obj in objects:
            self.add(obj)
        for volume_id, name in (foreign or {}).items():
            self._foreign.setdefault(volume_id, name)

    def get(self, key: ObjectKey) -> Manifest | None:
        packed = self._packed.get(key)
        return None if packed is None else unpack(packed)

    def __contains__(self, key: object) -> bool:
        return key in self._packed

    def known(self, items: Iterable[Manifest]) -> dict[ObjectKey, Manifest]:
        """The listed objects for these desired ones (what a repair compares)."""
        found = ((key_of(item), self.get(key_of(item))) for item in items)
        return {key: obj for key, obj in found if obj is not None}

    def take(self, volume_id: str) -> tuple[Manifest | None, list[Holder]]:
        """Our PV of a tagged volume and every PV using it (ours first); the volume is no
        longer an orphan candidate."""
        name = self._pv_of.pop(volume_id, None)
        holders = self._holders.pop(volume_id, None) or ([(name, True)] if name else [])
        foreign = self._foreign.get(volume_id)
        if foreign is not None:
            holders = [*holders, (foreign, False)]
        pv = None if name is None else self.get(("PersistentVolume", None, name))
        return pv, holders

    def untaken(self) -> Iterator[tuple[str, Manifest]]:
        """Our PVs whose volume no sweep took (untagged or deleted), by volume id."""
        for volume_id in sorted(self._pv_of):
            pv = self.get(("PersistentVolume", None, self._pv_of[volume_id]))
            if pv is not None:
                yield volume_id, pv


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
    index = SweepIndex()
    index.add_all([*pvs, *pvcs], foreign)
    return [*volume_rows(volumes, index, settings, cluster), *orphan_rows(index, cluster)]


def volume_rows(
    volumes: Iterable[VolumeFacts], index: SweepIndex, settings: Settings, cluster: str
) -> Iterator[Row]:
    """One row per tagged volume of `cluster` that needs one, as the volumes come."""
    for facts in volumes:
        our_pv, holders = index.take(facts.volume_id)
        row = _volume_row(facts, index, our_pv, settings, cluster)
        if row is not None and row.plan is not None:
            row = _one_pv(row, facts, holders, settings)
        if row is not None and row.action not in WRITES and row.status is None:
            row = row.reported()  # a row only reported holds no objects
        if row is not None:
            yield row


def orphan_rows(index: SweepIndex, cluster: str) -> Iterator[Row]:
    """After the volumes: our PVs in `cluster` whose volume was not among them."""
    for volume_id, pv in index.untaken():
        if _in_cluster(pv, cluster):
            yield _orphan_row(volume_id, pv, cluster)


def _volume_row(
    facts: VolumeFacts,
    index: SweepIndex,
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
    pairs = [(item, index.get(key_of(item))) for item in planned.items]
    for position, (item, obj) in enumerate(pairs):
        if obj is None:
            missing = ", ".join(str(i["kind"]) for i, o in pairs[position:] if o is None)
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
