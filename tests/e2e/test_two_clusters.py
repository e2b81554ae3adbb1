"""Two clusters side by side on the local plane, blue (`control_plane`) and green
(`green_plane`), as a blue/green upgrade has them: one registrar with one IAM role and an
access entry on each, a volume's `k8s-cluster` tag choosing where its objects go. Each plane's
token webhook accepts only tokens minted for its own cluster name (the EKS token's
`x-k8s-aws-id`), so nothing written to one cluster can have been sent to the other."""

from __future__ import annotations

import contextlib
import time
import urllib.error
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.identity import (
    GROUP,
    USERNAME,
    assume_role,
    create_eks_cluster,
    create_role,
)
from devcluster.standins.nodes import add_zone_node
from registrar.adapters.kube import KubeGateway
from registrar.core.work import WorkItem
from tests.e2e.conftest import (
    REGION,
    STATUS,
    absent,
    cloudtrail_create,
    create_volume,
    only_outcome,
    tagged,
    unique,
    volume_tags,
    wait_phase,
)
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

CSI_CLUSTER_NAME = "ebs.csi.aws.com/cluster-name"


@pytest.fixture(scope="module")
def credentials(rbac_applied: ControlPlane, green_plane: ControlPlane) -> Credentials:
    """The registrar's role, with an access entry on each cluster (as EKS has one per
    cluster), both clusters known to moto's EKS."""
    role = create_role(REGION, prefix="registrar-2c")
    for plane in (rbac_applied, green_plane):
        plane.add_access_entry(role, USERNAME, [GROUP])
        create_eks_cluster(plane.cluster, REGION)
    return assume_role(role, REGION)


@pytest.fixture
def green_admin(green_plane: ControlPlane) -> Iterator[KubeGateway]:
    gateway = green_plane.admin_gateway()
    yield gateway
    gateway.close()


def test_one_registrar_writes_each_volume_to_the_cluster_its_tag_names(
    rbac_applied: ControlPlane,
    green_plane: ControlPlane,
    credentials: Credentials,
    admin: KubeGateway,
    green_admin: KubeGateway,
    ec2: Any,
) -> None:
    function = DeployedFunction.build(rbac_applied, credentials, also=[green_plane])
    blue_name, green_name = unique("blue"), unique("green")
    reviewed = len(green_plane.reviews)

    for name, cluster in ((blue_name, None), (green_name, green_plane.cluster)):
        tags = {"k8s-pv": name, "k8s-pvc": name}
        if cluster:
            tags["k8s-cluster"] = cluster
        event = cloudtrail_create(create_volume(ec2, tags))
        answer = function(event)
        assert only_outcome(answer)["result"] == "registered", answer

    assert wait_phase(admin, "PersistentVolumeClaim", blue_name, "default") == "Bound"
    assert wait_phase(green_admin, "PersistentVolumeClaim", green_name, "default") == "Bound"
    assert absent(admin, "PersistentVolume", green_name)
    assert absent(green_admin, "PersistentVolume", blue_name)
    mine = green_plane.reviews[reviewed:]
    assert mine and all(r.authenticated and r.username == USERNAME for r in mine), mine


HANDOFF_ZONE = "us-east-1f"  # no other module puts a node here
HANDOFF_TIMEOUT = 60.0


def usable_pvs(planes: list[ControlPlane], name: str) -> list[str]:
    """The clusters where a PV of that name exists and is not being deleted."""
    found = []
    for plane in planes:
        try:
            pv = plane.admin_request("GET", f"/api/v1/persistentvolumes/{name}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise
        if "deletionTimestamp" not in pv["metadata"]:
            found.append(plane.cluster)
    return found


def test_retagging_k8s_cluster_moves_the_volume_once_nothing_in_blue_uses_it(
    rbac_applied: ControlPlane,
    green_plane: ControlPlane,
    credentials: Credentials,
    admin: KubeGateway,
    green_admin: KubeGateway,
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
) -> None:
    blue = rbac_applied
    function = DeployedFunction.build(blue, credentials, also=[green_plane])
    name = unique("moving")
    tags = {"k8s-pv": name, "k8s-pvc": name}
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    volume_id = ec2.create_volume(AvailabilityZone=HANDOFF_ZONE, Size=10, VolumeType="gp3",
                                  TagSpecifications=spec)["VolumeId"]  # fmt: skip
    event = ef.create_volume(volume_id, tags, region=REGION, zone=HANDOFF_ZONE)
    assert only_outcome(function(event))["result"] == "registered"
    assert wait_phase(admin, "PersistentVolumeClaim", name, "default") == "Bound"
    assert volume_tags(ec2, volume_id)[CSI_CLUSTER_NAME] == blue.cluster
    # A pod of blue uses it: attached to one of blue's nodes.
    image = ec2.describe_images()["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   Placement={"AvailabilityZone": HANDOFF_ZONE})["Instances"]
    instance_id = instance["InstanceId"]
    add_zone_node(blue, HANDOFF_ZONE, REGION, instance_id)
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    try:
        change = tagged(ec2, route, volume_id, {"k8s-cluster": green_plane.cluster})
        waiting = only_outcome(function(change))

        assert waiting["result"] == "pending", waiting
        head = f"moving {blue.cluster} -> {green_plane.cluster}"
        wanted = f"{head}: waiting for detach from {instance_id}"
        assert volume_tags(ec2, volume_id)[STATUS] == wanted
        assert usable_pvs([blue, green_plane], name) == [blue.cluster]

        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        seen: set[str] = set()
        deadline = time.monotonic() + HANDOFF_TIMEOUT
        while not volume_tags(ec2, volume_id)[STATUS].startswith("registered"):
            assert time.monotonic() < deadline, volume_tags(ec2, volume_id)[STATUS]
            item = WorkItem(volume_id, "sweep", "sweep", cluster=green_plane.cluster)
            [done] = function.registrar.run([item])  # the sweep carries the move on
            assert done.error is None, done.error
            seen.add(volume_tags(ec2, volume_id)[STATUS])
            assert len(usable_pvs([blue, green_plane], name)) <= 1  # never two at once
            time.sleep(0.5)
    finally:
        with contextlib.suppress(Exception):
            ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        ec2.terminate_instances(InstanceIds=[instance_id])

    assert volume_tags(ec2, volume_id)[STATUS] == (
        f"registered {green_plane.cluster}/{name} -> default/{name}"
    )
    # Each step on the way said where the move was (released from blue, waiting for its PV).
    assert all(text.startswith((head, "registered ")) for text in seen), seen
    assert volume_tags(ec2, volume_id)[CSI_CLUSTER_NAME] == green_plane.cluster
    assert wait_phase(green_admin, "PersistentVolumeClaim", name, "default") == "Bound"
    assert absent(admin, "PersistentVolume", name)
    assert absent(admin, "PersistentVolumeClaim", name, "default")
    assert usable_pvs([blue, green_plane], name) == [green_plane.cluster]
