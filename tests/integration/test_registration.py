"""The registration path end to end: events -> moto (EC2 over HTTP) -> kmock (Kubernetes API)."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.standins.kmockthread import OneCluster
from registrar.adapters.aws import Ec2Volumes
from registrar.core.errors import NotFoundError, TransientError
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.ports import KubePort
from registrar.engine.service import Registrar
from registrar.handler import respond
from tests.support import eventfactory as ef
from tests.support.helpers import assert_valid_manifest

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))


class Unreachable:
    def kube_for(self, cluster: str) -> KubePort:
        raise TransientError("API server unreachable")


@pytest.fixture
def registrar(moto_endpoint: str, kube: KubePort) -> Registrar:
    return Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(kube))


def new_volume(ec2: Any, tags: dict[str, str], **kwargs: Any) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    params = {"AvailabilityZone": "us-east-1a", "Size": 10, "VolumeType": "gp3", **kwargs}
    return str(ec2.create_volume(TagSpecifications=spec, **params)["VolumeId"])


def volume_tags(volume_id: str) -> dict[str, str]:
    return dict(Ec2Volumes("us-east-1").describe_volume(volume_id).tags)


def test_create_volume_registers_pv_and_pvc(registrar: Registrar, ec2: Any, kube: KubePort) -> None:
    tags = {"k8s-pv": "orders-db", "k8s-pvc": "shop/orders-data", "k8s-fstype": "xfs"}
    volume_id = new_volume(ec2, tags)
    outcomes = registrar.handle(parse_event(ef.create_volume(volume_id, tags)))
    assert [o.result for o in outcomes] == ["registered"]
    assert [o.line() for o in outcomes[0].objects] == [
        "created pv/orders-db",
        "created pvc/shop/orders-data",
    ]
    pv = kube.get("PersistentVolume", "orders-db")
    assert pv["spec"]["csi"]["volumeHandle"] == volume_id
    assert pv["spec"]["csi"]["fsType"] == "xfs"
    pvc = kube.get("PersistentVolumeClaim", "orders-data", "shop")
    assert pvc["spec"]["volumeName"] == "orders-db"
    written = volume_tags(volume_id)
    assert written["k8s-pv-status"] == "registered prod/orders-db -> shop/orders-data"
    assert written["ebs.csi.aws.com/cluster"] == "true"


def test_the_same_event_twice_creates_once(registrar: Registrar, ec2: Any) -> None:
    tags = {"k8s-pv": "twice"}
    volume_id = new_volume(ec2, tags)
    event = parse_event(ef.create_volume(volume_id, tags))
    assert registrar.handle(event)[0].result == "registered"
    again = registrar.handle(event)[0]
    assert again.result == "unchanged"
    assert [o.action for o in again.objects] == ["unchanged", "unchanged"]


def test_conflicting_pv_is_reported_and_left_alone(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    first = new_volume(ec2, {"k8s-pv": "shared-name"})
    registrar.register(first)
    second = new_volume(ec2, {"k8s-pv": "shared-name", "k8s-pvc": "other"})
    outcome = registrar.register(second)
    assert outcome.result == "conflict"
    assert outcome.objects == ()  # decided from the listing: nothing is even tried
    assert f"already holds volume {first}" in outcome.detail
    assert kube.get("PersistentVolume", "shared-name")["spec"]["csi"]["volumeHandle"] == first
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolumeClaim", "other", "default")
    assert volume_tags(second)["k8s-pv-status"].startswith("error: conflict: pv/shared-name")


def test_objects_we_did_not_create_are_never_touched(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "handmade", "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "",
        },
    }
    kube.create(foreign)
    volume_id = new_volume(ec2, {"k8s-pv": "mine", "k8s-pvc": "handmade"})
    outcome = registrar.register(volume_id)
    assert outcome.result == "conflict"
    assert "not managed by ebs-pv-registrar" in outcome.detail
    kept = kube.get("PersistentVolumeClaim", "handmade", "default")
    assert "labels" not in kept["metadata"] or not kept["metadata"]["labels"]


def test_a_rename_is_refused_on_the_volume_and_makes_no_second_pv(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    volume_id = new_volume(ec2, {"k8s-pv": "first-name"})
    assert registrar.register(volume_id).result == "registered"
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv", "Value": "second-name"}])
    assert registrar.register(volume_id).result == "drift"  # ours, under its old name
    assert volume_tags(volume_id)["k8s-pv-status"] == (
        "error: k8s-pv: already registered as PV first-name; "
        "untag it, or delete the old unbound PV"
    )
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolume", "second-name")


def test_a_volume_a_hand_written_pv_uses_is_refused(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    volume_id = new_volume(ec2, {"k8s-pv": "mine"})
    csi = {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id}
    spec = {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "csi": csi}
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "by-hand"}}
    kube.create({**pv, "spec": spec})
    assert registrar.register(volume_id).result == "conflict"
    assert volume_tags(volume_id)["k8s-pv-status"] == "error: k8s-pv: volume is used by PV by-hand"
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolume", "mine")
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolumeClaim", "mine", "default")


def test_denied_namespace_is_invalid_and_reported(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    volume_id = new_volume(ec2, {"k8s-pv": "sneaky", "k8s-pvc": "kube-system/sneaky"})
    outcome = registrar.register(volume_id)
    assert outcome.result == "invalid"
    assert volume_tags(volume_id)["k8s-pv-status"] == (
        "error: k8s-pvc: namespace 'kube-system' is not allowed"
    )
    assert "ebs.csi.aws.com/cluster" not in volume_tags(volume_id)
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolume", "sneaky")


def test_create_tags_on_several_volumes_settles_each(registrar: Registrar, ec2: Any) -> None:
    good = new_volume(ec2, {"k8s-pv": "batch-good"})
    bad = new_volume(ec2, {"k8s-pv": "Batch_Bad"})
    event = ef.create_tags([good, "i-0dc224bad2cb08740", bad], {"k8s-pv": "x"})
    results = {o.volume_id: o.result for o in registrar.handle(parse_event(event))}
    assert results == {good: "registered", bad: "invalid"}
    assert volume_tags(bad)["k8s-pv-status"].startswith("error: k8s-pv: must be a DNS-1123")


@pytest.mark.parametrize("kind", ["notification", "tag-change", "incomplete-create"])
def test_events_without_facts_read_the_volume(registrar: Registrar, ec2: Any, kind: str) -> None:
    tags = {"k8s-pv": f"looked-up-{kind}"}
    volume_id = new_volume(ec2, tags)
    event = {
        "notification": ef.ebs_notification(volume_id),
        "tag-change": ef.tag_change(volume_id, tags, ["k8s-pv"]),
        "incomplete-create": ef.create_volume(volume_id, tags, complete=False),
    }[kind]
    assert [o.result for o in registrar.handle(parse_event(event))] == ["registered"]


def test_our_own_status_tags_do_not_loop(registrar: Registrar, ec2: Any) -> None:
    volume_id = new_volume(ec2, {"k8s-pv": "echo"})
    status_only = ef.create_tags([volume_id], {"k8s-pv-status": "registered prod/echo"})
    assert [o.result for o in registrar.handle(parse_event(status_only))] == ["ignored"]
    snapshot = ef.tag_change(volume_id, {"k8s-pv": "echo"}, ["k8s-pv-status"])
    assert [o.result for o in registrar.handle(parse_event(snapshot))] == ["ignored"]


def test_no_cluster_anywhere_is_invalid(moto_endpoint: str, ec2: Any, kube: KubePort) -> None:
    registrar = Registrar(Settings(), Ec2Volumes("us-east-1"), OneCluster(kube))
    volume_id = new_volume(ec2, {"k8s-pv": "homeless"})
    assert registrar.register(volume_id).result == "invalid"
    assert "k8s-cluster" in volume_tags(volume_id)["k8s-pv-status"]


def test_created_objects_pass_strict_schema_validation(
    registrar: Registrar, ec2: Any, kube: KubePort
) -> None:
    volume_id = new_volume(ec2, {"k8s-pv": "schema-check", "k8s-volume-mode": "Block"})
    registrar.register(volume_id)
    for kind, ns in (("PersistentVolume", None), ("PersistentVolumeClaim", "default")):
        stored = kube.get(kind, "schema-check", ns)  # type: ignore[arg-type]
        assert_valid_manifest({k: v for k, v in stored.items() if k != "status"})


def test_handler_answers_malformed_events_without_raising(registrar: Registrar) -> None:
    answer = respond({"detail-type": "EBS Volume Notification"}, registrar)
    assert answer["outcomes"][0]["result"] == "invalid"
    assert "source" in answer["outcomes"][0]["detail"]


def test_handler_raises_transient_errors_for_a_retry(moto_endpoint: str, ec2: Any) -> None:
    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), Unreachable())
    volume_id = new_volume(ec2, {"k8s-pv": "later"})
    with pytest.raises(TransientError):
        respond(ef.create_volume(volume_id, {"k8s-pv": "later"}), registrar)


def test_one_transient_failure_does_not_block_the_other_volumes(
    moto_endpoint: str, ec2: Any, kube: KubePort
) -> None:
    class FlakyFirst(OneCluster):
        calls = 0

        def kube_for(self, cluster: str) -> KubePort:
            FlakyFirst.calls += 1
            if FlakyFirst.calls == 1:
                raise TransientError("first call fails")
            return self.kube

    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), FlakyFirst(kube))
    first = new_volume(ec2, {"k8s-pv": "flaky-a"})
    second = new_volume(ec2, {"k8s-pv": "flaky-b"})
    with pytest.raises(TransientError):
        registrar.handle(parse_event(ef.create_tags([first, second], {"k8s-pv": ""})))
    assert kube.get("PersistentVolume", "flaky-b")["spec"]["csi"]["volumeHandle"] == second
