"""The tutorial's workload on the local control plane (examples/tutorial-deployment.yaml): a
busybox Deployment mounting the claim, without a nodeSelector. kube-scheduler places its pod
by the PersistentVolume's zone node affinity; no kubelet runs it (devcluster/standins/nodes.py)."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from devcluster.standins.controlplane import REPO, ControlPlane

DEPLOYMENT_FILE = REPO / "examples" / "tutorial-deployment.yaml"
SCHEDULE_TIMEOUT = 30.0


class NotScheduledError(RuntimeError):
    pass


@dataclass(frozen=True)
class Placement:
    pod: str
    uid: str
    node: str
    zone: str
    claims: tuple[str, ...]


def pods(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"labelSelector": selector})
    answer = plane.admin_request("GET", f"/api/v1/namespaces/{namespace}/pods?{query}")
    return list(answer["items"])


def placement(plane: ControlPlane, pod: dict[str, Any]) -> Placement:
    node_name = pod["spec"]["nodeName"]
    node = plane.admin_request("GET", f"/api/v1/nodes/{node_name}")
    volumes = pod["spec"].get("volumes", [])
    return Placement(
        pod=pod["metadata"]["name"],
        uid=pod["metadata"]["uid"],
        node=node_name,
        zone=node["metadata"]["labels"].get("topology.kubernetes.io/zone", ""),
        claims=tuple(
            v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
        ),
    )


def wait_scheduled(
    plane: ControlPlane,
    namespace: str,
    selector: str,
    replaced: Collection[str] = (),
    timeout: float = SCHEDULE_TIMEOUT,
) -> Placement:
    """The first live pod matching `selector` (and not one of the `replaced` uids) once the
    scheduler has bound it to a node."""
    deadline = time.monotonic() + timeout
    while True:
        for pod in pods(plane, namespace, selector):
            live = "deletionTimestamp" not in pod["metadata"]
            if live and pod["metadata"]["uid"] not in replaced and pod["spec"].get("nodeName"):
                return placement(plane, pod)
        if time.monotonic() > deadline:
            raise NotScheduledError(f"no pod {selector} in {namespace} scheduled in {timeout:.0f}s")
        time.sleep(0.2)
