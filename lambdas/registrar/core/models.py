"""Typed facts the registrar works on: plain frozen dataclasses, cheap to import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Manifest = dict[str, Any]
Kind = Literal["PersistentVolume", "PersistentVolumeClaim", "StorageClass", "Node"]


def kind_of(obj: Manifest) -> Kind:
    kind = obj.get("kind")
    if kind == "PersistentVolume":
        return "PersistentVolume"
    if kind == "PersistentVolumeClaim":
        return "PersistentVolumeClaim"
    raise ValueError(f"not a PersistentVolume or claim: {kind!r}")


@dataclass(frozen=True)
class VolumeFacts:
    """What the planner needs to know about one EBS volume."""

    volume_id: str
    size_gib: int
    availability_zone: str
    volume_type: str = "gp3"
    multi_attach: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str = "available"
    # Instances holding it: DescribeVolumes `Attachments` in any state but `detached`.
    attached_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterInfo:
    """An EKS cluster's API endpoint and CA bundle (PEM bytes); never logged."""

    name: str
    endpoint: str
    ca_pem: bytes = field(repr=False)
    region: str = ""
    # DescribeCluster's resourcesVpcConfig: who may reach the endpoint.
    public_access: bool = True
    private_access: bool = False
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
