"""The pure sweep planner: one row per volume or orphan, each the decision an event would get
(core/decision.py), and only gaps ask for writes."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from registrar.core.decision import Decision, decide
from registrar.core.models import Manifest
from registrar.core.objects import ClusterView, conflict_reason, pack, slim, unpack
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.sweep import Row, orphans, plan_sweep, sweep_item
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod", "dev"))
VOL = "vol-0000000000000000a"


def registered(volume_id: str = VOL, **tags: str) -> tuple[Any, Plan]:
    """A volume and the plan it was registered with, its status tag already written."""
    all_tags = {"k8s-pv": "data", **tags}
    plan = plan_volume(facts(volume_id, tags=all_tags), SETTINGS)
    assert isinstance(plan, Plan)
    all_tags |= {"k8s-pv-status": registered_status(plan), "ebs.csi.aws.com/cluster": "true",
                 "ebs.csi.aws.com/cluster-name": "prod"}
    return facts(volume_id, tags=all_tags), plan


def stored(obj: Manifest, phase: str = "Bound") -> Manifest:
    """What the API server returns: our manifest plus server fields."""
    copied = copy.deepcopy(obj)
    copied["metadata"] |= {"uid": "u-1", "resourceVersion": "7"}
    copied["status"] = {"phase": phase}
    return copied


def sweep(volumes: list[Any], objects: list[Manifest], cluster: str = "prod") -> list[Row]:
    pvs = [o for o in objects if o["kind"] == "PersistentVolume"]
    pvcs = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    return plan_sweep(volumes, pvs, pvcs, SETTINGS, cluster)


def decided(volume: Any, objects: list[Manifest], cluster: str = "prod") -> Decision:
    views = {cluster: ClusterView(objects)}
    return decide(sweep_item(volume.volume_id, cluster), volume, views, SETTINGS)


def test_in_sync_needs_no_write() -> None:
    volume, plan = registered()
    rows = sweep([volume], [stored(o) for o in plan.items])
    assert [r.action for r in rows] == ["unchanged"]
    assert not decided(volume, [stored(o) for o in plan.items]).acts


def test_missing_objects_are_created() -> None:
    volume, plan = registered()
    assert sweep([volume], [])[0].action == "registered"
    only_pv = sweep([volume], [stored(plan.pv)])[0]
    assert (only_pv.action, only_pv.detail) == ("registered", "missing PersistentVolumeClaim")


def test_missed_event_creates_and_writes_the_status() -> None:
    decision = decided(facts(VOL, tags={"k8s-pv": "data"}), [])
    assert decision.result == "registered" and decision.plan is not None
    assert decision.status == "registered prod/data -> default/data"


def test_stale_status_tag_is_rewritten() -> None:
    volume, plan = registered()
    volume.tags["k8s-pv-status"] = "error: old"
    decision = decided(volume, [stored(o) for o in plan.items])
    assert (decision.result, decision.plan) == ("unchanged", None)
    assert decision.status == "registered prod/data -> default/data"


def test_grown_volume_grows_its_pv() -> None:
    volume, plan = registered()
    grown = facts(VOL, tags=volume.tags, size_gib=20)
    row = sweep([grown], [stored(o) for o in plan.items])[0]
    assert row.action == "registered"
    assert row.detail.startswith("grown 10Gi -> 20Gi")


def test_changed_claim_tag_is_drift_never_a_move() -> None:
    volume, plan = registered()
    moved = facts(VOL, tags={**volume.tags, "k8s-pvc": "shop/other"})
    row = sweep([moved], [stored(o) for o in plan.items])[0]
    assert row.action == "drift"
    assert "spec.claimRef" in row.detail and "delete it to re-register" in row.detail


def test_orphans_and_marked_objects() -> None:
    _, plan = registered()
    orphan = sweep([], [stored(o) for o in plan.items])
    assert [(r.volume_id, r.action, r.pvc) for r in orphan] == [(VOL, "released", "default/data")]
    marked = stored(plan.pv)
    marked["metadata"]["annotations"]["ebs-pv-registrar/unmanaged"] = "k8s-pv tag removed"
    [left] = sweep([], [marked])
    assert left.action == "ignored" and "left as marked" in left.detail


def test_objects_of_another_cluster_are_not_orphans_here() -> None:
    _, plan = registered()
    assert sweep([], [stored(plan.pv)], cluster="dev") == []


def test_invalid_tags_are_reported_with_their_status() -> None:
    rows = sweep([facts(VOL, tags={"k8s-pv": "Bad_Name"})], [])
    assert [r.action for r in rows] == ["invalid"]
    status = decided(facts(VOL, tags={"k8s-pv": "Bad_Name"}), []).status
    assert status is not None and status.startswith("error: k8s-pv: ")


def test_volume_moved_to_another_managed_cluster_is_a_handoff() -> None:
    volume, plan = registered()
    moved = facts(VOL, tags={**volume.tags, "k8s-cluster": "dev"})
    views = {"dev": ClusterView(), "prod": ClusterView([stored(o) for o in plan.items])}
    for scope in ("prod", "dev"):  # the sweep of either cluster sees both (clusters_of)
        decision = decide(sweep_item(VOL, scope), moved, views, SETTINGS)
        assert decision.result == "registered" and decision.cluster == "dev"
        assert decision.handoff is not None and decision.handoff[0] == "prod"
    attached = replace(moved, attached_to=("i-0123abcd",))
    waiting = decide(sweep_item(VOL, "dev"), attached, views, SETTINGS)
    assert (waiting.result, waiting.status, waiting.handoff, waiting.plan) == (
        "pending", "moving prod -> dev: waiting for detach from i-0123abcd", None, None)


def test_untagged_volumes_and_foreign_objects_are_left_out() -> None:
    foreign = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "x"},
               "spec": {"csi": {"volumeHandle": VOL}}}
    assert sweep([facts(VOL, tags={"Name": "x"})], [foreign]) == []


# --- what a sweep holds of a cluster -------------------------------------------------------------


def served(obj: Manifest) -> Manifest:
    """`obj` as kube-apiserver 1.37 (the local control plane) returns it once bound: server
    metadata, a finalizer, managedFields per writer, the binder's claimRef fields, a status."""
    copied = stored(obj)
    meta = copied["metadata"]
    meta |= {"creationTimestamp": "2026-11-27T23:09:35Z",
             "finalizers": ["kubernetes.io/pv-protection"]}  # fmt: skip
    meta["managedFields"] = [
        {"manager": manager, "operation": "Update", "apiVersion": "v1",
         "time": "2026-11-27T23:09:35Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {f"f:{key}": {} for key in obj["spec"]}}}
        for manager in ("controlplane", "ebs-pv-registrar")
    ]  # fmt: skip
    if "claimRef" in copied["spec"]:
        copied["spec"]["claimRef"] |= {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                       "uid": "u-2", "resourceVersion": "5"}  # fmt: skip
    return copied


def test_a_listed_object_is_held_slim_and_packed() -> None:
    _, plan = registered()
    pv = served(plan.pv)
    kept = slim(pv)
    assert set(kept["metadata"]) == {"name", "uid", "resourceVersion", "labels", "annotations"}
    assert "status" not in kept and kept["spec"] == pv["spec"]
    packed = pack(pv)
    assert unpack(packed) == kept
    assert len(packed) < 250  # against ~2 KiB on the wire, ~15 KiB as Python objects
    assert conflict_reason(plan.pv, unpack(packed)) is None


def test_the_view_plans_like_the_whole_objects_and_finds_the_orphans() -> None:
    volume, plan = registered()
    _, other = registered("vol-0000000000000000b", **{"k8s-pv": "old", "k8s-pvc": "shop/old"})
    view = ClusterView(served(o) for o in [*plan.items, *other.items])
    assert decide(sweep_item(VOL, "prod"), volume, {"prod": view}, SETTINGS).result == "unchanged"
    left = [(v, pv["metadata"]["name"]) for v, pv in orphans(view, {VOL}, "prod")]
    assert left == [("vol-0000000000000000b", "old")]
