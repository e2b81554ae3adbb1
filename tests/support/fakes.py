"""In-memory fakes of the engine's ports (engine/ports.py): the engine's branches in milliseconds.

They keep the contracts the adapters keep and the integration tests prove over HTTP: a create
of a taken name raises ConflictError, a missing object NotFoundError, a namespaced create in a
namespace that does not exist answers 404 as kube-apiserver does, a list filters by
`key=value` label selectors. They record what the logic can observe: objects by key, requests,
Events, the tags written on volumes. `FakeKube.fail_on` scripts errors for one kind of request.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from registrar.core import tags as t
from registrar.core.errors import ConflictError, NotFoundError, RegistrarError
from registrar.core.models import Kind, Manifest, VolumeFacts

Key = tuple[str, str | None, str]  # kind, namespace, name
EVENT = "Event"  # fail_on("create", EVENT, …) makes record_event fail


class FakeKube:
    """KubePort over a dict of objects; `namespaces` exist, others answer 404 to a create."""

    def __init__(
        self, objects: Iterable[Manifest] = (), namespaces: Iterable[str] = ("default",)
    ) -> None:
        self.objects: dict[Key, Manifest] = {}
        self.namespaces = set(namespaces)
        self.requests: list[tuple[str, str, str | None]] = []  # verb, kind, namespace
        self.events: list[tuple[str, str]] = []  # reason, message
        self.event_kinds: list[str] = []  # the kind of object each Event is about
        self._failures: dict[tuple[str, str], tuple[RegistrarError, int | None]] = {}
        for obj in objects:
            self.add(obj)

    def fail_on(
        self, verb: str, kind: str, error: RegistrarError, times: int | None = None
    ) -> None:
        """Raise `error` for this verb and kind: `times` times, or until `heal()`."""
        self._failures[(verb, kind)] = (error, times)

    def heal(self) -> None:
        self._failures.clear()

    def add(self, manifest: Manifest) -> Manifest:
        """An object already in the cluster (hand-written, or left by an earlier run)."""
        stored = copy.deepcopy(manifest)
        stored["metadata"].setdefault("uid", f"uid-{len(self.objects)}")
        self.objects[_key(stored)] = stored
        return stored

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
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise NotFoundError(f"{kind} {name} not found")
        _merge(obj, patch)
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
        for (obj_kind, obj_namespace, _name), obj in builtins.list(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if obj_kind != kind or namespace not in (None, obj_namespace):
                continue
            if all(labels.get(k) == v for k, v in wanted.items()):
                yield copy.deepcopy(obj)

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        self._fail_if_scripted("create", EVENT)  # Events are not counted as requests
        self.events.append((reason, message))
        self.event_kinds.append(str(involved.get("kind")))

    def names(self, kind: str) -> builtins.list[str]:
        return sorted(name for (k, _ns, name) in self.objects if k == kind)

    def writes(self) -> builtins.list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] in ("create", "patch", "delete")]

    def _request(self, verb: str, kind: str, namespace: str | None) -> None:
        self.requests.append((verb, kind, namespace))
        self._fail_if_scripted(verb, kind)

    def _fail_if_scripted(self, verb: str, kind: str) -> None:
        scripted = self._failures.get((verb, kind))
        if scripted is None:
            return
        error, times = scripted
        if times is not None:
            if times <= 1:
                del self._failures[(verb, kind)]
            else:
                self._failures[(verb, kind)] = (error, times - 1)
        raise error


class FakeVolumes:
    """VolumeReader, VolumeLister and VolumeTagger over a dict of volumes."""

    def __init__(self, *volumes: VolumeFacts) -> None:
        self.volumes = {v.volume_id: v for v in volumes}
        self.writes: list[tuple[str, dict[str, str]]] = []
        self.removals: list[tuple[str, tuple[str, ...]]] = []
        self.describes = 0

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        self.describes += 1
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise NotFoundError(f"volume {volume_id} not found") from None

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        return iter([v for v in self.volumes.values() if t.PV_TAG in v.tags])

    def missing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        return set(volume_ids) - set(self.volumes)

    def write_status(self, volume_id: str, tags: Mapping[str, str]) -> None:
        self.writes.append((volume_id, dict(tags)))
        self.retag(volume_id, **tags)

    def remove_tags(self, volume_id: str, keys: Collection[str]) -> None:
        self.removals.append((volume_id, tuple(keys)))
        volume = self.volumes.get(volume_id)
        if volume is not None:
            kept = {k: v for k, v in volume.tags.items() if k not in keys}
            self.volumes[volume_id] = replace(volume, tags=kept)

    def tags(self, volume_id: str) -> Mapping[str, str]:
        return self.volumes[volume_id].tags

    def status_of(self, volume_id: str) -> str:
        return self.tags(volume_id).get(t.STATUS_TAG, "")

    @property
    def statuses(self) -> list[tuple[str, str]]:
        return [(v, tags[t.STATUS_TAG]) for v, tags in self.writes if t.STATUS_TAG in tags]

    def retag(self, volume_id: str, **tags: str) -> None:
        volume = self.volumes.get(volume_id)
        if volume is not None:
            self.volumes[volume_id] = replace(volume, tags={**volume.tags, **tags})


class FakeClusters:
    """ClusterConnector: every allowed cluster name maps to a FakeKube."""

    def __init__(self, **clusters: FakeKube) -> None:
        self.clusters = clusters

    def kube_for(self, cluster: str) -> FakeKube:
        return self.clusters[cluster]


class FakeIdentities:
    """IdentityLookup: the last writer of each tag key, as CloudTrail would tell
    (`FakeIdentities(k8s_pv=ARN)` for `k8s-pv`)."""

    def __init__(self, **writers: str) -> None:
        self.writers = {key.replace("_", "-"): (arn,) for key, arn in writers.items()}
        self.asked: list[list[str]] = []
        self.invocations = 0

    def new_invocation(self) -> None:
        self.invocations += 1

    def who_set(self, volume_id: str, keys: Collection[str]) -> dict[str, tuple[str, ...]]:
        wanted = sorted(keys)
        self.asked.append(wanted)
        return {k: v for k, v in self.writers.items() if k in wanted}


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
