"""Pure planning: (volume facts, tags, settings) -> the PV and PVC we want. No I/O, no clock.

It resolves and validates the tags into a `VolumeSpec`; `core/manifests.py` builds the objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from registrar.core import tags as t
from registrar.core.errors import InvalidInputError
from registrar.core.events import Ignored
from registrar.core.manifests import VolumeSpec, persistent_volume, persistent_volume_claim
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.settings import RECLAIM_POLICIES, Settings
from registrar.core.status import quoted, registered_cluster, registered_text

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
EKS_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")

FS_TYPES = ("ext4", "xfs", "ext3")
VOLUME_MODES = ("Filesystem", "Block")
# The EBS CSI driver accepts only SINGLE_NODE_WRITER, and MULTI_NODE_MULTI_WRITER on Block
# (aws-ebs-csi-driver, pkg/driver/controller.go: isValidCapability). ReadWriteOnce and
# ReadWriteOncePod map to single-node modes, ReadWriteMany to multi-node multi-writer;
# ReadOnlyMany (MULTI_NODE_READER_ONLY) would register a PV no pod can ever attach.
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany")
MULTI_ATTACH_TYPES = ("io1", "io2")
GONE_STATES = ("deleting", "deleted", "error")
NO_CLAIM = "none"


@dataclass(frozen=True)
class Plan:
    """What one volume should look like in one cluster."""

    volume_id: str
    cluster: str | None
    pv: Manifest
    pvc: Manifest | None

    @property
    def pv_name(self) -> str:
        return str(self.pv["metadata"]["name"])

    @property
    def claim(self) -> tuple[str, str] | None:
        if self.pvc is None:
            return None
        meta = self.pvc["metadata"]
        return str(meta["namespace"]), str(meta["name"])

    @property
    def items(self) -> list[Manifest]:
        return [self.pv] if self.pvc is None else [self.pv, self.pvc]


def plan_volume(
    facts: VolumeFacts, settings: Settings, cluster_override: str | None = None
) -> Plan | Ignored:
    """The desired objects for a volume, or why it is not ours. Raises InvalidInputError."""
    tags = facts.tags
    if t.PV_TAG not in tags:
        return Ignored(f"{facts.volume_id} has no {t.PV_TAG} tag")
    if facts.state in GONE_STATES:
        return Ignored(f"{facts.volume_id} is {facts.state}")
    if facts.size_gib < 1:
        raise InvalidInputError("volume size", f"must be at least 1 GiB, got {facts.size_gib}")
    if not facts.availability_zone:
        raise InvalidInputError("volume availability zone", "is unknown")

    _refuse_csi_provisioned(tags)
    pv_name = tags[t.PV_TAG] or facts.volume_id
    _require(DNS1123_SUBDOMAIN, pv_name, 253, t.PV_TAG, "must be a DNS-1123 subdomain")
    claim = _claim(tags.get(t.PVC_TAG), pv_name, settings)
    cluster = _cluster(cluster_override or tags.get(t.CLUSTER_TAG), settings)
    elsewhere = registered_cluster(tags.get(t.STATUS_TAG, ""))
    # From a cluster this deployment manages, the volume moves (core/decision.py: a handoff);
    # from any other, nothing here can release it.
    if cluster is not None and elsewhere not in (None, cluster, *settings.clusters):
        rule = f"already registered in cluster {quoted(str(elsewhere))}; unregister it there first"
        raise InvalidInputError(t.CLUSTER_TAG, rule)
    volume_mode = _choice(tags, t.VOLUME_MODE_TAG, VOLUME_MODES, "Filesystem")
    fs_type = _fs_type(tags, volume_mode)
    access_mode = _access_mode(tags)
    if access_mode == "ReadWriteMany" and not (
        volume_mode == "Block" and facts.multi_attach and facts.volume_type in MULTI_ATTACH_TYPES
    ):
        raise InvalidInputError(
            t.ACCESS_MODE_TAG, "ReadWriteMany needs Block mode on a multi-attach io1/io2 volume"
        )
    reclaim = _choice(tags, t.RECLAIM_POLICY_TAG, RECLAIM_POLICIES, "Retain")
    if reclaim not in settings.allowed_reclaim_policies:
        allowed = ", ".join(settings.allowed_reclaim_policies)
        rule = f"{reclaim} is not allowed by this deployment (allowed: {allowed})"
        raise InvalidInputError(t.RECLAIM_POLICY_TAG, rule)
    storage_class = tags.get(t.STORAGE_CLASS_TAG, "")
    if storage_class:
        rule = "must be a DNS-1123 subdomain or empty"
        _require(DNS1123_SUBDOMAIN, storage_class, 253, t.STORAGE_CLASS_TAG, rule)

    spec = VolumeSpec(
        volume_id=facts.volume_id,
        pv_name=pv_name,
        capacity=f"{facts.size_gib}Gi",
        zone=facts.availability_zone,
        zone_label=settings.zone_label,
        csi_driver=settings.csi_driver,
        access_mode=access_mode,
        volume_mode=volume_mode,
        fs_type=fs_type,
        reclaim_policy=reclaim,
        storage_class=storage_class,
        cluster=cluster,
        claim=claim,
    )
    return Plan(facts.volume_id, cluster, persistent_volume(spec), persistent_volume_claim(spec))


def registered_status(plan: Plan) -> str:
    return registered_text(plan.cluster, plan.pv_name, plan.claim)


def _refuse_csi_provisioned(tags: Mapping[str, str]) -> None:
    """A volume the EBS CSI driver provisioned belongs to its PV and that PV's claim: registering
    it again would hand another namespace the same data."""
    if not any(key in tags for key in t.CSI_PROVISIONED_TAGS):
        return
    pv = tags.get(t.CSI_PV_NAME_TAG) or tags.get(t.CSI_VOLUME_NAME_TAG) or "unknown"
    rule = f"volume was provisioned by the EBS CSI driver for PV {quoted(pv, limit=80)}"
    claim_name = tags.get(t.CSI_PVC_NAME_TAG)
    if claim_name:
        namespace = tags.get(t.CSI_PVC_NAMESPACE_TAG, "?")
        rule += f" (claim {quoted(namespace + '/' + claim_name, limit=120)})"
    raise InvalidInputError(t.PV_TAG, rule + "; it is not registered again")


def _access_mode(tags: Mapping[str, str]) -> str:
    value = tags.get(t.ACCESS_MODE_TAG)
    if value is None:
        return "ReadWriteOnce"
    if value not in ACCESS_MODES:
        rule = (
            f"the EBS CSI driver supports {', '.join(ACCESS_MODES)} (ReadWriteMany: Block on "
            f"multi-attach io1/io2), got {quoted(value)}"
        )
        raise InvalidInputError(t.ACCESS_MODE_TAG, rule)
    return value


def _claim(value: str | None, pv_name: str, settings: Settings) -> tuple[str, str] | None:
    if value == NO_CLAIM:
        return None
    if value is None or value == "":
        namespace, name = settings.default_namespace, pv_name
    elif value.count("/") == 1:
        namespace, name = value.split("/")
    elif "/" in value:
        rule = f"must be 'namespace/name' or 'name', got {quoted(value)}"
        raise InvalidInputError(t.PVC_TAG, rule)
    else:
        namespace, name = settings.default_namespace, value
    _require(DNS1123_LABEL, namespace, 63, t.PVC_TAG, "namespace must be a DNS-1123 label")
    _require(DNS1123_SUBDOMAIN, name, 253, t.PVC_TAG, "name must be a DNS-1123 subdomain")
    if not settings.namespace_allowed(namespace):
        raise InvalidInputError(t.PVC_TAG, f"namespace {quoted(namespace)} is not allowed")
    return namespace, name


def _cluster(value: str | None, settings: Settings) -> str | None:
    if value is None or value == "":
        return settings.default_cluster
    if not EKS_CLUSTER_NAME.fullmatch(value):
        raise InvalidInputError(t.CLUSTER_TAG, f"must be an EKS cluster name, got {quoted(value)}")
    if settings.allowed_clusters and value not in settings.allowed_clusters:
        raise InvalidInputError(t.CLUSTER_TAG, f"cluster {quoted(value)} is not allowed")
    return value


def _fs_type(tags: Mapping[str, str], volume_mode: str) -> str | None:
    value = tags.get(t.FSTYPE_TAG)
    if volume_mode == "Block":
        if value:
            raise InvalidInputError(t.FSTYPE_TAG, "only with volume mode Filesystem")
        return None
    if value is None:
        return "ext4"
    if value not in FS_TYPES:
        rule = f"must be one of {', '.join(FS_TYPES)}, got {quoted(value)}"
        raise InvalidInputError(t.FSTYPE_TAG, rule)
    return value


def _choice(tags: Mapping[str, str], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = tags.get(key)
    if value is None:
        return default
    if value not in allowed:
        raise InvalidInputError(key, f"must be one of {', '.join(allowed)}, got {quoted(value)}")
    return str(value)


def _require(pattern: re.Pattern[str], value: str, limit: int, tag: str, rule: str) -> None:
    if len(value) > limit:
        raise InvalidInputError(tag, f"must be at most {limit} characters, got {len(value)}")
    if not pattern.fullmatch(value):
        raise InvalidInputError(tag, f"{rule}, got {quoted(value)}")
