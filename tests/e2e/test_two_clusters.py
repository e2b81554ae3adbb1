"""Two clusters side by side on the local plane, blue (`control_plane`) and green
(`green_plane`), as a blue/green upgrade has them: one registrar with one IAM role and an
access entry on each, a volume's `k8s-cluster` tag choosing where its objects go. Each plane's
token webhook accepts only tokens minted for its own cluster name (the EKS token's
`x-k8s-aws-id`), so nothing written to one cluster can have been sent to the other."""

from __future__ import annotations

from collections.abc import Iterator
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
from registrar.adapters.kube import KubeGateway
from tests.e2e.conftest import (
    REGION,
    absent,
    cloudtrail_create,
    create_volume,
    only_outcome,
    unique,
    wait_phase,
)
from tests.e2e.deployed import DeployedFunction


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
