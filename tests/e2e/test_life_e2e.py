"""A volume's life (#22) on the local control plane, through the Lambda's path: growth followed
into a real API server's objects (and its StorageClass expansion admission), a claim deleted
and asked for again bound by the real PV binder, a volume attached elsewhere left alone until
detached."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from registrar.adapters.kube import KubeGateway
from registrar.core.work import WorkItem
from tests.e2e.conftest import (
    REGION,
    STATUS,
    absent,
    only_outcome,
    tagged,
    unique,
    volume_tags,
    wait_phase,
)
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

ZONE = "us-east-1f"  # no node here: nothing is scheduled, only registered
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def function(rbac_applied: ControlPlane, role_credentials: Credentials) -> DeployedFunction:
    return DeployedFunction.build(rbac_applied, role_credentials)


@pytest.fixture
def expandable_class(control_plane: ControlPlane) -> Iterator[str]:
    name = unique("gp3-expand")
    control_plane.admin_request("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
        "provisioner": "ebs.csi.aws.com", "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer"})  # fmt: skip
    yield name
    control_plane.admin_request("DELETE", f"/apis/storage.k8s.io/v1/storageclasses/{name}")


def registered(
    ec2: Any, function: DeployedFunction, admin: KubeGateway, **extra: str
) -> tuple[str, str]:
    """A 10 GiB volume registered and its claim bound: (volume id, name of PV and claim)."""
    name = unique("life")
    tags = {"k8s-pv": name, "k8s-pvc": name, **extra}
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="gp3",
                                  TagSpecifications=spec)["VolumeId"]  # fmt: skip
    event = ef.create_volume(volume_id, tags, region=REGION, zone=ZONE)
    assert only_outcome(function(event))["result"] == "registered"
    assert wait_phase(admin, "PersistentVolumeClaim", name, "default") == "Bound"
    return volume_id, name


def modified(ec2: Any, function: DeployedFunction, volume_id: str, size: int) -> dict[str, Any]:
    ec2.modify_volume(VolumeId=volume_id, Size=size)
    event = ef.ebs_notification(volume_id, event_name="modifyVolume", result="optimizing")
    return only_outcome(function(event))


def test_a_grown_volume_grows_its_pv_and_keeps_the_claim_in_a_class_without_expansion(
    ec2: Any, function: DeployedFunction, admin: KubeGateway
) -> None:
    volume_id, name = registered(ec2, function, admin)

    outcome = modified(ec2, function, volume_id, 20)

    assert outcome["result"] == "registered", outcome
    assert admin.get("PersistentVolume", name)["spec"]["capacity"]["storage"] == "20Gi"
    claim = admin.get("PersistentVolumeClaim", name, "default")
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["status"]["phase"] == "Bound"
    assert volume_tags(ec2, volume_id)[STATUS].endswith("(grown 10Gi -> 20Gi)")


def test_a_grown_volume_in_an_expandable_class_grows_the_claims_request(
    ec2: Any, function: DeployedFunction, admin: KubeGateway, expandable_class: str
) -> None:
    volume_id, name = registered(ec2, function, admin, **{"k8s-storage-class": expandable_class})

    outcome = modified(ec2, function, volume_id, 20)

    # The API server's PersistentVolumeClaimResize admission accepted the larger request.
    assert outcome["result"] == "registered", outcome
    claim = admin.get("PersistentVolumeClaim", name, "default")
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert admin.get("PersistentVolume", name)["spec"]["capacity"]["storage"] == "20Gi"


def test_a_claim_deleted_by_its_user_binds_again_when_the_volume_is_retagged(
    ec2: Any,
    function: DeployedFunction,
    admin: KubeGateway,
    route: Callable[[dict[str, Any], str], None],
) -> None:
    volume_id, name = registered(ec2, function, admin)
    admin.delete("PersistentVolumeClaim", name, "default")
    deadline = time.monotonic() + TIMEOUT
    while not absent(admin, "PersistentVolumeClaim", name, "default"):  # pvc-protection
        assert time.monotonic() < deadline
        time.sleep(0.2)
    deadline = time.monotonic() + TIMEOUT
    while admin.get("PersistentVolume", name).get("status", {}).get("phase") != "Released":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    outcome = only_outcome(function(tagged(ec2, route, volume_id, {"k8s-pvc": name})))

    assert outcome["result"] == "pending", outcome
    assert volume_tags(ec2, volume_id)[STATUS].startswith(f"pending: claim default/{name} is not")
    # The real PV binder binds the claim to the PV made bindable again.
    assert wait_phase(admin, "PersistentVolumeClaim", name, "default") == "Bound"
    assert wait_phase(admin, "PersistentVolume", name, None) == "Bound"
    # The next sweep sees it bound: registered.
    swept(function, volume_id)
    wanted = f"registered {function.plane.cluster}/{name} -> default/{name}"
    assert volume_tags(ec2, volume_id)[STATUS] == wanted


def test_a_volume_attached_to_no_node_waits_and_registers_once_detached(
    ec2: Any, function: DeployedFunction, admin: KubeGateway
) -> None:
    name = unique("elsewhere")
    tags = {"k8s-pv": name, "k8s-pvc": name}
    image = ec2.describe_images()["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   Placement={"AvailabilityZone": ZONE})["Instances"]
    instance_id = instance["InstanceId"]
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="gp3")["VolumeId"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    try:
        outcome = only_outcome(function(tagged(ec2, _any_route, volume_id, tags)))

        assert outcome["result"] == "pending", outcome
        assert volume_tags(ec2, volume_id)[STATUS] == (
            f"waiting: attached to {instance_id}, not a node of {function.plane.cluster}; "
            "registers once detached"
        )
        assert absent(admin, "PersistentVolume", name)
    finally:
        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        ec2.terminate_instances(InstanceIds=[instance_id])

    swept(function, volume_id)

    assert volume_tags(ec2, volume_id)[STATUS].startswith(f"registered {function.plane.cluster}")
    assert wait_phase(admin, "PersistentVolumeClaim", name, "default") == "Bound"


def swept(function: DeployedFunction, volume_id: str) -> None:
    """What the sweep does for this one volume (the whole sweep would also take up the other
    modules' volumes in the shared moto)."""
    item = WorkItem(volume_id, "sweep", "sweep", cluster=function.plane.cluster)
    [done] = function.registrar.run([item])
    assert done.error is None, done.error


def _any_route(event: dict[str, Any], rule: str) -> None:
    """tagged() checks the rules when given them; this test does not need to."""
