"""Nodes of the local control plane: API objects only, one per zone. No kubelet runs, so pods
are scheduled onto them and never started (tests/controlplane/workloads.go completes pod
deletions in the kubelet's place).

A node carries the zone labels an EKS node with the EBS CSI driver carries: the cloud
provider's `topology.kubernetes.io/zone` (and region), and the driver's own
`topology.ebs.csi.aws.com/zone`, which the kubelet copies from the driver's NodeGetInfo answer
(aws-ebs-csi-driver, pkg/driver/node.go: ZoneTopologyKey and WellKnownZoneTopologyKey). A PV
whose node affinity uses either key is therefore schedulable here as on EKS.
"""

from __future__ import annotations

import datetime
from typing import Any

from devcluster.standins.controlplane import ControlPlane

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
EBS_CSI_ZONE_LABEL = "topology.ebs.csi.aws.com/zone"
CAPACITY = {"cpu": "2", "memory": "8Gi", "pods": "110"}


def node_name(zone: str) -> str:
    return f"node-{zone}"


def node_manifest(zone: str, region: str, instance_id: str | None = None) -> dict[str, Any]:
    """A Ready node in `zone`, with the allocatable resources the scheduler checks; with
    `instance_id`, the node of that EC2 instance (its name and providerID)."""
    name = instance_id or node_name(zone)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                ZONE_LABEL: zone,
                REGION_LABEL: region,
                EBS_CSI_ZONE_LABEL: zone,
            },
        },
        "spec": {"providerID": f"aws:///{zone}/{name}"},  # an instance id, when given one
        # The API server takes a node's status on create (kube-apiserver's node strategy).
        "status": {
            "capacity": CAPACITY,
            "allocatable": CAPACITY,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "StandIn",
                    "message": "an API object only: no kubelet runs pods here",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
        },
    }


def add_zone_node(
    plane: ControlPlane, zone: str, region: str, instance_id: str | None = None
) -> str:
    """Creates the node of `zone` (or of `instance_id`), or leaves it as it is; returns its name.

    The TaintNodesByCondition admission plugin gives every new node the taint
    `node.kubernetes.io/not-ready:NoSchedule`; the node lifecycle controller removes it once
    the kubelet reports Ready. Neither runs here, so it is removed right away; nothing adds
    it again (that plugin acts on create only, and there is no node lifecycle controller).
    """
    manifest = node_manifest(zone, region, instance_id)
    name = str(manifest["metadata"]["name"])
    existing = plane.admin_request("GET", "/api/v1/nodes")["items"]
    if name not in {node["metadata"]["name"] for node in existing}:
        plane.admin_request("POST", "/api/v1/nodes", manifest)
    plane.admin_request(
        "PATCH",
        f"/api/v1/nodes/{name}",
        {"spec": {"taints": None}},
        content_type="application/merge-patch+json",
    )
    return name
