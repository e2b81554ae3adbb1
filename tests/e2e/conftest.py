"""A real Kubernetes control plane for end-to-end tests (devcluster/standins/controlplane.py runs
the binary built from tests/controlplane/).

`control_plane` (session): etcd + kube-apiserver + the PV binder controller + kube-scheduler and
the Deployment controllers on loopback (no nodes unless a test adds them with
devcluster.standins.nodes.add_zone_node), TLS, RBAC, tokens checked by an EKS-style webhook
against the moto server's STS. Attributes: `url`, `ca_pem`, `cluster`, `admin_token`,
`admin_kubeconfig` (a file for kubectl); methods: `add_access_entry(role_arn, username, groups)`,
`remove_access_entry(role_arn)`, `gateway(token_provider)`, `admin_gateway()`,
`admin_request(method, path, body)`; `reviews` lists the webhook's decisions.

The registrar's side, shared by the end-to-end modules: the synthesized stack's rule patterns
(`rule_patterns`, `route`), the registrar's IAM role (`role_credentials`), an admin gateway
(`admin`), and helpers for volumes in moto and the objects of the API server.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from devcluster.standins import access
from devcluster.standins.controlplane import ControlPlane, build_binary
from devcluster.standins.eventbridge import matches
from devcluster.standins.identity import (
    GROUP,
    USERNAME,
    assume_role,
    create_eks_cluster,
    create_role,
)
from devcluster.standins.tlsapi import Tls
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import NotFoundError
from registrar.core.models import Kind
from tests.infra.conftest import MINIMAL, synthesize
from tests.support import eventfactory as ef

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
REGION = "us-east-1"
ZONE = "us-east-1a"
STATUS = "k8s-pv-status"
CSI_CLUSTER = "ebs.csi.aws.com/cluster"


@dataclass
class LambdaContext:
    function_name: str = "ebs-pv-registrar"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:ebs-pv-registrar"
    )
    aws_request_id: str = "7a1c2e9d-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(scope="session")
def control_plane(
    tls: Tls,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[ControlPlane]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    # The first build takes minutes: let its progress through pytest's capture.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        binary = build_binary()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), tls, moto_endpoint)
    try:
        plane.start(binary)
        yield plane
    finally:
        plane.stop()


GREEN = "registrar-e2e-green"


@pytest.fixture(scope="module")
def green_plane(
    control_plane: ControlPlane,
    tls: Tls,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ControlPlane]:
    """A second cluster beside `control_plane` (blue), for tests of two clusters: its own
    etcd, API server, controllers and token webhook (which accepts only tokens for its
    cluster name), the same TLS and moto, the access model applied. Module-scoped: two planes
    run only while such a module runs."""
    plane = ControlPlane(tmp_path_factory.mktemp("green"), tls, moto_endpoint, GREEN)
    try:
        plane.start(build_binary())
        access.apply(plane, KUBECTL)
        yield plane
    finally:
        plane.stop()


def kubectl(
    plane: ControlPlane, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl (.venv/bin) with the admin credential."""
    return subprocess.run(
        [str(KUBECTL), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def kubectl_apply(plane: ControlPlane, manifests: Sequence[dict[str, Any]]) -> None:
    """`kubectl apply` of these objects (any kind), as the admin."""
    listed = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    result = kubectl(plane, "apply", "-f", "-", stdin=json.dumps(listed))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def rbac_applied(control_plane: ControlPlane) -> ControlPlane:
    """k8s/admission-policy.yaml then k8s/rbac.yaml applied with the admin credential, and
    the policy seen enforced (devcluster/standins/access.py): every e2e test runs under both."""
    access.apply(control_plane, KUBECTL)
    return control_plane


def wait_phase(
    gateway: KubeGateway, kind: Kind, name: str, namespace: str | None, timeout: float = 20
) -> str:
    """Poll the object until it is Bound or `timeout` passes; its last phase."""
    deadline = time.monotonic() + timeout
    while True:
        phase = str(gateway.get(kind, name, namespace).get("status", {}).get("phase"))
        if phase == "Bound" or time.monotonic() > deadline:
            return phase
        time.sleep(0.2)


# --- the registrar's side -------------------------------------------------------------------


@pytest.fixture(scope="session")
def rule_patterns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every AWS::Events::Rule EventPattern of the synthesized template, by logical id."""
    raw = synthesize(tmp_path_factory.mktemp("cdk-e2e"), MINIMAL).raw
    patterns = {
        logical_id: resource["Properties"]["EventPattern"]
        for logical_id, resource in raw["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule" and "EventPattern" in resource["Properties"]
    }
    assert len(patterns) == 5, sorted(patterns)
    return patterns


@pytest.fixture(scope="session")
def route(rule_patterns: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any], str], None]:
    """route(event, rule): exactly one deployed rule matches, and it is `rule`."""

    def check(event: dict[str, Any], rule: str) -> None:
        hits = [lid for lid, pattern in rule_patterns.items() if matches(pattern, event)]
        assert len(hits) == 1 and rule in hits[0], (rule, hits)

    return check


@pytest.fixture(scope="session")
def role_credentials(rbac_applied: ControlPlane) -> Credentials:
    """The registrar's IAM role, assumed with STS, mapped to the group `ebs-pv-registrar`."""
    role = create_role(REGION, prefix="registrar-e2e")
    rbac_applied.add_access_entry(role, USERNAME, [GROUP])
    create_eks_cluster(rbac_applied.cluster, REGION)
    return assume_role(role, REGION)


@pytest.fixture
def admin(control_plane: ControlPlane) -> Iterator[KubeGateway]:
    gateway = control_plane.admin_gateway()
    yield gateway
    gateway.close()


def unique(prefix: str) -> str:
    """Names unique for the session (the control plane and moto are shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_volume(ec2: Any, tags: dict[str, str]) -> dict[str, Any]:
    """A 10 GiB gp3 volume in moto, as DescribeVolumes reports it."""
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    created = ec2.create_volume(
        AvailabilityZone=ZONE, Size=10, VolumeType="gp3", TagSpecifications=spec
    )
    return dict(ec2.describe_volumes(VolumeIds=[created["VolumeId"]])["Volumes"][0])


def cloudtrail_create(volume: dict[str, Any]) -> dict[str, Any]:
    """The CloudTrail CreateVolume event of this volume, as EventBridge delivers it."""
    tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
    return ef.create_volume(
        volume["VolumeId"],
        tags,
        region=REGION,
        zone=volume["AvailabilityZone"],
        size=volume["Size"],
        volume_type=volume["VolumeType"],
    )


def created(
    ec2: Any, route: Callable[[dict[str, Any], str], None], tags: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A volume created with `tags`, and its CreateVolume event, routed by the rules."""
    volume = create_volume(ec2, tags)
    event = cloudtrail_create(volume)
    route(event, "CloudTrailCreateVolume")
    return volume, event


def tagged(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    volume_id: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    """`tags` set on an existing volume, and the CreateTags event, routed by the rules."""
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    event = ef.create_tags([volume_id], tags, region=REGION)
    route(event, "CloudTrailTagsChanged")
    return event


def volume_tags(ec2: Any, volume_id: str) -> dict[str, str]:
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {t["Key"]: t["Value"] for t in volume.get("Tags", [])}


def absent(gateway: KubeGateway, kind: Kind, name: str, namespace: str | None = None) -> bool:
    try:
        gateway.get(kind, name, namespace)
    except NotFoundError:
        return True
    return False


def settled(admin: KubeGateway, name: str) -> dict[str, Any]:
    """The PV once the binder has marked it Available (that write is not the registrar's)."""
    deadline = time.monotonic() + 15
    while True:
        pv = admin.get("PersistentVolume", name)
        if (pv.get("status") or {}).get("phase") == "Available" or time.monotonic() > deadline:
            return pv
        time.sleep(0.1)


def only_outcome(answer: dict[str, Any]) -> dict[str, Any]:
    outcomes = answer["outcomes"]
    assert len(outcomes) == 1, outcomes
    return dict(outcomes[0])
