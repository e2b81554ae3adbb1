"""Narrow interfaces the engine depends on. The adapters (aws, eks, kube) implement them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from registrar.core.models import ClusterInfo, Kind, Manifest, VolumeFacts
from registrar.core.work import WorkItem


class VolumeReader(Protocol):
    def describe_volume(self, volume_id: str) -> VolumeFacts:
        """One DescribeVolumes call; raises NotFoundError when the volume is gone."""
        ...


class VolumeLister(Protocol):
    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        """Every volume carrying the `k8s-pv` tag key, paginated."""
        ...

    def missing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        """The volumes EC2 says do not exist (their own InvalidVolume.NotFound), batched. Only
        positive proof: a volume merely absent from a listing's page is not missing."""
        ...


class VolumeTagger(Protocol):
    def write_status(self, volume_id: str, tags: Mapping[str, str]) -> None:
        """Write the registrar's output tags (`core/status.py: status_tags`) on the volume."""
        ...

    def remove_tags(self, volume_id: str, keys: Collection[str]) -> None:
        """Remove these output tags (DeleteTags; a key the volume lacks is no error)."""
        ...


class IdentityLookup(Protocol):
    def who_set(self, volume_id: str, keys: Collection[str]) -> Mapping[str, tuple[str, ...]]:
        """For each tag key, the ARNs of whoever last set it on the volume; a key with no
        record is missing from the answer."""
        ...

    def new_invocation(self) -> None:
        """A new run starts: what was looked up before may be stale (CloudTrail has delivered
        more records since) and the run gets its own budget of lookups."""
        ...


class ClusterDirectory(Protocol):
    def describe_cluster(self, name: str) -> ClusterInfo:
        """DescribeCluster: the endpoint and CA of an EKS cluster."""
        ...


class KubePort(Protocol):
    """The few Kubernetes calls the registrar makes. Manifests are camelCase JSON dicts."""

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        """Raises NotFoundError on 404."""
        ...

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        """Raises ConflictError when the name is taken (409)."""
        ...

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        """A JSON merge patch."""
        ...

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None: ...

    def list(
        self, kind: Kind, label_selector: str = "", namespace: str | None = None
    ) -> Iterator[Manifest]:
        """Every object matching the selector (all of them without one), following `continue`
        tokens; yielded page by page, so a caller that filters holds only what it keeps."""
        ...

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        """Create a core/v1 Event about `involved` (a manifest we hold)."""
        ...


class ClusterConnector(Protocol):
    def kube_for(self, cluster: str) -> KubePort:
        """A gateway authenticated to the named cluster (cached across warm invocations)."""
        ...


class WorkSink(Protocol):
    def submit(self, items: Sequence[WorkItem]) -> None:
        """Hand repairs to whoever carries them out (a queue); the sweep does not wait."""
        ...
