"""README "StatefulSets": volumes pre-registered as `data-web-0` and `data-web-1` are the
claims a StatefulSet `web` with the volumeClaimTemplate `data` uses, ordinal by ordinal, on the
local control plane's StatefulSet controller (tests/controlplane/workloads.go).

The controller names the claim of template `data` for pod `web-N` `data-web-N` and creates it
only when it does not exist (kubernetes, pkg/controller/statefulset/stateful_set_utils.go,
getPersistentVolumeClaimName; stateful_pod_control.go, createMissingPersistentVolumeClaims), so
the registrar's claim, bound to its PV, is the one the pod mounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials

from devcluster.demo.workload import Placement, wait_scheduled
from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.nodes import add_zone_node, node_name
from registrar.adapters.kube import KubeGateway
from registrar.core.tags import MANAGED_BY_LABEL, MANAGER
from tests.e2e.conftest import REGION, kubectl_apply, unique, wait_phase
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

ZONES = ("us-east-1a", "us-east-1b")  # web-0's volume, web-1's volume


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A namespace of its own: the claim names are fixed by the ordinals."""
    name = unique("sts")
    control_plane.admin_request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": name}}
    )  # fmt: skip
    yield name
    control_plane.admin_request("DELETE", f"/api/v1/namespaces/{name}")


def statefulset(name: str, namespace: str, *, replicas: int) -> dict[str, Any]:
    """The README's StatefulSet, Parallel: no kubelet runs here, so a pod never becomes Ready
    and OrderedReady would start web-1 only after web-0 is Ready."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "busybox:1.37",
                            "command": ["sleep", "3600"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "",
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }


def test_statefulset_pods_mount_the_pre_registered_claims_by_ordinal(
    control_plane: ControlPlane,
    rbac_applied: ControlPlane,
    role_credentials: Credentials,
    admin: KubeGateway,
    ec2: Any,
    namespace: str,
) -> None:
    for zone in ZONES:
        add_zone_node(control_plane, zone, REGION)
    function = DeployedFunction.build(rbac_applied, role_credentials)
    volumes: dict[str, str] = {}  # claim -> volume id
    for ordinal, zone in enumerate(ZONES):
        claim = f"data-web-{ordinal}"
        tags = {"k8s-pv": f"{namespace}-{claim}", "k8s-pvc": f"{namespace}/{claim}"}
        spec = [{"ResourceType": "volume",
                 "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]  # fmt: skip
        volume = ec2.create_volume(
            AvailabilityZone=zone, Size=10, VolumeType="gp3", TagSpecifications=spec
        )
        event = ef.create_volume(volume["VolumeId"], tags, region=REGION, zone=zone)
        [outcome] = function(event)["outcomes"]
        assert outcome["result"] == "registered", outcome
        assert wait_phase(admin, "PersistentVolumeClaim", claim, namespace) == "Bound"
        volumes[claim] = volume["VolumeId"]

    kubectl_apply(control_plane, [statefulset("web", namespace, replicas=2)])
    placed: dict[str, Placement] = {
        pod: wait_scheduled(control_plane, namespace, f"statefulset.kubernetes.io/pod-name={pod}")
        for pod in ("web-0", "web-1")
    }

    assert {pod: p.claims for pod, p in placed.items()} == {
        "web-0": ("data-web-0",),
        "web-1": ("data-web-1",),
    }
    # Each pod went to its volume's zone: the PV's node affinity, as for any registered claim.
    assert {pod: p.node for pod, p in placed.items()} == {
        "web-0": node_name(ZONES[0]),
        "web-1": node_name(ZONES[1]),
    }
    claims = list(admin.list("PersistentVolumeClaim", namespace=namespace))
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-web-0", "data-web-1"]
    for manifest in claims:  # still the registrar's claims, bound to the volumes' PVs
        assert manifest["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGER
        assert manifest["status"]["phase"] == "Bound"
        pv = admin.get("PersistentVolume", manifest["spec"]["volumeName"])
        assert pv["spec"]["csi"]["volumeHandle"] == volumes[manifest["metadata"]["name"]]
