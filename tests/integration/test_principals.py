"""REGISTRAR_ALLOWED_PRINCIPALS: only allowed callers' tagging registers, checked before writes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.harshness import settle
from devcluster.standins.kmockthread import OneCluster
from registrar.adapters.aws import CloudTrailIdentities, Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import NotFoundError
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef

ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer
SETTINGS = Settings(
    default_cluster="prod",
    allowed_clusters=("prod",),
    allowed_principals=("arn:aws:iam::111122223333:role/PlatformAdmin",),
)
OTHER = dict(SETTINGS.__dict__, allowed_principals=("arn:aws:iam::*:role/StorageTeam",))


def new_volume(ec2: Any, **tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    created = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2, TagSpecifications=spec)
    return str(created["VolumeId"])


def registrar(kube: KubeGateway, settings: Settings = SETTINGS, trail: bool = False) -> Registrar:
    identities = CloudTrailIdentities("us-east-1") if trail else None
    return Registrar(settings, Ec2Volumes("us-east-1"), OneCluster(kube), identities)


def status(volume_id: str) -> str | None:
    return Ec2Volumes("us-east-1").describe_volume(volume_id).tags.get("k8s-pv-status")


def test_an_allowed_role_registers(moto_endpoint: str, ec2: Any, kube: KubeGateway) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "allowed"})
    event = parse_event(ef.create_volume(volume_id, {"k8s-pv": "allowed"}))
    assert [o.result for o in registrar(kube).handle(event)] == ["registered"]


def test_anyone_else_is_refused_before_any_write(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "stolen", "k8s-pvc": "finance/ledger"})
    event = parse_event(ef.create_tags([volume_id], {"k8s-pv": "stolen"}))
    refusing = registrar(kube, Settings(**OTHER))
    outcome = refusing.handle(event)[0]
    assert outcome.result == "invalid"
    assert status(volume_id) == (
        "error: principal: 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jdoe' "
        "may not register"
    )
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolume", "stolen")


def test_a_refused_caller_cannot_unregister(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "kept-safe"})
    registrar(kube).register(volume_id)
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv"}])
    event = parse_event(ef.delete_tags([volume_id], ["k8s-pv"]))
    outcome = registrar(kube, Settings(**OTHER)).handle(event)[0]
    assert (outcome.result, outcome.objects) == ("ignored", ())
    annotations = kube.get("PersistentVolume", "kept-safe")["metadata"]["annotations"]
    assert "ebs-pv-registrar/unmanaged" not in annotations


def test_events_without_a_caller_wait_for_the_cloudtrail_event(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "no-caller"})
    outcome = registrar(kube).handle(parse_event(ef.ebs_notification(volume_id)))[0]
    assert outcome.result == "ignored" and "names no caller" in outcome.detail
    assert status(volume_id) is None


@pytest.mark.parametrize(("tagger", "result"), [(ADMIN, "registered"), (None, "invalid")])
def test_cloudtrail_tells_who_tagged(
    trail: CloudTrailStandIn, ec2: Any, kube: KubeGateway, tagger: str | None, result: str
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": f"looked-up-{result}"})
    record = ef.create_tags([volume_id], {"k8s-pv": f"looked-up-{result}"})["detail"]
    if tagger is None:
        record["userIdentity"] = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/eve"}
    trail.record(record, lag=0)  # delivered already
    settings = dataclasses.replace(SETTINGS, unverified_events="cloudtrail")
    event = parse_event(ef.tag_change(volume_id, {"k8s-pv": "x"}, ["k8s-pv"]))
    assert [o.result for o in registrar(kube, settings, trail=True).handle(event)] == [result]


def test_cloudtrail_pages_until_every_key_has_its_writer(
    trail: CloudTrailStandIn, ec2: Any, kube: KubeGateway
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "paged", "k8s-pvc": "finance/paged"})
    claim = ef.create_tags([volume_id], {"k8s-pvc": "finance/paged"})["detail"]
    claim["userIdentity"] = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/eve"}
    noise = ef.create_tags([volume_id], {"Name": "x"})["detail"]
    pv = ef.create_tags([volume_id], {"k8s-pv": "paged"})["detail"]
    for record in [pv, claim, *[noise] * 120]:  # oldest first, delivered already
        trail.record(record, lag=0)
    writers = CloudTrailIdentities("us-east-1").who_set(volume_id, ["k8s-pv", "k8s-pvc"])
    assert writers == {
        "k8s-pv": ("arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jdoe", ADMIN),
        "k8s-pvc": ("arn:aws:iam::111122223333:user/eve",),
    }
    assert trail.calls == 3  # 50 + 50 + 22 events: it stops once both keys are found
    settings = dataclasses.replace(SETTINGS, unverified_events="cloudtrail")
    tags = {"k8s-pv": "paged", "k8s-pvc": "finance/paged"}
    event = parse_event(ef.tag_change(volume_id, tags, ["k8s-pvc"]))
    assert [o.result for o in registrar(kube, settings, trail=True).handle(event)] == ["invalid"]
    assert status(volume_id) == (
        "error: principal: 'arn:aws:iam::111122223333:user/eve' may not set k8s-pvc"
    )


def test_a_sweep_repairs_known_volumes_but_does_not_register_unverified_ones(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    for volume in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=volume["VolumeId"])
    known = new_volume(ec2, **{"k8s-pv": "known"})
    registrar(kube).register(known)
    kube.delete("PersistentVolumeClaim", "known", "default")
    stranger = new_volume(ec2, **{"k8s-pv": "stranger"})
    settle()  # until EC2 lists it
    rows = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(kube)).sweep("prod")
    actions = {row.volume_id: row.action for row in rows}
    assert actions == {known: "registered", stranger: "ignored"}
    assert kube.get("PersistentVolumeClaim", "known", "default")
    with pytest.raises(NotFoundError):
        kube.get("PersistentVolume", "stranger")
