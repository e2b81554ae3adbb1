"""The reconciler and the lifecycle, branch by branch, on in-memory fakes of their ports."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from registrar.core import tags as t
from registrar.core.models import Manifest
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from registrar.engine.lifecycle import claim_of, unregister_if_unbound
from registrar.engine.service import Registrar
from tests.support.fakes import FakeClusters, FakeIdentities, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOL, GONE = "vol-0000000000000000a", "vol-0000000000000000f"
ADMIN = "arn:aws:iam::111122223333:role/Admin"


def objects_for(volume_id: str, name: str, phase: str = "Bound") -> list[Manifest]:
    plan = plan_volume(facts(volume_id, tags={"k8s-pv": name}), SETTINGS)
    assert isinstance(plan, Plan)
    return [{**o, "status": {"phase": phase}} for o in plan.items]


def sweep(
    volumes: FakeVolumes,
    kube: FakeKube,
    settings: Settings = SETTINGS,
    identities: FakeIdentities | None = None,
    *,
    dry_run: bool = False,
) -> dict[str, str]:
    reconciler = Registrar(settings, volumes, FakeClusters(prod=kube), identities)
    return {row.volume_id: row.action for row in reconciler.sweep("prod", dry_run=dry_run)}


def test_a_missed_event_is_created_and_the_status_written() -> None:
    volumes, kube = FakeVolumes(facts(VOL)), FakeKube()
    assert sweep(volumes, kube) == {VOL: "registered"}
    assert kube.names("PersistentVolume") == ["data"]
    assert volumes.status_of(VOL) == "registered prod/data -> default/data"


def test_a_dry_run_writes_nothing() -> None:
    volumes, kube = FakeVolumes(facts(VOL)), FakeKube([*objects_for(GONE, "old")])
    assert sweep(volumes, kube, dry_run=True) == {VOL: "registered", GONE: "released"}
    assert kube.writes() == [] and volumes.statuses == []


def test_an_in_sync_fleet_costs_one_listing_and_no_write() -> None:
    volume = facts(VOL)
    volumes, kube = FakeVolumes(volume), FakeKube(objects_for(VOL, "data"))
    registered = {t.STATUS_TAG: "registered prod/data -> default/data", t.CSI_CLUSTER_TAG: "true",
                  t.CSI_CLUSTER_NAME_TAG: "prod"}
    volumes.retag(VOL, **registered)
    assert sweep(volumes, kube) == {VOL: "unchanged"}
    assert [verb for verb, *_ in kube.requests] == ["list", "list"]
    assert volumes.statuses == []


@pytest.mark.parametrize(("delete", "left"), [(True, []), (False, ["old"])])
def test_the_orphan_of_a_deleted_volume_follows_the_setting(delete: bool, left: list[str]) -> None:
    settings = Settings(default_cluster="prod", delete_on_volume_delete=delete)
    volumes, kube = FakeVolumes(), FakeKube(objects_for(GONE, "old"))
    assert sweep(volumes, kube, settings) == {GONE: "released"}
    assert kube.names("PersistentVolume") == left


def test_the_orphan_of_an_untagged_volume_is_marked_and_the_volume_told() -> None:
    volumes, kube = FakeVolumes(facts(GONE, tags={})), FakeKube(objects_for(GONE, "old"))
    assert sweep(volumes, kube) == {GONE: "released"}
    pv = kube.objects[("PersistentVolume", None, "old")]
    assert pv["metadata"]["annotations"][t.UNMANAGED_ANNOTATION] == "k8s-pv tag removed"
    assert volumes.statuses == [(GONE, "unmanaged prod/old: k8s-pv tag removed")]


ALLOW = Settings(default_cluster="prod", allowed_principals=(ADMIN,))
TRAIL = replace(ALLOW, unverified_events="cloudtrail")


def test_with_an_allow_list_a_new_volume_needs_a_verified_tagger() -> None:
    volumes, kube = FakeVolumes(facts(VOL)), FakeKube()
    assert sweep(volumes, kube, ALLOW) == {VOL: "ignored"}  # `refuse`: the event decides
    assert kube.writes() == []
    stranger = FakeIdentities(k8s_pv="arn:aws:iam::1:user/x")
    assert sweep(volumes, kube, TRAIL, stranger) == {VOL: "invalid"}
    assert volumes.status_of(VOL).startswith("error: principal:")
    volumes = FakeVolumes(facts(VOL))
    assert sweep(volumes, kube, TRAIL, FakeIdentities(k8s_pv=ADMIN)) == {VOL: "registered"}
    assert kube.names("PersistentVolume") == ["data"]


def test_a_conflict_found_while_creating_is_reported() -> None:
    foreign = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "data"}}
    volumes, kube = FakeVolumes(facts(VOL)), FakeKube([foreign])
    stored = copy.deepcopy(kube.objects)
    # Not listed (no label of ours): the create meets it, and the row says so.
    assert sweep(volumes, kube) == {VOL: "conflict"}
    assert kube.objects == stored


@pytest.mark.parametrize(("phase", "actions"), [("Pending", ["deleted", "deleted"]),
                                                ("Bound", ["unmanaged", "unmanaged"])])  # fmt: skip
def test_unregistering_deletes_only_what_no_pod_can_use(phase: str, actions: list[str]) -> None:
    pv, pvc = objects_for(VOL, "data", phase)
    kube = FakeKube([pv, pvc])
    done = unregister_if_unbound(kube, pv, "k8s-pv tag removed")
    assert [o.action for o in done] == actions


def test_a_claim_that_is_not_ours_is_never_returned_or_touched() -> None:
    pv, pvc = objects_for(VOL, "data")
    del pvc["metadata"]["labels"]
    kube = FakeKube([pv, pvc])
    assert claim_of(kube, pv) is None
    done = unregister_if_unbound(kube, pv, "k8s-pv tag removed")
    assert [(o.kind, o.action) for o in done] == [("PersistentVolume", "deleted")]
    assert kube.names("PersistentVolumeClaim") == ["data"]
