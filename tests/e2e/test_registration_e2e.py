"""End to end: a volume in moto -> its CloudTrail event -> the synthesized stack's rule patterns
-> registrar.handler.lambda_handler -> PV and PVC in a real kube-apiserver -> Bound.

The registrar runs with nothing but its own identity: an IAM role in moto, assumed with STS
(against moto), mapped by an access entry to the group `ebs-pv-registrar` that k8s/rbac.yaml
binds. Its EC2 and EKS calls are signed with the role's credentials and its Kubernetes calls
carry EKS tokens the control plane's webhook verifies against moto's STS. The cluster exists
in moto's EKS; `devcluster.standins.identity.ControlPlaneDirectory` asks moto's DescribeCluster and
puts the control plane's endpoint and CA into the answer (moto's are made up).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.eventbridge import matches
from devcluster.standins.identity import USERNAME
from registrar.adapters.kube import KubeGateway
from registrar.core.settings import Settings
from tests.e2e.conftest import (
    CSI_CLUSTER,
    REGION,
    STATUS,
    absent,
    cloudtrail_create,
    create_volume,
    created,
    kubectl,
    only_outcome,
    settled,
    unique,
    volume_tags,
    wait_phase,
)
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

# Shared with the other end-to-end modules (tests/e2e/conftest.py): `rule_patterns`, `route`,
# `role_credentials`, `admin`.


@pytest.fixture(scope="module")
def invoke(rbac_applied: ControlPlane, role_credentials: Credentials) -> DeployedFunction:
    """The handler over real Ec2Volumes, EksConnector and EKS tokens; the plane's cluster."""
    return DeployedFunction.build(rbac_applied, role_credentials)


# --- tests ----------------------------------------------------------------------------------


def test_created_volume_becomes_a_bound_claim_with_the_registrar_role(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    admin: KubeGateway,
    rbac_applied: ControlPlane,
) -> None:
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume = create_volume(ec2, {"k8s-pv": pv, "k8s-pvc": claim})
    volume_id = volume["VolumeId"]
    event = cloudtrail_create(volume)
    route(event, "CloudTrailCreateVolume")
    reviewed = len(rbac_applied.reviews)

    outcome = only_outcome(invoke(event))

    assert outcome["result"] == "registered", outcome
    assert outcome["volume_id"] == volume_id
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
    assert wait_phase(admin, "PersistentVolume", pv, None) == "Bound"
    spec = admin.get("PersistentVolume", pv)["spec"]
    assert spec["csi"]["volumeHandle"] == volume_id
    assert spec["capacity"]["storage"] == "10Gi"
    assert spec["claimRef"]["name"] == claim
    assert admin.get("PersistentVolumeClaim", claim, "default")["spec"]["volumeName"] == pv
    # Every Kubernetes call of the handler was made as the registrar's role, via the webhook.
    mine = rbac_applied.reviews[reviewed:]
    assert mine and all(r.authenticated and r.username == USERNAME for r in mine), mine


def test_status_tag_is_written_back(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    control_plane: ControlPlane,
) -> None:
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"default/{claim}"})
    assert STATUS not in volume_tags(ec2, volume["VolumeId"])

    outcome = only_outcome(invoke(event))

    expected = f"registered {control_plane.cluster}/{pv} -> default/{claim}"
    assert outcome["detail"] == expected
    tags = volume_tags(ec2, volume["VolumeId"])
    assert tags[STATUS] == expected
    assert tags[CSI_CLUSTER] == "true"


# The API server omits a PV's empty `storageClassName` (omitempty); kmock keeps `""`. Only a
# real server showed the applier must treat the two alike.
def test_same_event_twice_creates_once_then_is_unchanged(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    admin: KubeGateway,
) -> None:
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": claim})

    first = only_outcome(invoke(event))
    assert first["result"] == "registered", first
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
    versions = (
        admin.get("PersistentVolume", pv)["metadata"]["resourceVersion"],
        admin.get("PersistentVolumeClaim", claim, "default")["metadata"]["resourceVersion"],
    )

    second = only_outcome(invoke(event))

    assert second["result"] == "unchanged", second
    assert second["objects"] == [f"unchanged pv/{pv}", f"unchanged pvc/default/{claim}"]
    assert versions == (
        admin.get("PersistentVolume", pv)["metadata"]["resourceVersion"],
        admin.get("PersistentVolumeClaim", claim, "default")["metadata"]["resourceVersion"],
    )
    assert second["detail"] == volume_tags(ec2, volume["VolumeId"])[STATUS]


def test_conflicting_pv_is_reported_and_left_untouched(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    admin: KubeGateway,
    control_plane: ControlPlane,
) -> None:
    pv, claim = unique("e2e-taken"), unique("e2e-claim")
    foreign = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv, "labels": {"team": "someone-else"}},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "manual",
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0fedcba9876543210"},
        },
    }
    admin.create(foreign)
    before = settled(admin, pv)  # the binder marks it Available first: that write is not ours
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": claim})

    outcome = only_outcome(invoke(event))

    assert outcome["result"] == "conflict", outcome
    assert "not managed by ebs-pv-registrar" in outcome["detail"]
    after = admin.get("PersistentVolume", pv)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["csi"]["volumeHandle"] == "vol-0fedcba9876543210"
    assert after["metadata"]["labels"] == {"team": "someone-else"}
    assert absent(admin, "PersistentVolumeClaim", claim, "default")
    assert volume_tags(ec2, volume["VolumeId"])[STATUS].startswith("error: conflict: pv/")
    events = kubectl(
        control_plane, "get", "events", "-A", "-o", "json",
        f"--field-selector=involvedObject.name={pv},reason=RegistrationConflict",
    )
    assert events.returncode == 0, events.stderr
    assert [e["type"] for e in json.loads(events.stdout)["items"]] == ["Warning"]


def test_claim_in_a_denied_namespace_is_refused(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    admin: KubeGateway,
) -> None:
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"kube-system/{claim}"})

    outcome = only_outcome(invoke(event))

    assert outcome["result"] == "invalid", outcome
    assert outcome["detail"].startswith("k8s-pvc: ")
    assert absent(admin, "PersistentVolume", pv)
    assert absent(admin, "PersistentVolumeClaim", claim, "kube-system")
    assert volume_tags(ec2, volume["VolumeId"])[STATUS] == f"error: {outcome['detail']}"


def test_create_tags_on_an_existing_volume_registers_it(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    invoke: DeployedFunction,
    admin: KubeGateway,
    rule_patterns: dict[str, dict[str, Any]],
    control_plane: ControlPlane,
) -> None:
    pv, claim = unique("e2e-tagged"), unique("e2e-claim")
    volume = create_volume(ec2, {"Name": "data"})
    volume_id = volume["VolumeId"]
    # Created without k8s-pv: no rule invokes the function for it.
    untagged = cloudtrail_create(volume)
    assert not [lid for lid, p in rule_patterns.items() if matches(p, untagged)]

    tags = {"k8s-pv": pv, "k8s-pvc": claim}
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    event = ef.create_tags([volume_id], tags, region=REGION)
    route(event, "CloudTrailTagsChanged")

    outcome = only_outcome(invoke(event))

    assert outcome["result"] == "registered", outcome
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
    assert admin.get("PersistentVolume", pv)["spec"]["csi"]["volumeHandle"] == volume_id
    expected = f"registered {control_plane.cluster}/{pv} -> default/{claim}"
    assert volume_tags(ec2, volume_id)[STATUS] == expected


# One volume one PV and the error policy, end to end: tests/e2e/test_adoption_e2e.py.


def test_auto_mode_writes_the_eks_cluster_name_on_the_volume(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    rbac_applied: ControlPlane,
    role_credentials: Credentials,
    admin: KubeGateway,
) -> None:
    cluster = rbac_applied.cluster
    settings = Settings(default_cluster=cluster, allowed_clusters=(cluster,),
                        csi_driver="ebs.csi.eks.amazonaws.com")  # fmt: skip
    auto_mode = DeployedFunction.build(rbac_applied, role_credentials, settings)
    pv = unique("e2e-auto")
    volume, event = created(ec2, route, {"k8s-pv": pv})

    outcome = only_outcome(auto_mode(event))

    assert outcome["result"] == "registered", outcome
    tags = volume_tags(ec2, volume["VolumeId"])
    assert tags["eks:eks-cluster-name"] == cluster
    assert tags[CSI_CLUSTER] == "true"
    assert admin.get("PersistentVolume", pv)["spec"]["csi"]["driver"] == (
        "ebs.csi.eks.amazonaws.com"
    )
    assert wait_phase(admin, "PersistentVolumeClaim", pv, "default") == "Bound"
