"""In-memory fakes of the engine's ports (engine/ports.py), for fast unit tests of the logic.

They keep only what the logic can observe: objects by key, the tags written on volumes, and the
requests made. `FakeKube.fail_on` scripts an error for one kind of request.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from registrar.core.errors import ConflictError, NotFoundError, RegistrarError
from registrar.core.models import Kind, Manifest, VolumeFacts

Key = tuple[str, str | None, str]  # kind, namespace, name


class FakeKube:
    """KubePort: a dict of objects. Namespaces listed in `namespaces` exist; a namespaced create
    anywhere else answers 404, as kube-apiserver does."""

    def __init__(self, namespaces: Iterable[str] = ("default",)) -> None:
        self.objects: dict[Key, Manifest] = {}
        self.namespaces = set(namespaces)
        self.requests: list[tuple[str, str, str | None]] = []  # verb, kind, namespace
        self.events: list[tuple[str, str]] = []  # reason, message
        self._failures: dict[tuple[str, str], RegistrarError] = {}

    def fail_on(self, verb: str, kind: str, error: RegistrarError) -> None:
        self._failures[(verb, kind)] = error

    def heal(self) -> None:
        self._failures.clear()

    def add(self, manifest: Manifest) -> Manifest:
        """An object already in the cluster (hand-written, or left by an earlier run)."""
        stored = copy.deepcopy(manifest)
        stored["metadata"].setdefault("uid", f"uid-{len(self.objects)}")
        self.objects[_key(stored)] = stored
        return stored

    def _request(self, verb: str, kind: str, namespace: str | None) -> None:
        self.requests.append((verb, kind, namespace))
        error = self._failures.get((verb, kind))
        if error is not None:
            raise error

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        self._request("get", kind, namespace)
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError:
            raise NotFoundError(f"{kind} {name} not found") from None

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        obj = copy.deepcopy(dict(manifest))
        namespace = obj["metadata"].get("namespace")
        self._request("create", obj["kind"], namespace)
        if namespace is not None and namespace not in self.namespaces:
            raise NotFoundError(f'HTTP 404: namespaces "{namespace}" not found')
        if _key(obj) in self.objects:
            raise ConflictError(f"{obj['kind']} {obj['metadata']['name']} already exists")
        return copy.deepcopy(self.add(obj))

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        self._request("patch", kind, namespace)
        obj = self.objects[(kind, namespace, name)]
        annotations = obj["metadata"].setdefault("annotations", {})
        for key, value in patch.get("metadata", {}).get("annotations", {}).items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        return copy.deepcopy(obj)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        self._request("delete", kind, namespace)
        if self.objects.pop((kind, namespace, name), None) is None:
            raise NotFoundError(f"{kind} {name} not found")

    def list(
        self, kind: Kind, label_selector: str = "", namespace: str | None = None
    ) -> Iterator[Manifest]:
        self._request("list", kind, namespace)
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(",") if pair)
        for (obj_kind, _ns, _name), obj in list(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if obj_kind == kind and all(labels.get(k) == v for k, v in wanted.items()):
                yield copy.deepcopy(obj)

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        self.events.append((reason, message))

    def names(self, kind: str) -> list[str]:
        return sorted(name for (k, _ns, name) in self.objects if k == kind)


class FakeVolumes:
    """VolumeReader, VolumeLister and VolumeTagger over a dict of volumes."""

    def __init__(self, *volumes: VolumeFacts) -> None:
        self.volumes = {v.volume_id: v for v in volumes}
        self.writes: list[tuple[str, dict[str, str]]] = []

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise NotFoundError(f"volume {volume_id} not found") from None

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        return iter([v for v in self.volumes.values() if "k8s-pv" in v.tags])

    def existing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        return set(volume_ids) & set(self.volumes)

    def write_status(self, volume_id: str, tags: Mapping[str, str]) -> None:
        self.writes.append((volume_id, dict(tags)))
        volume = self.volumes[volume_id]
        self.volumes[volume_id] = replace(volume, tags={**volume.tags, **tags})

    def tags(self, volume_id: str) -> Mapping[str, str]:
        return self.volumes[volume_id].tags

    def retag(self, volume_id: str, **tags: str) -> None:
        volume = self.volumes[volume_id]
        self.volumes[volume_id] = replace(volume, tags={**volume.tags, **tags})


class FakeClusters:
    """ClusterConnector: every allowed cluster name maps to a FakeKube."""

    def __init__(self, **clusters: FakeKube) -> None:
        self.clusters = clusters

    def kube_for(self, cluster: str) -> FakeKube:
        return self.clusters[cluster]


def _key(obj: Manifest) -> Key:
    return str(obj["kind"]), obj["metadata"].get("namespace"), str(obj["metadata"]["name"])
