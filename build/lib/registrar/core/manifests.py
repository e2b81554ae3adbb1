"""Pure builders of what the registrar writes to a cluster: the PV, the claim, an Event.

They take already-decided values (the planner resolves and validates tags first), so the claim
mirrors the PV by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registrar.core import tags as t
from registrar.core.models import Manifest

EVENT_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class VolumeSpec:
    """Everything the PV and its claim are made of, resolved from a volume and its tags."""

    volume_id: str
    pv_name: str
    capacity: str  # "<GiB>Gi"
    zone: str
    zone_label: str
    csi_driver: str
    access_mode: str
    volume_mode: str
    fs_type: str | None
    reclaim_policy: str
    storage_class: str
    cluster: str | None
    claim: tuple[str, str] | None  # (namespace, name)


def labels() -> dict[str, str]:
    return {t.MANAGED_BY_LABEL: t.MANAGER}


def persistent_volume(spec: VolumeSpec) -> Manifest:
    csi: Manifest = {"driver": spec.csi_driver, "volumeHandle": spec.volume_id}
    if spec.fs_type is not None:
        csi["fsType"] = spec.fs_type
    annotations = {t.VOLUME_ID_ANNOTATION: spec.volume_id}
    if spec.cluster is not None:
        annotations[t.CLUSTER_ANNOTATION] = spec.cluster
    pv_spec: Manifest = {
        "capacity": {"storage": spec.capacity},
        "csi": csi,
        "accessModes": [spec.access_mode],
        "volumeMode": spec.volume_mode,
        "persistentVolumeReclaimPolicy": spec.reclaim_policy,
        "storageClassName": spec.storage_class,
        "nodeAffinity": zone_affinity(spec.zone_label, spec.zone),
    }
    if spec.claim is not None:
        pv_spec["claimRef"] = {"namespace": spec.claim[0], "name": spec.claim[1]}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": spec.pv_name, "labels": labels(), "annotations": annotations},
        "spec": pv_spec,
    }


def persistent_volume_claim(spec: VolumeSpec) -> Manifest | None:
    if spec.claim is None:
        return None
    namespace, name = spec.claim
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels()},
        "spec": {
            "volumeName": spec.pv_name,
            "accessModes": [spec.access_mode],
            "volumeMode": spec.volume_mode,
            "storageClassName": spec.storage_class,
            "resources": {"requests": {"storage": spec.capacity}},
        },
    }


def zone_affinity(label: str, zone: str) -> Manifest:
    expression = {"key": label, "operator": "In", "values": [zone]}
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}}


def event_manifest(
    involved: Mapping[str, Any],
    reason: str,
    message: str,
    event_type: str,
    *,
    now: datetime,
    unique: int,
) -> Manifest:
    """A core/v1 Event about `involved`; `unique` makes its name unique (the caller's clock)."""
    meta = involved.get("metadata", {})
    namespace = meta.get("namespace") or "default"  # cluster-scoped PVs: kubectl finds them
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    reference = {
        "apiVersion": involved.get("apiVersion", "v1"),
        "kind": involved.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{unique:x}", "namespace": namespace},
        "involvedObject": {k: v for k, v in reference.items() if v},
        "reason": reason,
        "message": message[:EVENT_MESSAGE_LIMIT],
        "type": event_type,
        "source": {"component": t.MANAGER},
        "reportingComponent": t.MANAGER,
        "reportingInstance": t.MANAGER,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
