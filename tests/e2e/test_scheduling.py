"""The tutorial's promise on a real kube-scheduler: a pod that mounts a registered claim lands
in its volume's zone with no nodeSelector, because the registrar's PV carries the zone node
affinity. The control plane has one node per zone (devcluster/standins/nodes.py: API objects, Ready,
no kubelet); volumes are registered as the Lambda does it (its own IAM role, EKS tokens).

The words checked are the components' own: kube-scheduler's VolumeBinding plugin
(pkg/scheduler/framework/plugins/volumebinding/binder.go, ErrReasonNodeConflict; older
releases said "had volume node affinity conflict"), and the PV controller's delayed binding
(the claim annotations `volume.kubernetes.io/selected-node` and
`volume.kubernetes.io/storage-provisioner`, the events WaitForFirstConsumer and
ExternalProvisioning).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devcluster.demo.workload import Placement, wait_scheduled
from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.identity import (
    GROUP,
    USERNAME,
    assume_role,
    create_eks_cluster,
    create_role,
)
from devcluster.standins.nodes import EBS_CSI_ZONE_LABEL, ZONE_LABEL, add_zone_node, node_name
from registrar.core.settings import Settings
from tests.e2e.conftest import wait_phase
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

REGION = "us-east-1"
NODE_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
ZONE_WITHOUT_NODE = "us-east-1d"
NAMESPACE = "default"
EVENT_TIMEOUT = 30.0


Register = Callable[[str, str], str]


@pytest.fixture(scope="module")
def nodes(control_plane: ControlPlane) -> list[str]:
    return [add_zone_node(control_plane, zone, REGION) for zone in NODE_ZONES]


@pytest.fixture(scope="module")
def role_credentials(rbac_applied: ControlPlane) -> Any:
    role = create_role(REGION, prefix="registrar-sched")
    rbac_applied.add_access_entry(role, USERNAME, [GROUP])
    create_eks_cluster(rbac_applied.cluster, REGION)
    return assume_role(role, REGION)


@pytest.fixture(params=[ZONE_LABEL, EBS_CSI_ZONE_LABEL])
def register(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    role_credentials: Any,
    ec2: Any,
) -> Register:
    """register(zone, claim): a gp3 volume created in `zone` and tagged for `claim`, its
    CloudTrail event handled by the Lambda handler; the claim's name once registered. Runs
    once with each zone key the PV's node affinity may use (REGISTRAR_ZONE_LABEL)."""
    settings = Settings(
        default_cluster=control_plane.cluster,
        allowed_clusters=(control_plane.cluster,),
        zone_label=request.param,
    )
    function = DeployedFunction.build(control_plane, role_credentials, settings)
    admin = control_plane.admin_gateway()
    request.addfinalizer(admin.close)

    def create_and_register(zone: str, claim: str) -> str:
        tags = {"k8s-pv": claim, "k8s-pvc": claim}
        spec = [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
        volume = ec2.create_volume(
            AvailabilityZone=zone, Size=10, VolumeType="gp3", TagSpecifications=spec
        )
        event = ef.create_volume(volume["VolumeId"], tags, region=REGION, zone=zone)
        outcomes = function(event)["outcomes"]
        assert [o["result"] for o in outcomes] == ["registered"], outcomes
        # Bound first, as in the tutorial: a pod of a claim not yet bound is only told so
        # ("pod has unbound immediate PersistentVolumeClaims").
        assert wait_phase(admin, "PersistentVolumeClaim", claim, NAMESPACE) == "Bound"
        return claim

    return create_and_register


@pytest.fixture
def pods(control_plane: ControlPlane) -> Iterator[Callable[[str], str]]:
    """pod(claim): a busybox pod mounting the claim, no nodeSelector; deleted afterwards."""
    created: list[str] = []

    def create(claim: str) -> str:
        name = f"{claim}-pod"
        control_plane.admin_request(
            "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", pod_manifest(name, claim)
        )
        created.append(name)
        return name

    yield create
    for name in created:
        control_plane.admin_request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")


def pod_manifest(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test-pod": name}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.37",
                    "command": ["sleep", "3600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def events_of(
    plane: ControlPlane, kind: str, name: str, reason: str, containing: str = ""
) -> list[dict[str, Any]]:
    """Events about the object with this reason (and text), polled until one arrives or time
    runs out."""
    selector = f"involvedObject.kind={kind},involvedObject.name={name},reason={reason}"
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        path = f"/api/v1/namespaces/{NAMESPACE}/events?fieldSelector={selector}"
        items = [e for e in plane.admin_request("GET", path)["items"] if containing in e["message"]]
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.3)


def get(plane: ControlPlane, path: str) -> dict[str, Any]:
    return plane.admin_request("GET", path)


# --- tests ----------------------------------------------------------------------------------


def test_pods_of_registered_claims_land_in_their_volumes_zones(
    nodes: list[str],
    register: Register,
    pods: Callable[[str], str],
    control_plane: ControlPlane,
) -> None:
    wanted = {
        register(zone, unique(f"sched-{zone[-1]}{n}")): zone for zone in NODE_ZONES for n in (1, 2)
    }
    for claim in wanted:
        pods(claim)

    placed: dict[str, Placement] = {
        claim: wait_scheduled(control_plane, NAMESPACE, f"test-pod={claim}-pod") for claim in wanted
    }

    assert {claim: p.zone for claim, p in placed.items()} == wanted
    assert all(p.node == node_name(wanted[claim]) for claim, p in placed.items()), placed
    assert all(p.claims == (claim,) for claim, p in placed.items()), placed


def test_pod_whose_volume_zone_has_no_node_stays_pending_with_the_schedulers_reason(
    nodes: list[str],
    register: Register,
    pods: Callable[[str], str],
    control_plane: ControlPlane,
) -> None:
    claim = register(ZONE_WITHOUT_NODE, unique("sched-nonode"))
    pod = pods(claim)

    reason = "node(s) didn't match PersistentVolume's node affinity"
    events = events_of(control_plane, "Pod", pod, "FailedScheduling", containing=reason)

    assert events, f"no FailedScheduling event for {pod} saying {reason!r}"
    # Every node refused for this one reason (the plane is shared: other modules add nodes).
    refused = r"0/(\d+) nodes are available: (\d+) node\(s\) didn't match PersistentVolume"
    every = re.match(refused, events[-1]["message"])
    assert every and every.group(1) == every.group(2) and int(every.group(1)) >= len(nodes)
    assert events[-1]["type"] == "Warning"
    # The scheduler records the Event and the pod's condition in two writes: wait for the second.
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        status = get(control_plane, f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}")
        conditions = status["status"].get("conditions") or []
        scheduled = [c for c in conditions if c["type"] == "PodScheduled"]
        if scheduled or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert not status["spec"].get("nodeName")
    assert status["status"]["phase"] == "Pending"
    assert [(c["status"], c["reason"]) for c in scheduled] == [("False", "Unschedulable")]


@pytest.fixture
def gp3_wait_for_first_consumer(control_plane: ControlPlane) -> Iterator[str]:
    """A StorageClass with the spec of k8s/storageclass-gp3.yaml, under a unique name."""
    name = unique("gp3")
    control_plane.admin_request(
        "POST",
        "/apis/storage.k8s.io/v1/storageclasses",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3", "encrypted": "true"},
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
        },
    )
    yield name
    control_plane.admin_request("DELETE", f"/apis/storage.k8s.io/v1/storageclasses/{name}")


def test_wait_for_first_consumer_claim_gets_the_schedulers_node(
    nodes: list[str],
    gp3_wait_for_first_consumer: str,
    pods: Callable[[str], str],
    control_plane: ControlPlane,
) -> None:
    claim = unique("sched-wffc")
    claims = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"
    control_plane.admin_request(
        "POST",
        claims,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": gp3_wait_for_first_consumer,
                "resources": {"requests": {"storage": "4Gi"}},
            },
        },
    )
    try:
        # Before a consumer exists, the PV controller only waits (its delayed binding).
        assert events_of(control_plane, "PersistentVolumeClaim", claim, "WaitForFirstConsumer")
        pods(claim)

        # The scheduler picks a node and writes it on the claim; the PV controller then
        # hands the claim to the CSI driver's external provisioner, which does not run here.
        events = events_of(control_plane, "PersistentVolumeClaim", claim, "ExternalProvisioning")

        assert events, f"claim {claim} was never handed to the provisioner"
        annotations = get(control_plane, f"{claims}/{claim}")["metadata"]["annotations"]
        assert annotations["volume.kubernetes.io/selected-node"] in nodes, annotations
        assert annotations["volume.kubernetes.io/storage-provisioner"] == "ebs.csi.aws.com"
        assert get(control_plane, f"{claims}/{claim}")["status"]["phase"] == "Pending"
    finally:
        control_plane.admin_request("DELETE", f"{claims}/{claim}")
