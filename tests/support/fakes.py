"""In-memory fakes of the engine's ports (engine/ports.py): the engine's branches in milliseconds.

They keep the contracts the adapters keep and the integration tests prove over HTTP: a create
of a taken name raises ConflictError, a missing object NotFoundError, a list filters by an
`key=value` label selector. `fail` makes the next calls of one method raise a given error.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registrar.core import tags as t
from registrar.core.errors import ConflictError, NotFoundError, RegistrarError
from registrar.core.models import Kind, Manifest, VolumeFacts, kind_of

Key = tuple[str, str | None, str]  # kind, namespace, name


@dataclass
class Failures:
    """Errors queued per method name; each call pops one until the queue is empty."""

    queued: dict[str, list[RegistrarError]] = field(default_factory=dict)

    def fail(self, method: str, *errors: RegistrarError) -> None:
        self.queued.setdefault(method, []).extend(errors)

    def check(self, method: str) -> None:
        pending = self.queued.get(method)
        if pending:
            raise pending.pop(0)


class FakeKube(Failures):
    """`KubePort`: objects in a dict, every call recorded as (method, kind or reason, name)."""

    def __init__(self, objects: Iterable[Manifest] = ()) -> None:
        super().__init__()
        self.objects: dict[Key, Manifest] = {}
        self.events: list[tuple[str, str, str]] = []  # (reason, involved name, message)
        self.calls: list[tuple[str, str, str]] = []
        for obj in objects:
            self.objects[_key(obj)] = copy.deepcopy(obj)

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        self.calls.append(("get", kind, name))
        self.check("get")
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError:
            raise NotFoundError(f"{kind} {name} not found") from None

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        obj = copy.deepcopy(dict(manifest))
        self.calls.append(("create", kind_of(obj), obj["metadata"]["name"]))
        self.check("create")
        if _key(obj) in self.objects:
            raise ConflictError(f"{obj['kind']} {obj['metadata']['name']} already exists")
        obj["metadata"]["uid"] = f"uid-{len(self.objects)}"
        self.objects[_key(obj)] = obj
        return copy.deepcopy(obj)

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        self.calls.append(("patch", kind, name))
        self.check("patch")
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise NotFoundError(f"{kind} {name} not found")
        _merge(obj, patch)
        return copy.deepcopy(obj)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        self.calls.append(("delete", kind, name))
        self.check("delete")
        if self.objects.pop((kind, namespace, name), None) is None:
            raise NotFoundError(f"{kind} {name} not found")

    def list(
        self, kind: Kind, label_selector: str, namespace: str | None = None
    ) -> Iterator[Manifest]:
        self.calls.append(("list", kind, label_selector))
        self.check("list")
        key, _, value = label_selector.partition("=")
        for (k, ns, _name), obj in list(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if k == kind and namespace in (None, ns) and (not key or labels.get(key) == value):
                yield copy.deepcopy(obj)

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        self.calls.append(("event", reason, involved["metadata"]["name"]))
        self.check("record_event")
        self.events.append((reason, involved["metadata"]["name"], message))

    def names(self, kind: str) -> builtins.list[str]:
        return sorted(name for (k, _ns, name) in self.objects if k == kind)

    def writes(self) -> builtins.list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] in ("create", "patch", "delete")]


class FakeVolumes(Failures):
    """`VolumeReader`, `VolumeLister` and `VolumeTagger` over a dict of volumes."""

    def __init__(self, *volumes: VolumeFacts) -> None:
        super().__init__()
        self.volumes = {v.volume_id: v for v in volumes}
        self.statuses: list[tuple[str, str]] = []
        self.describes = 0

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        self.describes += 1
        self.check("describe_volume")
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise NotFoundError(f"volume {volume_id} not found") from None

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        self.check("tagged_volumes")
        return (v for v in list(self.volumes.values()) if t.PV_TAG in v.tags)

    def existing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        return {v for v in volume_ids if v in self.volumes}

    def write_status(self, volume_id: str, status: str) -> None:
        self.check("write_status")
        self.statuses.append((volume_id, status))
        volume = self.volumes.get(volume_id)
        if volume is not None:
            tags = {**volume.tags, t.STATUS_TAG: status, t.CSI_CLUSTER_TAG: "true"}
            self.volumes[volume_id] = replace(volume, tags=tags)

    def status_of(self, volume_id: str) -> str:
        return self.volumes[volume_id].tags.get(t.STATUS_TAG, "")


class FakeClusters:
    """`ClusterConnector` over one FakeKube per cluster name."""

    def __init__(self, **clusters: FakeKube) -> None:
        self.clusters = clusters

    def kube_for(self, cluster: str) -> FakeKube:
        return self.clusters[cluster]


class FakeIdentities:
    """`IdentityLookup`: who CloudTrail says last tagged each volume."""

    def __init__(self, taggers: Mapping[str, tuple[str, ...]]) -> None:
        self.taggers = dict(taggers)
        self.lookups: list[str] = []

    def who_tagged(self, volume_id: str) -> tuple[str, ...]:
        self.lookups.append(volume_id)
        return self.taggers.get(volume_id, ())


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return str(obj["kind"]), meta.get("namespace"), str(meta["name"])


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """A JSON merge patch (RFC 7386): None deletes a key."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
