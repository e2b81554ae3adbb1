"""Reconcile, deletion and untagging against moto (EC2 over HTTP) and kmock (Kubernetes API)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from devcluster.standins.harshness import settle
from devcluster.standins.kmockthread import KmockThread, OneCluster
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import NotFoundError
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.counting import kube_requests

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
UNMANAGED = "ebs-pv-registrar/unmanaged"


@pytest.fixture
def region(moto_endpoint: str, ec2: Any) -> str:
    """A clean EC2 region per test, so sweeps see only this test's volumes."""
    for volume in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=volume["VolumeId"])
    return "us-east-1"


def make(settings: Settings, kube: KubeGateway) -> tuple[Registrar, Registrar]:
    volumes, clusters = Ec2Volumes("us-east-1"), OneCluster(kube)
    return Registrar(settings, volumes, clusters), Registrar(settings, volumes, clusters)


def new_volume(ec2: Any, **tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    created = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3", TagSpecifications=spec
    )
    return str(created["VolumeId"])


def exists(kube: KubeGateway, kind: str, name: str, namespace: str | None = None) -> bool:
    try:
        kube.get(kind, name, namespace)  # type: ignore[arg-type]
    except NotFoundError:
        return False
    return True


def test_reconcile_repairs_every_gap(region: str, ec2: Any, kube: KubeGateway) -> None:
    registrar, reconciler = make(SETTINGS, kube)
    lost_pv = new_volume(ec2, **{"k8s-pv": "lost-pv"})
    registrar.register(lost_pv)
    kube.delete("PersistentVolume", "lost-pv")
    missed = new_volume(ec2, **{"k8s-pv": "missed-event", "k8s-pvc": "apps/missed"})
    retagged = new_volume(ec2, **{"k8s-pv": "retagged"})
    registrar.register(retagged)
    ec2.create_tags(Resources=[retagged], Tags=[{"Key": "k8s-pvc", "Value": "apps/elsewhere"}])
    deleted = new_volume(ec2, **{"k8s-pv": "deleted-volume"})
    registrar.register(deleted)
    ec2.delete_volume(VolumeId=deleted)
    settle()  # until EC2 lists them

    rows = {row.volume_id: row for row in reconciler.sweep("prod")}

    assert rows[lost_pv].action == "registered" and exists(kube, "PersistentVolume", "lost-pv")
    assert rows[missed].action == "registered"
    assert exists(kube, "PersistentVolumeClaim", "missed", "apps")
    assert Ec2Volumes(region).describe_volume(missed).tags["k8s-pv-status"] == (
        "registered prod/missed-event -> apps/missed"
    )
    assert rows[retagged].action == "drift" and "spec.claimRef" in rows[retagged].detail
    assert kube.get("PersistentVolume", "retagged")["spec"]["claimRef"]["namespace"] == "default"
    assert not exists(kube, "PersistentVolumeClaim", "elsewhere", "apps")
    assert rows[deleted].action == "released" and rows[deleted].detail.startswith("volume deleted")
    assert not exists(kube, "PersistentVolume", "deleted-volume")
    assert not exists(kube, "PersistentVolumeClaim", "deleted-volume", "default")


def test_in_sync_sweep_lists_and_writes_nothing(
    region: str, ec2: Any, kube: KubeGateway, kmock_server: KmockThread
) -> None:
    registrar, reconciler = make(SETTINGS, kube)
    for index in range(3):
        registrar.register(new_volume(ec2, **{"k8s-pv": f"steady-{index}"}))
    settle()  # until EC2 lists them
    before = kube_requests(kmock_server)
    rows = reconciler.sweep("prod")
    assert {row.action for row in rows} == {"unchanged"}
    assert kube_requests(kmock_server) - before == {  # one page each, nothing written
        "GET /api/v1/persistentvolumes": 1,
        "GET /api/v1/persistentvolumeclaims": 1,
    }


def test_dry_run_changes_nothing(region: str, ec2: Any, kube: KubeGateway) -> None:
    _, reconciler = make(SETTINGS, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "planned-only"})
    settle()  # until EC2 lists it
    rows = reconciler.sweep("prod", dry_run=True)
    assert [(r.volume_id, r.action) for r in rows] == [(volume_id, "registered")]
    assert not exists(kube, "PersistentVolume", "planned-only")
    assert "k8s-pv-status" not in Ec2Volumes(region).describe_volume(volume_id).tags


@pytest.mark.parametrize("source", ["cloudtrail", "notification"])
def test_deleted_volume_takes_its_claim_then_its_pv(
    region: str, ec2: Any, kube: KubeGateway, source: str
) -> None:
    registrar, _ = make(SETTINGS, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "gone", "k8s-pvc": "apps/gone"})
    registrar.register(volume_id)
    ec2.delete_volume(VolumeId=volume_id)
    event = (
        ef.delete_volume(volume_id)
        if source == "cloudtrail"
        else ef.ebs_notification(volume_id, event_name="deleteVolume", result="deleted")
    )
    outcome = registrar.handle(parse_event(event))[0]
    assert outcome.result == "released"
    assert [o.line() for o in outcome.objects] == [
        "deleted pvc/apps/gone: volume deleted",
        "deleted pv/gone: volume deleted",
    ]
    assert not exists(kube, "PersistentVolume", "gone")


def test_keep_setting_marks_instead_of_deleting(region: str, ec2: Any, kube: KubeGateway) -> None:
    settings = dataclasses.replace(SETTINGS, delete_on_volume_delete=False)
    registrar, _ = make(settings, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "kept"})
    registrar.register(volume_id)
    ec2.delete_volume(VolumeId=volume_id)
    outcome = registrar.handle(parse_event(ef.delete_volume(volume_id)))[0]
    assert {o.action for o in outcome.objects} == {"unmanaged"}
    annotations = kube.get("PersistentVolume", "kept")["metadata"]["annotations"]
    assert annotations[UNMANAGED] == "volume deleted"


def test_untagging_keeps_data_and_says_so(region: str, ec2: Any, kube: KubeGateway) -> None:
    registrar, _ = make(SETTINGS, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "untagged"})
    registrar.register(volume_id)
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv"}])
    event = parse_event(ef.delete_tags([volume_id], ["k8s-pv"]))
    outcome = registrar.handle(event)[0]
    assert [o.line() for o in outcome.objects] == [
        "unmanaged pvc/default/untagged: k8s-pv tag removed",
        "unmanaged pv/untagged: k8s-pv tag removed",
    ]
    assert Ec2Volumes(region).describe_volume(volume_id).tags["k8s-pv-status"] == (
        "unmanaged prod/untagged: k8s-pv tag removed"
    )
    again = registrar.handle(event)[0]
    assert (again.result, again.objects) == ("ignored", ())  # left as marked
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv", "Value": "untagged"}])
    back = registrar.register(volume_id)
    assert back.result == "registered"
    assert UNMANAGED not in kube.get("PersistentVolume", "untagged")["metadata"]["annotations"]


def test_untag_event_arriving_after_a_retag_releases_nothing(
    region: str, ec2: Any, kube: KubeGateway
) -> None:
    registrar, _ = make(SETTINGS, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "flapping"})
    registrar.register(volume_id)
    stale = ef.tag_change(volume_id, {"Name": "x"}, ["k8s-pv"])
    outcome = registrar.handle(parse_event(stale))[0]
    assert outcome.result == "unchanged"
    assert UNMANAGED not in kube.get("PersistentVolume", "flapping")["metadata"]["annotations"]


@pytest.mark.parametrize(("phase", "deleted"), [("Pending", True), ("Bound", False)])
def test_unregister_setting_deletes_only_unbound_objects(
    region: str, ec2: Any, kube: KubeGateway, phase: str, deleted: bool
) -> None:
    settings = dataclasses.replace(SETTINGS, unregister_on_untag=True)
    registrar, _ = make(settings, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "maybe"})
    registrar.register(volume_id)
    kube.patch("PersistentVolumeClaim", "maybe", "default", {"status": {"phase": phase}})
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv"}])
    registrar.handle(parse_event(ef.delete_tags([volume_id], ["k8s-pv"])))
    assert exists(kube, "PersistentVolume", "maybe") is not deleted


def test_objects_without_our_label_are_never_deleted(
    region: str, ec2: Any, kube: KubeGateway
) -> None:
    registrar, _ = make(SETTINGS, kube)
    volume_id = new_volume(ec2, **{"k8s-pv": "x"})
    handmade = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "handmade"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id}},
    }
    kube.create(handmade)
    ec2.delete_volume(VolumeId=volume_id)
    outcome = registrar.handle(parse_event(ef.delete_volume(volume_id)))[0]
    assert outcome.result == "ignored"
    assert exists(kube, "PersistentVolume", "handmade")


def test_scheduled_event_reconciles_every_cluster(
    region: str, ec2: Any, kube: KubeGateway
) -> None:
    registrar, _ = make(SETTINGS, kube)
    new_volume(ec2, **{"k8s-pv": "scheduled"})
    settle()  # until EC2 lists it
    outcomes = registrar.handle(parse_event(ef.scheduled()))
    assert [(o.result, o.detail) for o in outcomes] == [("reconciled", "prod: 1 registered")]
    assert exists(kube, "PersistentVolume", "scheduled")
