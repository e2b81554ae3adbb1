"""A kmock that pages and selects like a real API server, and fleet seeding helpers: shared by
tests/integration/test_sweep_scale.py, bench/reconcile.py and bench/burst.py.

kmock answers a LIST with everything and ignores labelSelector; `PagingEmulator` adds what a
real API server does for a sweep (limit/continue, equality label selectors), an O(1) GET by
name and a server-side timestamp per request.
"""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from typing import Any

import kmock
from kmock._internal.k8s import KubernetesObjectNotFoundError, KubernetesResourceNotFoundError

from devcluster.standins.kmockthread import KmockThread
from registrar.core import tags as t
from registrar.core.models import VolumeFacts
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.status import status_tags

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
PLURALS = {"PersistentVolume": "v1/persistentvolumes", "PersistentVolumeClaim":
           "v1/persistentvolumeclaims"}


class PagingEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with server-side pagination, label selectors, indexed GETs and
    request timestamps (`stamps`, time.monotonic() at arrival)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.log: list[tuple[float, str]] = []  # (arrival, "METHOD /path")
        # A LIST's first page snapshots the sorted result; `continue` pages read the snapshot,
        # as a real API server serves them from one etcd revision (and in O(page)).
        self._snapshots: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        super().__init__(*args, **kwargs)

    async def _handle(self, request: Any) -> Any:
        method = str(request.method).upper().rsplit(".", 1)[-1]
        path = urllib.parse.urlsplit(str(request.url)).path
        self.log.append((time.monotonic(), f"{method} {path}"))
        # kmock matches every request against its whole request history (O(n) per request,
        # O(n^2) per run): keep only the current one; `log` is the history instead.
        del self._requests[:-1]
        return await super()._handle(request)

    @property
    def stamps(self) -> list[float]:
        return [stamp for stamp, _ in list(self.log)]

    def counts(self) -> Counter[str]:
        """Requests seen, as tests.support.counting.kube_requests counts them."""
        return Counter(call for _, call in list(self.log))

    async def _serve_list(self, request: Any) -> dict[str, Any]:
        if request.resource not in self._get_resources():
            raise KubernetesResourceNotFoundError()
        selector = request.params.get("labelSelector", "")
        key = (request.resource, request.namespace, selector)
        offset = int(request.params.get("continue") or 0)
        items = self._snapshots.get(key) if offset else None
        if items is None:
            wanted = _selector(selector)
            async with self._lock:
                found = [
                    (namespace or "", name, obj.raw)
                    for (resource, namespace, name), obj in self.objects.items()
                    if resource == request.resource
                    and (request.namespace is None or namespace == request.namespace)
                    and not obj.deleted
                ]
            found.sort(key=lambda item: (item[0], item[1]))
            items = self._snapshots[key] = [raw for _, _, raw in found if _matches(raw, wanted)]
        limit = int(request.params.get("limit") or 0) or len(items)
        metadata: dict[str, Any] = {"resourceVersion": "1"}
        if offset + limit < len(items):
            metadata["continue"] = str(offset + limit)
        return {"kind": "List", "metadata": metadata, "items": items[offset : offset + limit]}

    async def _serve_fetch(self, request: Any) -> Any:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            obj = self.objects[key] if key in self.objects else None  # noqa: SIM401 (no .get)
        if obj is None or obj.deleted:
            raise KubernetesObjectNotFoundError()
        return obj.raw

    def seed(self, manifests: Iterable[dict[str, Any]]) -> int:
        """Put objects straight into the in-memory store (no HTTP); before serving them."""
        count = 0
        for manifest in manifests:
            meta = manifest["metadata"]
            self.objects[PLURALS[manifest["kind"]], meta.get("namespace"), meta["name"]] = manifest
            count += 1
        return count


def _selector(text: str) -> dict[str, str]:
    pairs = (part.replace("==", "=").split("=", 1) for part in text.split(",") if part)
    return {key.strip(): value.strip() for key, value in pairs}


def _matches(raw: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = (raw.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


class PagingKmockThread(KmockThread):
    """KmockThread serving a PagingEmulator."""

    emulator: PagingEmulator | None

    emulator_class = PagingEmulator


def volume_tags(index: int) -> dict[str, str]:
    """Tags of an in-sync fleet member, the status tag included (it names no volume id)."""
    pv, claim = f"data-{index:05d}", f"apps/claim-{index:05d}"
    tags = {t.PV_TAG: pv, "k8s-pvc": claim}
    probe = plan_volume(
        VolumeFacts("vol-0", 1, "us-east-1a", "gp3", tags=tags), SETTINGS
    )
    assert isinstance(probe, Plan)
    return tags | status_tags(registered_status(probe), probe.cluster, SETTINGS.csi_driver)


def objects_for(created: dict[str, Any]) -> list[dict[str, Any]]:
    """The PV and PVC the registrar would have created for a CreateVolume response."""
    facts = VolumeFacts(
        volume_id=created["VolumeId"],
        size_gib=int(created["Size"]),
        availability_zone=created["AvailabilityZone"],
        volume_type=created["VolumeType"],
        tags={tag["Key"]: tag["Value"] for tag in created.get("Tags", [])},
    )
    plan = plan_volume(facts, SETTINGS)
    assert isinstance(plan, Plan)
    return plan.items


def as_served(manifest: dict[str, Any], index: int) -> dict[str, Any]:
    """`manifest` as kube-apiserver 1.37 returns it once the PV binder bound it (read from the
    local control plane): uid, resourceVersion, creationTimestamp, a protection finalizer, one
    managedFields entry per writer (ours, the binder's spec and status updates), the
    binder's claimRef fields and annotation, a status. kmock adds none of these."""
    served = {**manifest, "metadata": dict(manifest["metadata"]), "spec": dict(manifest["spec"])}
    meta, spec = served["metadata"], served["spec"]
    is_pv = served["kind"] == "PersistentVolume"
    stamp = "2026-11-27T23:09:35Z"
    meta |= {
        "uid": f"6d3fc96e-eb2e-4c75-82bf-{index:012x}" if is_pv else claim_uid(index),
        "resourceVersion": str(200 + index),
        "creationTimestamp": stamp,
        "finalizers": ["kubernetes.io/pv-protection" if is_pv else "kubernetes.io/pvc-protection"],
    }
    if not is_pv:
        meta["annotations"] = {"pv.kubernetes.io/bind-completed": "yes"}

    def fields(tree: dict[str, Any]) -> dict[str, Any]:
        return {f"f:{key}": fields(value) if isinstance(value, dict) else {}
                for key, value in tree.items()}  # fmt: skip

    def entry(fields_v1: dict[str, Any], manager: str, **extra: str) -> dict[str, Any]:
        return {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": stamp,
                "fieldsType": "FieldsV1", "fieldsV1": fields_v1, **extra}  # fmt: skip

    ours = {"f:metadata": fields({k: manifest["metadata"][k] for k in ("labels", "annotations")
                                  if k in manifest["metadata"]}),
            "f:spec": fields(manifest["spec"])}  # fmt: skip
    meta["managedFields"] = [
        entry({"f:spec": {"f:claimRef": {"f:apiVersion": {}, "f:kind": {},
                                         "f:resourceVersion": {}, "f:uid": {}}}}
              if is_pv else {"f:metadata": {"f:annotations": {".": {}, "f:pv.kubernetes.io/"
                                                              "bind-completed": {}}}},
              "controlplane"),
        entry({"f:status": {"f:phase": {}}}, "controlplane", subresource="status"),
        entry(ours, "ebs-pv-registrar"),
    ]  # fmt: skip
    if is_pv and "claimRef" in spec:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", **spec["claimRef"],
                            "uid": claim_uid(index), "apiVersion": "v1",
                            "resourceVersion": str(199 + index)}  # fmt: skip
        served["status"] = {"phase": "Bound", "lastPhaseTransitionTime": stamp}
    else:
        requested = spec.get("resources", {}).get("requests", {})
        served["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", []),
                            "capacity": dict(requested)}  # fmt: skip
    return served


def claim_uid(index: int) -> str:
    """The bound claim's uid, which its PV's claimRef names (else the PV is stale)."""
    return f"2433c58c-9ef5-4500-bbd0-{index:012x}"


def create_volume(ec2: Any, index: int) -> dict[str, Any]:
    tags = [{"Key": k, "Value": v} for k, v in volume_tags(index).items()]
    return dict(
        ec2.create_volume(
            AvailabilityZone="us-east-1a",
            Size=1 + index % 50,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
        )
    )


