"""KubeGateway against kmock, a stateful Kubernetes API emulator (served over TLS here)."""

from __future__ import annotations

import asyncio
from typing import Any

import kmock
import pytest

from devcluster.standins.tlsapi import Tls
from registrar.adapters.kube import KubeGateway
from registrar.core.errors import ConflictError, NotFoundError

# kmock's fixture lives on the session loop (asyncio_default_fixture_loop_scope): run there too.
pytestmark = pytest.mark.asyncio(loop_scope="session")

LABELS = {"app.kubernetes.io/managed-by": "ebs-pv-registrar"}
PV: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "PersistentVolume",
    "metadata": {"name": "pv1", "labels": LABELS},
    "spec": {"capacity": {"storage": "8Gi"}, "csi": {"driver": "ebs.csi.aws.com"}},
}
PVC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "data", "namespace": "apps", "labels": LABELS},
    "spec": {"volumeName": "pv1", "resources": {"requests": {"storage": "8Gi"}}},
}


def gateway(server: kmock.KubernetesEmulator, tls: Tls) -> KubeGateway:
    url = f"https://127.0.0.1:{server.servers[0].port}"
    return KubeGateway(url, tls.ca_pem, lambda _force: "token")


@pytest.mark.parametrize("manifest", [PV, PVC], ids=["pv", "pvc"])
async def test_create_get_conflict_patch_list(
    kmock: kmock.KubernetesEmulator, tls: Tls, manifest: dict[str, Any]
) -> None:
    kube = gateway(kmock, tls)
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    namespace = manifest["metadata"].get("namespace")

    with pytest.raises(NotFoundError):
        await asyncio.to_thread(kube.get, kind, name, namespace)
    created = await asyncio.to_thread(kube.create, manifest)
    assert created["metadata"]["name"] == name
    got = await asyncio.to_thread(kube.get, kind, name, namespace)
    assert got["spec"] == manifest["spec"]
    with pytest.raises(ConflictError):
        await asyncio.to_thread(kube.create, manifest)

    patch = {"metadata": {"annotations": {"ebs-pv-registrar/volume-id": "vol-1"}}}
    patched = await asyncio.to_thread(kube.patch, kind, name, namespace, patch)
    assert patched["metadata"]["annotations"] == {"ebs-pv-registrar/volume-id": "vol-1"}
    assert patched["metadata"]["labels"] == LABELS

    selector = "app.kubernetes.io/managed-by=ebs-pv-registrar"
    listed = await asyncio.to_thread(lambda: list(kube.list(kind, selector, namespace)))
    assert [(o["kind"], o["metadata"]["name"]) for o in listed] == [(kind, name)]

    await asyncio.to_thread(kube.delete, kind, name, namespace)
    with pytest.raises(NotFoundError):
        await asyncio.to_thread(kube.get, kind, name, namespace)

    seen = list(kmock)
    assert {str(r.method).upper().rsplit(".", 1)[-1] for r in seen} >= {
        "GET",
        "POST",
        "PATCH",
        "DELETE",
    }
    assert {r.headers.get("Authorization") for r in seen} == {"Bearer token"}
    patches = [r for r in seen if r.headers.get("Content-Type") == "application/merge-patch+json"]
    assert len(patches) == 1


async def test_record_event_lands_in_the_claims_namespace(
    kmock: kmock.KubernetesEmulator, tls: Tls
) -> None:
    kube = gateway(kmock, tls)
    claim = await asyncio.to_thread(kube.create, PVC)
    await asyncio.to_thread(kube.record_event, claim, "Registered", "from vol-1")
    events = [key for key in kmock.objects if key[0].plural == "events"]
    assert [(ns, name.split(".")[0]) for _res, ns, name in events] == [("apps", "data")]
