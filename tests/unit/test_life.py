"""A volume's whole life (#22) through the one executor, over in-memory ports: the cluster-name
tag of the cluster-scoped CSI policy, growth, re-use after a deleted claim, a volume attached
elsewhere."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from registrar.core import tags as t
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.core.work import WorkItem, work_items
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.events import load_event
from tests.support.fakes import FakeClusters, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOL = "vol-0000000000000000a"
CLAIM_TAGS = {"k8s-pv": "data", "k8s-pvc": "shop/data"}


def world(
    tags: dict[str, str], settings: Settings = SETTINGS, **volume: Any
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=tags, **volume))
    kube = FakeKube(namespaces=("default", "shop"))
    return Registrar(settings, volumes, FakeClusters(prod=kube)), volumes, kube


def run(registrar: Registrar, item: WorkItem) -> Any:
    [done] = registrar.run([item])
    assert done.error is None, done.error
    return done.outcome


# --- #22.2 the cluster-name tag -----------------------------------------------------------------


def test_a_registered_volume_names_its_cluster_and_loses_the_name_when_released() -> None:
    registrar, volumes, _ = world(CLAIM_TAGS)
    assert registrar.register(VOL).result == "registered"
    assert volumes.tags(VOL)[t.CSI_CLUSTER_NAME_TAG] == "prod"

    volumes.volumes[VOL] = replace(
        volumes.volumes[VOL],
        tags={k: v for k, v in volumes.tags(VOL).items() if k != t.PV_TAG},
    )
    outcome = run(registrar, WorkItem(VOL, "untagged", "cloudtrail", removed=(t.PV_TAG,)))

    assert outcome.result == "released"
    assert volumes.removals == [(VOL, (t.CSI_CLUSTER_NAME_TAG,))]
    assert t.CSI_CLUSTER_NAME_TAG not in volumes.tags(VOL)
    assert volumes.status_of(VOL) == "unmanaged prod/data: k8s-pv tag removed"


def test_an_error_status_never_names_a_cluster() -> None:
    registrar, volumes, _ = world({"k8s-pv": "Not_A_Name"})
    assert registrar.register(VOL).result == "invalid"
    assert t.CSI_CLUSTER_NAME_TAG not in volumes.tags(VOL)


# --- #22.3 growth -------------------------------------------------------------------------------


def registered_and_bound(
    tags: dict[str, str], classes: tuple[dict[str, Any], ...] = ()
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    """A volume registered, its claim bound as the PV controller binds it (uids)."""
    registrar, volumes, kube = world(tags)
    for storage_class in classes:
        kube.add(storage_class)
    assert registrar.register(VOL).result == "registered"
    claim = kube.objects[("PersistentVolumeClaim", "shop", "data")]
    claim["metadata"]["uid"] = "uid-first-claim"  # never reused (the fake numbers its uids)
    pv = kube.objects[("PersistentVolume", None, "data")]
    pv["spec"]["claimRef"] |= {"uid": "uid-first-claim", "resourceVersion": "1"}
    return registrar, volumes, kube


def grown_to(volumes: FakeVolumes, size: int) -> None:
    volumes.volumes[VOL] = replace(volumes.volumes[VOL], size_gib=size)


def test_modify_volume_notification_becomes_a_modified_item() -> None:
    [item] = work_items(parse_event(ef.ebs_notification(VOL, event_name="modifyVolume",
                                                        result="optimizing")))  # fmt: skip
    assert (item.volume_id, item.reason, item.source) == (VOL, "modified", "ec2")
    failed = parse_event(ef.ebs_notification(VOL, event_name="modifyVolume", result="failed"))
    assert work_items(failed) == []


def test_grown_volume_in_a_class_without_expansion_grows_its_pv_only() -> None:
    registrar, volumes, kube = registered_and_bound(CLAIM_TAGS)
    grown_to(volumes, 20)

    outcome = run(registrar, WorkItem(VOL, "modified", "ec2"))

    assert outcome.result == "registered"
    pv = kube.objects[("PersistentVolume", None, "data")]
    claim = kube.objects[("PersistentVolumeClaim", "shop", "data")]
    assert pv["spec"]["capacity"]["storage"] == "20Gi"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert volumes.status_of(VOL) == "registered prod/data -> shop/data (grown 10Gi -> 20Gi)"
    assert 'claim request kept (class "" does not allow expansion)' in outcome.detail
    # The next sweep finds it in sync: the claim asking less than its PV is no drift.
    [done] = registrar.run([WorkItem(VOL, "sweep", "sweep", cluster="prod")])
    assert done.outcome is not None and done.outcome.result == "unchanged"
    assert volumes.status_of(VOL) == "registered prod/data -> shop/data (grown 10Gi -> 20Gi)"


def test_grown_volume_in_an_expandable_class_grows_the_claims_request() -> None:
    gp3 = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": "gp3"}, "allowVolumeExpansion": True}  # fmt: skip
    registrar, volumes, kube = registered_and_bound({**CLAIM_TAGS, "k8s-storage-class": "gp3"},
                                                    (gp3,))  # fmt: skip
    grown_to(volumes, 20)

    outcome = run(registrar, WorkItem(VOL, "modified", "ec2"))

    claim = kube.objects[("PersistentVolumeClaim", "shop", "data")]
    assert outcome.result == "registered"
    assert kube.objects[("PersistentVolume", None, "data")]["spec"]["capacity"]["storage"] == "20Gi"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "updated pvc/shop/data: request 20Gi" in outcome.detail


def test_a_volume_smaller_than_its_pv_is_reported_and_nothing_is_written() -> None:
    registrar, volumes, kube = registered_and_bound(CLAIM_TAGS)
    grown_to(volumes, 5)
    before = len(kube.writes())

    outcome = run(registrar, WorkItem(VOL, "modified", "ec2"))

    assert outcome.result == "drift"
    assert len(kube.writes()) == before
    assert kube.objects[("PersistentVolume", None, "data")]["spec"]["capacity"]["storage"] == "10Gi"
    assert volumes.status_of(VOL).startswith("error: size: volume is 5Gi, its PV says 10Gi")


# --- #22.4 re-use after a deleted claim ---------------------------------------------------------


def test_a_claim_deleted_and_asked_for_again_gets_the_released_pv_back() -> None:
    registrar, volumes, kube = registered_and_bound(CLAIM_TAGS)
    del kube.objects[("PersistentVolumeClaim", "shop", "data")]  # the user deletes the claim

    # The user re-tags to use the volume again: the event path sees no claims in its view.
    outcome = run(registrar, WorkItem(VOL, "tagged", "cloudtrail", tags={"k8s-pvc": "shop/data"}))

    pv = kube.objects[("PersistentVolume", None, "data")]
    assert ("PersistentVolumeClaim", "shop", "data") in kube.objects  # created again
    assert "uid" not in pv["spec"]["claimRef"] and "resourceVersion" not in pv["spec"]["claimRef"]
    assert pv["spec"]["claimRef"]["name"] == "data"
    # Not bound yet: the status never says registered for it.
    assert outcome.result == "pending"
    assert volumes.status_of(VOL).startswith("pending: claim shop/data is not bound yet")


def test_a_sweep_sees_the_stale_uid_itself_and_a_bound_claim_is_left_alone() -> None:
    registrar, _, kube = registered_and_bound(CLAIM_TAGS)
    sweep = WorkItem(VOL, "sweep", "sweep", cluster="prod")
    assert run(registrar, sweep).result == "unchanged"
    assert [w for w in kube.writes() if w[0] == "patch"] == []

    claim = kube.objects[("PersistentVolumeClaim", "shop", "data")]
    claim["metadata"]["uid"] = "uid-recreated"  # deleted and created again: a new uid
    outcome = run(registrar, sweep)

    assert outcome.result == "pending"
    assert "uid" not in kube.objects[("PersistentVolume", None, "data")]["spec"]["claimRef"]


def test_a_claim_by_that_name_that_is_not_ours_never_gets_the_pv() -> None:
    registrar, _, kube = registered_and_bound(CLAIM_TAGS)
    del kube.objects[("PersistentVolumeClaim", "shop", "data")]
    kube.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
              "metadata": {"name": "data", "namespace": "shop"},
              "spec": {"resources": {"requests": {"storage": "1Gi"}}}})  # fmt: skip

    outcome = run(registrar, WorkItem(VOL, "tagged", "cloudtrail", tags={"k8s-pvc": "shop/data"}))

    assert outcome.result == "conflict"
    assert "uid" in kube.objects[("PersistentVolume", None, "data")]["spec"]["claimRef"]


# --- #22.5 attached elsewhere -------------------------------------------------------------------


def node_of(instance: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": instance},
            "spec": {"providerID": f"aws:///us-east-1a/{instance}"}}  # fmt: skip


def test_a_volume_attached_to_no_node_of_the_cluster_waits_then_registers_once_detached() -> None:
    registrar, volumes, kube = world(CLAIM_TAGS, attached_to=("i-0fedcba9",))
    kube.add(node_of("i-0123abcd"))

    outcome = run(registrar, WorkItem(VOL, "created", "cloudtrail", tags=CLAIM_TAGS))

    assert outcome.result == "pending"
    assert kube.names("PersistentVolume") == [] and kube.names("PersistentVolumeClaim") == []
    assert volumes.status_of(VOL) == (
        "waiting: attached to i-0fedcba9, not a node of prod; registers once detached"
    )
    assert t.CSI_CLUSTER_NAME_TAG not in volumes.tags(VOL)

    volumes.volumes[VOL] = replace(volumes.volumes[VOL], attached_to=())  # detached
    outcome = run(registrar, WorkItem(VOL, "sweep", "sweep", cluster="prod"))

    assert outcome.result == "registered"
    assert kube.names("PersistentVolume") == ["data"]
    assert volumes.status_of(VOL) == "registered prod/data -> shop/data"


def test_a_volume_attached_to_a_node_of_the_cluster_registers() -> None:
    registrar, _, kube = world(CLAIM_TAGS, attached_to=("i-0123abcd",))
    kube.add(node_of("i-0123abcd"))

    outcome = run(registrar, WorkItem(VOL, "created", "cloudtrail", tags=CLAIM_TAGS))

    assert outcome.result == "registered"
    assert ("list", "Node", None) in kube.requests


def test_nodes_are_listed_only_for_an_attached_volume() -> None:
    registrar, _, kube = world(CLAIM_TAGS)
    assert registrar.register(VOL).result == "registered"
    assert not [r for r in kube.requests if r[1] == "Node"]


# --- #22.1 handoff blue -> green ----------------------------------------------------------------

BLUE_GREEN = Settings(default_cluster="blue", allowed_clusters=("blue", "green"))


def two_clusters(**volume: Any) -> tuple[Registrar, FakeVolumes, FakeKube, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=dict(CLAIM_TAGS), **volume))
    blue, green = FakeKube(namespaces=("shop",)), FakeKube(namespaces=("shop",))
    for instance in volume.get("attached_to", ()):  # a pod on a node of blue uses it
        blue.add(node_of(instance))
    registrar = Registrar(BLUE_GREEN, volumes, FakeClusters(blue=blue, green=green))
    assert registrar.register(VOL).result == "registered"
    assert blue.names("PersistentVolume") == ["data"]
    return registrar, volumes, blue, green


def retag(volumes: FakeVolumes, **changes: Any) -> WorkItem:
    volumes.volumes[VOL] = replace(volumes.volumes[VOL], **changes)
    return WorkItem(VOL, "tagged", "cloudtrail", tags={"k8s-cluster": "green"})


def test_a_volume_moves_to_green_once_nothing_in_blue_uses_it() -> None:
    registrar, volumes, blue, green = two_clusters(attached_to=("i-0123abcd",))
    assert volumes.tags(VOL)[t.CSI_CLUSTER_NAME_TAG] == "blue"
    item = retag(volumes, tags={**volumes.tags(VOL), "k8s-cluster": "green"})

    waiting = run(registrar, item)

    assert waiting.result == "pending"
    assert volumes.status_of(VOL) == "moving blue -> green: waiting for detach from i-0123abcd"
    assert blue.names("PersistentVolume") == ["data"] and green.names("PersistentVolume") == []
    assert volumes.tags(VOL)[t.CSI_CLUSTER_NAME_TAG] == "blue"  # still blue's

    retag(volumes, attached_to=())  # the pod in blue stopped: detached
    moved = run(registrar, WorkItem(VOL, "sweep", "sweep", cluster="blue"))

    assert moved.result == "registered"
    assert blue.names("PersistentVolume") == [] and blue.names("PersistentVolumeClaim") == []
    assert green.names("PersistentVolume") == ["data"]
    assert green.names("PersistentVolumeClaim") == ["data"]
    assert volumes.status_of(VOL) == "registered green/data -> shop/data"
    assert volumes.tags(VOL)[t.CSI_CLUSTER_NAME_TAG] == "green"
    # Blue's PV was made Retain before its claim went: the volume's data is never at stake.
    patches = [r for r in blue.requests if r[0] == "patch"]
    deletes = [r[1] for r in blue.requests if r[0] == "delete"]
    assert patches == [("patch", "PersistentVolume", None)]
    assert deletes == ["PersistentVolumeClaim", "PersistentVolume"]


def test_green_gets_nothing_while_blues_pv_is_still_there() -> None:
    registrar, volumes, blue, green = two_clusters()
    item = retag(volumes, tags={**volumes.tags(VOL), "k8s-cluster": "green"})
    # The delete is accepted but the PV stays (its protection finalizer waits for a pod).
    original_delete = blue.delete

    def slow_delete(kind: Any, name: str, namespace: str | None = None) -> None:
        if kind != "PersistentVolume":
            original_delete(kind, name, namespace)

    blue.delete = slow_delete  # type: ignore[method-assign]

    outcome = run(registrar, item)

    assert outcome.result == "pending"
    assert green.names("PersistentVolume") == []
    assert volumes.status_of(VOL) == (
        "moving blue -> green: released from blue; waiting for its PV data to be deleted"
    )


def test_a_detach_lets_a_waiting_volume_go_on_at_once() -> None:
    event = load_event("cloudtrail-detach-volume.json")
    [item] = work_items(parse_event(event))
    assert (item.volume_id, item.reason) == ("vol-0a1b2c3d4e5f60718", "detached")

    registrar, volumes, kube = world(CLAIM_TAGS, attached_to=("i-0fedcba9",))
    assert run(registrar, WorkItem(VOL, "created", "cloudtrail", tags=CLAIM_TAGS)).result == (
        "pending"
    )
    volumes.volumes[VOL] = replace(volumes.volumes[VOL], attached_to=())
    assert run(registrar, WorkItem(VOL, "detached", "cloudtrail")).result == "registered"
    assert kube.names("PersistentVolume") == ["data"]
