"""Kubernetes resources: `KubePort` (engine/ports.py) over `KubeTransport`.

Maps the few kinds the registrar handles to their core/v1 paths; what goes over the wire is
built by pure code (`core/manifests.py` for the Event).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Unpack
from urllib.parse import quote

from registrar.adapters.kube_transport import (
    DEFAULT_TIMEOUTS,
    KubeTransport,
    Timeouts,
    TokenProvider,
    TransportOptions,
)
from registrar.core.manifests import event_manifest
from registrar.core.models import Kind, Manifest

DEFAULT_PAGE_SIZE = 250


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool
    group: str = "/api/v1"


_RESOURCES: dict[str, _Resource] = {
    "PersistentVolume": _Resource("persistentvolumes", namespaced=False),
    "PersistentVolumeClaim": _Resource("persistentvolumeclaims", namespaced=True),
    # Read only: whether a claim's class lets its request grow; which instances are nodes.
    "StorageClass": _Resource("storageclasses", namespaced=False, group="/apis/storage.k8s.io/v1"),
    "Node": _Resource("nodes", namespaced=False),
}


class KubeGateway:
    """`KubePort` for one cluster; `transport` options go to its `KubeTransport`."""

    def __init__(
        self,
        endpoint: str,
        ca_pem: bytes,
        token_provider: TokenProvider,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        **transport: Unpack[TransportOptions],
    ) -> None:
        self._transport = KubeTransport(endpoint, ca_pem, token_provider, timeouts, **transport)
        self._page_size = page_size

    def close(self) -> None:
        self._transport.close()

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        res = _resource(kind)
        found = self._transport.call("GET", _path(res, namespace, name), "get", res.plural)
        return _typed(kind, found)

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        kind = str(manifest.get("kind", ""))
        res = _resource(kind)
        path = _path(res, manifest.get("metadata", {}).get("namespace"), None)
        created = self._transport.call("POST", path, "create", res.plural, body=dict(manifest))
        return _typed(kind, created)

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        res = _resource(kind)
        body = self._transport.call(
            "PATCH",
            _path(res, namespace, name),
            "patch",
            res.plural,
            body=dict(patch),
            content_type="application/merge-patch+json",
        )
        return _typed(kind, body)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        res = _resource(kind)
        self._transport.call("DELETE", _path(res, namespace, name), "delete", res.plural)

    def list(
        self, kind: Kind, label_selector: str = "", namespace: str | None = None
    ) -> Iterator[Manifest]:
        res = _resource(kind)
        path = _path(res, namespace, None)
        token = ""
        while True:
            query = {"limit": str(self._page_size)}
            if label_selector:
                query["labelSelector"] = label_selector
            if token:
                query["continue"] = token
            page = self._transport.call(
                "GET", path, "list", res.plural, query=query, object_hook=_without_managed_fields
            )
            token = (page.get("metadata") or {}).get("continue") or ""
            items = page.get("items") or []
            del page
            items.reverse()
            while items:  # an item leaves the page as it is handed over
                yield _typed(kind, items.pop())
            if not token:
                return

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        event = event_manifest(
            involved, reason, message, event_type, now=datetime.now(UTC), unique=time.time_ns()
        )
        namespace = event["metadata"]["namespace"]
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
        self._transport.call("POST", path, "create", "events", body=event)


def _resource(kind: str) -> _Resource:
    try:
        return _RESOURCES[kind]
    except KeyError:
        raise ValueError(f"unsupported kind {kind!r}") from None


def _path(res: _Resource, namespace: str | None, name: str | None) -> str:
    path = res.group
    if res.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{res.plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Decoding a LIST page: each object's `metadata.managedFields` (the larger part of an
    object as kube-apiserver serves it, read by nothing here) is dropped as soon as the
    object's metadata is parsed, so a page never holds them all."""
    obj.pop("managedFields", None)
    return obj


def _typed(kind: str, manifest: dict[str, Any]) -> Manifest:
    """List items come without kind/apiVersion; the rest of the registrar expects them."""
    manifest.setdefault("apiVersion", "v1")
    manifest.setdefault("kind", kind)
    return manifest
