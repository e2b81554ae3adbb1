"""A reconcile sweep, planned without I/O: each tagged volume of a cluster goes through the same
decision as an event (`core/decision.py`); then our PVs whose volume was not among them.

The volumes stream past a compact view of the cluster (`objects.ClusterView`), so a sweep
holds the view and one page, never the fleet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from registrar.core import tags as t
from registrar.core.decision import Decision, Result, decide
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.objects import ClusterView
from registrar.core.settings import Settings
from registrar.core.work import WorkItem


@dataclass(frozen=True, slots=True)
class Row:
    """One volume of a sweep: what was (or, in a dry run, would be) its result."""

    volume_id: str
    cluster: str
    pv: str
    pvc: str
    action: Result
    detail: str = ""


def sweep_item(volume_id: str, cluster: str) -> WorkItem:
    return WorkItem(volume_id, "sweep", "sweep", cluster=cluster)


def row_of(volume_id: str, cluster: str, decision: Decision) -> Row:
    return Row(volume_id, cluster, decision.pv, decision.pvc, decision.result, decision.detail)


def reported(decision: Decision) -> bool:
    """A sweep reports what concerns a PV of the cluster, or a volume it could register."""
    return decision.result != "ignored" or decision.pv != "-"


def orphans(view: ClusterView, seen: set[str], cluster: str) -> Iterator[tuple[str, Manifest]]:
    """Our PVs in `cluster` whose volume no listing of tagged volumes named."""
    for volume_id in view.volumes():
        if volume_id in seen:
            continue
        for pv in view.our_pvs(volume_id):
            annotated = (pv["metadata"].get("annotations") or {}).get(t.CLUSTER_ANNOTATION)
            if annotated in (None, cluster):
                yield volume_id, pv
                break


def plan_sweep(
    volumes: Iterable[VolumeFacts],
    pvs: Iterable[Manifest],
    pvcs: Iterable[Manifest],
    settings: Settings,
    cluster: str,
    *,
    foreign: Mapping[str, str] | None = None,
) -> list[Row]:
    """Every tagged volume of `cluster` and every PV of ours there, compared without I/O. An
    orphan's volume is taken as untagged: only EC2 can say it is gone (the executor asks).
    `foreign` maps volumes to the PV (not ours) that uses them: one volume, one PV."""
    view = ClusterView([*pvs, *pvcs])
    for volume_id, name in (foreign or {}).items():
        view.add_foreign(volume_id, name)
    views, rows, seen = {cluster: view}, [], set()
    for facts in volumes:
        seen.add(facts.volume_id)
        decision = decide(sweep_item(facts.volume_id, cluster), facts, views, settings)
        if reported(decision):
            rows.append(row_of(facts.volume_id, cluster, decision))
    for volume_id, _ in orphans(view, seen, cluster):
        untagged = VolumeFacts(volume_id, 1, "", tags={})
        decision = decide(sweep_item(volume_id, cluster), untagged, views, settings)
        rows.append(row_of(volume_id, cluster, decision))
    return rows


def target_cluster(facts: VolumeFacts, settings: Settings) -> str | None:
    """The cluster a volume's tags point at (not validated)."""
    return facts.tags.get(t.CLUSTER_TAG) or settings.default_cluster
