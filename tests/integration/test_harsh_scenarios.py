"""Through the handler, against the harsh stand-ins (devcluster/standins/): the scenarios that
broke on a real account's behaviour (absence of evidence is no verdict; only an allowed
CloudTrail caller unregisters; a volume is gone only on its own NotFound)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.delivery import deliveries
from devcluster.standins.harsh_ec2 import HarshEc2
from devcluster.standins.kmockthread import OneCluster
from registrar.adapters.aws import CloudTrailIdentities, Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import NotFoundError
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from registrar.handler import respond
from tests.support import eventfactory as ef

ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer
STRANGER = "arn:aws:iam::111122223333:user/eve"
SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
GUARDED = dataclasses.replace(SETTINGS, allowed_principals=(ADMIN,))
LOOKED_UP = dataclasses.replace(GUARDED, unverified_events="cloudtrail")
STATUS = "k8s-pv-status"


def service(kube: KubeGateway, settings: Settings) -> Registrar:
    identities = CloudTrailIdentities("us-east-1") if settings.looks_up_callers else None
    return Registrar(settings, Ec2Volumes("us-east-1"), OneCluster(kube), identities)


def new_volume(ec2: Any, **tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    created = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3", TagSpecifications=spec
    )
    return str(created["VolumeId"])


def status(ec2: Any, volume_id: str) -> str | None:
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {t["Key"]: t["Value"] for t in volume.get("Tags", [])}.get(STATUS)


def exists(kube: KubeGateway, kind: str, name: str, namespace: str | None = None) -> bool:
    try:
        kube.get(kind, name, namespace)  # type: ignore[arg-type]
    except NotFoundError:
        return False
    return True


def by(caller: str, event: dict[str, Any]) -> dict[str, Any]:
    event["detail"]["userIdentity"] = {"type": "IAMUser", "arn": caller}
    return event


def results(answer: dict[str, Any]) -> list[str]:
    return [str(o["result"]) for o in answer["outcomes"]]


def test_a_tag_change_naming_no_caller_never_unregisters_with_an_allow_list(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    """allowedPrincipals + unregisterOnUntag: a stranger removes k8s-pv. Their CloudTrail
    DeleteTags is ignored; the Tag Change on Resource that follows (it names no caller) must be
    too, whatever the order and however often EventBridge delivers them."""
    registrar = service(kube, dataclasses.replace(GUARDED, unregister_on_untag=True))
    volume_id = new_volume(ec2, **{"k8s-pv": "guarded", "k8s-pvc": "apps/guarded"})
    created = ef.create_volume(volume_id, {"k8s-pv": "guarded", "k8s-pvc": "apps/guarded"})
    assert results(respond(created, registrar)) == ["registered"]
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv"}])
    untag = by(STRANGER, ef.delete_tags([volume_id], ["k8s-pv"]))
    change = ef.tag_change(volume_id, {"k8s-pvc": "apps/guarded"}, ["k8s-pv"])
    for event in deliveries([untag, change], seed=21):
        respond(event, registrar)
    assert exists(kube, "PersistentVolume", "guarded")
    assert exists(kube, "PersistentVolumeClaim", "guarded", "apps")


def test_a_notification_beating_cloudtrail_leaves_the_volume_pending_then_registers(
    moto_endpoint: str, ec2: Any, kube: KubeGateway, trail: CloudTrailStandIn
) -> None:
    """The EBS notification comes before CloudTrail has delivered the CreateVolume record:
    the writer is unknown, not refused. Once the record is searchable, a later look registers."""
    registrar = service(kube, LOOKED_UP)
    volume_id = new_volume(ec2, **{"k8s-pv": "lagging"})
    lag = 5.0  # longer than the notification's own handling (a young volume is waited for)
    trail.record(ef.create_volume(volume_id, {"k8s-pv": "lagging"})["detail"], lag=lag)
    notification = ef.ebs_notification(volume_id)
    for event in deliveries([notification], seed=5):
        assert "invalid" not in results(respond(event, registrar))
    assert not (status(ec2, volume_id) or "").startswith("error")
    assert not exists(kube, "PersistentVolume", "lagging")
    time.sleep(lag)
    # A later invocation for the volume (EventBridge's retry, a duplicate, or the sweep, whose
    # re-check tests/unit/test_pipeline.py proves; here moto holds every test's volumes, and a
    # sweep's LookupEvents budget would go to theirs first).
    respond(notification, service(kube, LOOKED_UP))
    assert (status(ec2, volume_id) or "").startswith("registered")
    assert exists(kube, "PersistentVolume", "lagging")


def test_a_late_event_never_overwrites_registered(
    moto_endpoint: str, ec2: Any, kube: KubeGateway, trail: CloudTrailStandIn
) -> None:
    """Registered from the CloudTrail event (it names the admin); an EBS notification then
    finds no record yet in LookupEvents: the volume stays registered."""
    registrar = service(kube, LOOKED_UP)
    volume_id = new_volume(ec2, **{"k8s-pv": "settled"})
    created = ef.create_volume(volume_id, {"k8s-pv": "settled"})
    trail.record(created["detail"], lag=60)  # not searchable for the whole test
    notification = ef.ebs_notification(volume_id)
    assert results(respond(created, registrar)) == ["registered"]
    for event in deliveries([notification], seed=1):  # late, perhaps twice
        respond(event, registrar)
    assert (status(ec2, volume_id) or "").startswith("registered"), status(ec2, volume_id)


def test_short_pages_in_a_sweep_never_take_untagged_volumes_for_deleted(
    moto_endpoint: str, ec2: Any, kube: KubeGateway, harsh_ec2: HarshEc2
) -> None:
    """EC2 answers the sweep's listings in short and empty pages: every live volume whose
    k8s-pv was removed keeps its PV and claim (annotated), every tagged one stays registered;
    only the deleted one's go."""
    registrar = service(kube, SETTINGS)
    names = [f"paged-{n}" for n in range(10)]
    ids = {name: new_volume(ec2, **{"k8s-pv": name}) for name in names}
    for volume_id in ids.values():
        assert registrar.register(volume_id).result == "registered"
    gone, *rest = names
    untagged, kept = rest[:5], rest[5:]
    ec2.delete_volume(VolumeId=ids[gone])
    for name in untagged:
        ec2.delete_tags(Resources=[ids[name]], Tags=[{"Key": "k8s-pv"}])
    pages = harsh_ec2.pages
    respond(ef.scheduled(), registrar)
    assert harsh_ec2.pages - pages >= 2  # the tagged volumes came in several pages
    assert not exists(kube, "PersistentVolume", gone)
    for name in untagged:
        assert exists(kube, "PersistentVolume", name), name
        assert exists(kube, "PersistentVolumeClaim", name, "default"), name
        annotations = kube.get("PersistentVolume", name)["metadata"]["annotations"]
        assert annotations["ebs-pv-registrar/unmanaged"] == "k8s-pv tag removed"
    for name in kept:
        assert (status(ec2, ids[name]) or "").startswith("registered"), name
        assert "ebs-pv-registrar/unmanaged" not in kube.get("PersistentVolume", name)[
            "metadata"
        ].get("annotations", {})


def test_one_create_tags_over_many_volumes_registers_each_once_however_delivered(
    moto_endpoint: str, ec2: Any, kube: KubeGateway
) -> None:
    """One CreateTags names many volumes; EventBridge may deliver it twice, in any order
    with the rest: each volume gets one PV and claim, and a registered status."""
    registrar = service(kube, SETTINGS)
    ids = [new_volume(ec2, Name="fleet") for _ in range(5)]
    ec2.create_tags(Resources=ids, Tags=[{"Key": "k8s-pv", "Value": ""}])
    event = ef.create_tags(ids, {"k8s-pv": ""})
    seen = [r for e in deliveries([event, event], seed=7) for r in results(respond(e, registrar))]
    assert seen.count("registered") == len(ids)
    assert set(seen) <= {"registered", "unchanged"}
    for volume_id in ids:
        assert exists(kube, "PersistentVolume", volume_id)
        assert (status(ec2, volume_id) or "").startswith("registered"), volume_id
