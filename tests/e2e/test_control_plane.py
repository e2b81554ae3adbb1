"""End to end against a real kube-apiserver: RBAC from k8s/rbac.yaml, EKS tokens, PV binding."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from registrar.adapters.eks_token import get_token
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import ForbiddenError, UnauthorizedError
from tests.e2e.conftest import kubectl, wait_phase

REGION = "us-east-1"
GROUP = "ebs-pv-registrar"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*"}
        ],
    }
)


def make_role(prefix: str) -> str:
    """A new IAM role in moto (unique name: the moto server lives for the whole session)."""
    iam = boto3.client("iam", region_name=REGION)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def assume(role_arn: str) -> Credentials:
    """Fresh session credentials: GetCallerIdentity answers with the assumed-role ARN."""
    sts = boto3.client("sts", region_name=REGION)
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"s-{uuid.uuid4().hex[:8]}")
    creds = c["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@pytest.fixture
def gateway_for(control_plane: ControlPlane) -> Iterator[Callable[..., KubeGateway]]:
    """gateway_for(credentials, cluster=..., clock=...) -> a KubeGateway using EKS tokens."""
    opened: list[KubeGateway] = []

    def make(
        credentials: Credentials,
        cluster: str = control_plane.cluster,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> KubeGateway:
        gateway = control_plane.gateway(
            lambda _force: get_token(cluster, REGION, credentials, clock).token
        )
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()


def pv(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": GROUP}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["us-east-1a"],
                                }
                            ]
                        }
                    ]
                }
            },
            "claimRef": {"namespace": "default", "name": claim},
        },
    }


def pvc(name: str, volume: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": GROUP},
        },
        "spec": {
            "volumeName": volume,
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "storageClassName": "",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def test_api_server_is_up_with_tls_and_rbac(control_plane: ControlPlane) -> None:
    result = kubectl(control_plane, "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["serverVersion"]["gitVersion"].startswith("v1.")
    result = kubectl(control_plane, "auth", "can-i", "create", "persistentvolumes", "--as=nobody")
    assert result.stdout.strip() == "no"


def test_rbac_yaml_applies_with_admin(rbac_applied: ControlPlane) -> None:
    result = kubectl(rbac_applied, "get", "clusterrolebinding", GROUP, "-o", "json")
    assert result.returncode == 0, result.stderr
    subjects = json.loads(result.stdout)["subjects"]
    assert subjects == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]


def test_registrar_token_with_group_creates_pv_and_pvc_that_bind(
    rbac_applied: ControlPlane, gateway_for: Callable[..., KubeGateway]
) -> None:
    role = make_role("registrar-bound")
    rbac_applied.add_access_entry(role, "ebs-pv-registrar", [GROUP])
    gateway = gateway_for(assume(role))

    gateway.create(pv("pv-bind", claim="claim-bind"))
    gateway.create(pvc("claim-bind", volume="pv-bind"))

    assert wait_phase(gateway, "PersistentVolumeClaim", "claim-bind", "default", 15) == "Bound"
    assert wait_phase(gateway, "PersistentVolume", "pv-bind", None, 15) == "Bound"
    listed = [
        p["metadata"]["name"]
        for p in gateway.list("PersistentVolume", f"app.kubernetes.io/managed-by={GROUP}")
    ]
    assert "pv-bind" in listed
    assert rbac_applied.reviews[-1].username == "ebs-pv-registrar"


def test_same_role_without_the_group_is_forbidden(
    rbac_applied: ControlPlane, gateway_for: Callable[..., KubeGateway]
) -> None:
    role = make_role("registrar-nogroup")
    rbac_applied.add_access_entry(role, "ebs-pv-registrar", [GROUP])
    gateway_for(assume(role)).create(pv("pv-allowed", claim="claim-allowed"))

    rbac_applied.add_access_entry(role, "ebs-pv-registrar", [])
    gateway = gateway_for(assume(role))
    with pytest.raises(ForbiddenError):
        gateway.create(pv("pv-denied", claim="claim-denied"))
    with pytest.raises(ForbiddenError):
        gateway.get("PersistentVolume", "pv-allowed")


def test_expired_token_is_unauthorized(
    rbac_applied: ControlPlane, gateway_for: Callable[..., KubeGateway]
) -> None:
    role = make_role("registrar-expired")
    rbac_applied.add_access_entry(role, "ebs-pv-registrar", [GROUP])
    old = datetime.now(UTC) - timedelta(minutes=16)
    gateway = gateway_for(assume(role), clock=lambda: old)
    with pytest.raises(UnauthorizedError):
        gateway.get("PersistentVolume", "anything")
    assert "expired" in rbac_applied.reviews[-1].reason


def test_token_for_another_cluster_is_unauthorized(
    rbac_applied: ControlPlane, gateway_for: Callable[..., KubeGateway]
) -> None:
    role = make_role("registrar-other-cluster")
    rbac_applied.add_access_entry(role, "ebs-pv-registrar", [GROUP])
    gateway = gateway_for(assume(role), cluster="some-other-cluster")
    with pytest.raises(UnauthorizedError):
        gateway.get("PersistentVolume", "anything")
    assert "SignatureDoesNotMatch" in rbac_applied.reviews[-1].reason


def test_role_without_access_entry_is_unauthorized(
    rbac_applied: ControlPlane, gateway_for: Callable[..., KubeGateway]
) -> None:
    gateway = gateway_for(assume(make_role("registrar-unmapped")))
    with pytest.raises(UnauthorizedError):
        gateway.get("PersistentVolume", "anything")
    assert "no access entry" in rbac_applied.reviews[-1].reason
