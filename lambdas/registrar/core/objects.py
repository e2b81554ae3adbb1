"""Pure questions about objects in a cluster: whose they are, which volume, how they differ."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from registrar.core import tags as t
from registrar.core.growth import request_bytes
from registrar.core.models import Kind, Manifest, kind_of

ObjectKey = tuple[Kind, str | None, str]  # kind, namespace, name


def key_of(obj: Manifest) -> ObjectKey:
    meta = obj["metadata"]
    return kind_of(obj), meta.get("namespace"), str(meta["name"])


def conflict_reason(desired: Manifest, existing: Manifest) -> str | None:
    """None when `existing` is ours and holds everything we want; else why it is not."""
    if not is_ours(existing):
        return f"exists and is not managed by {t.MANAGER}"
    want_handle = desired.get("spec", {}).get("csi", {}).get("volumeHandle")
    have_handle = existing.get("spec", {}).get("csi", {}).get("volumeHandle")
    if want_handle and have_handle != want_handle:
        return f"already holds volume {have_handle}"
    paths = [p for p in differences(desired, existing) if not _asks_less(p, desired, existing)]
    if not paths:
        return None
    return "differs in " + ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")


def _asks_less(path: str, desired: Manifest, existing: Manifest) -> bool:
    """A claim asking for less than its volume (grown since, in a class that does not expand)
    is still bound to all of it: not a difference."""
    if path != "spec.resources.requests.storage":
        return False
    want, have = request_bytes(desired), request_bytes(existing)
    return want is not None and have is not None and have <= want


# What a sweep keeps of an object's metadata: who it is, and what the registrar reads or writes.
SLIM_METADATA = ("name", "namespace", "uid", "resourceVersion", "labels", "annotations")


def slim(obj: Manifest) -> Manifest:
    """The object without what the API server adds and no comparison reads: `managedFields`
    (often the largest part of a PV), timestamps, finalizers, `status`. A new dict."""
    meta = obj.get("metadata") or {}
    kept: Manifest = {key: obj[key] for key in ("apiVersion", "kind") if key in obj}
    kept["metadata"] = {key: meta[key] for key in SLIM_METADATA if key in meta}
    if "spec" in obj:
        kept["spec"] = obj["spec"]
    return kept


# A PV and a claim as the registrar writes them: the dictionary that `pack` compresses against,
# so a packed object costs what differs from it (about 100 bytes instead of ~6 KiB as dicts).
_SAMPLE = (
    b'{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"","namespace":"",'
    b'"uid":"","resourceVersion":"","labels":{"app.kubernetes.io/managed-by":"ebs-pv-registrar"},'
    b'"annotations":{"pv.kubernetes.io/bind-completed":"yes"}},"spec":{"accessModes":'
    b'["ReadWriteOnce"],"resources":{"requests":{"storage":"Gi"}},"volumeName":"",'
    b'"storageClassName":"","volumeMode":"Filesystem"}}'
    b'{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"","uid":"",'
    b'"resourceVersion":"","labels":{"app.kubernetes.io/managed-by":"ebs-pv-registrar"},'
    b'"annotations":{"ebs-pv-registrar/cluster":"","ebs-pv-registrar/volume-id":"vol-"}},'
    b'"spec":{"capacity":{"storage":"Gi"},"csi":{"driver":"ebs.csi.aws.com","volumeHandle":'
    b'"vol-","fsType":"ext4"},"accessModes":["ReadWriteOnce"],"claimRef":{"kind":'
    b'"PersistentVolumeClaim","namespace":"","name":"","uid":"","apiVersion":"v1",'
    b'"resourceVersion":""},"persistentVolumeReclaimPolicy":"Retain","volumeMode":"Filesystem",'
    b'"nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":'
    b'"topology.kubernetes.io/zone","operator":"In","values":["us-east-1a"]}]}]}}}}'
)


def pack(obj: Manifest) -> bytes:
    """`slim(obj)` as compact JSON, deflated against a sample of our own objects."""
    packer = zlib.compressobj(6, zdict=_SAMPLE)
    text = json.dumps(slim(obj), separators=(",", ":")).encode()
    return packer.compress(text) + packer.flush()


def unpack(packed: bytes) -> Manifest:
    unpacker = zlib.decompressobj(zdict=_SAMPLE)
    return dict(json.loads(unpacker.decompress(packed) + unpacker.flush()))


def is_ours(obj: Manifest) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return bool(labels.get(t.MANAGED_BY_LABEL) == t.MANAGER)


def differences(desired: Any, existing: Any, path: str = "") -> list[str]:
    """Paths where `existing` lacks or changes what `desired` says; extra server fields are fine.

    The API server omits empty values (`omitempty`): a real one stores a PV's
    `storageClassName: ""` as no field at all, which is the same thing."""
    if existing is None and desired in ("", [], {}):
        return []
    if isinstance(desired, Mapping):
        if not isinstance(existing, Mapping):
            return [path or "."]
        found: list[str] = []
        for key, value in desired.items():
            found += differences(value, existing.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(desired, list):
        if not isinstance(existing, list) or len(existing) != len(desired):
            return [path]
        return [p for d, e in zip(desired, existing, strict=True) for p in differences(d, e, path)]
    return [] if desired == existing else [path]


def volume_of(pv: Manifest) -> str | None:
    """The EBS volume behind a PV (any CSI PV, ours or not)."""
    handle = (pv.get("spec", {}).get("csi") or {}).get("volumeHandle")
    return str(handle) if handle else None


def ebs_volume_of(pv: Manifest) -> str | None:
    """The EBS volume behind any PV: a CSI one (either EBS driver), or the in-tree
    `awsElasticBlockStore` kind whose volumeID is `vol-…` or `aws://<zone>/vol-…`."""
    handle = volume_of(pv)
    if handle:
        return handle
    in_tree = (pv.get("spec", {}).get("awsElasticBlockStore") or {}).get("volumeID")
    if not in_tree:
        return None
    return str(in_tree).rsplit("/", 1)[-1] or None


Holder = tuple[str, bool]  # a PV using a volume: its name, and whether it is ours


def holders_of(pvs: Iterable[Manifest], volume_id: str) -> list[Holder]:
    """Every PV that uses the volume, ours or not."""
    return [(str(pv["metadata"]["name"]), is_ours(pv)) for pv in pvs
            if ebs_volume_of(pv) == volume_id]  # fmt: skip


def second_pv_rule(pv_name: str, holders: Iterable[Holder]) -> str | None:
    """One volume, one PV: why the volume may not get the PV `pv_name`, when another PV
    already uses it (the `k8s-pv` rule it breaks), else None."""
    others = [(name, ours) for name, ours in holders if name != pv_name]
    foreign = [name for name, ours in others if not ours]
    if foreign:
        return f"volume is used by PV {foreign[0]}"
    if others:
        return f"already registered as PV {others[0][0]}; untag it, or delete the old unbound PV"
    return None


class ClusterView:
    """What the executor knows of one cluster, from one LIST shared by a batch or a sweep: our
    PVs and claims by key, packed (`pack`: about 100 bytes each instead of the whole object),
    our PVs of each volume, and of every other PV on an EBS volume only its name (one volume,
    one PV). The executor adds what it creates and drops what it deletes, so the rule stays
    exact within a batch."""

    def __init__(self, objects: Iterable[Manifest] = ()) -> None:
        self._packed: dict[ObjectKey, bytes] = {}
        self._ours: dict[str, list[str]] = {}  # volume -> our PVs' names, in listing order
        self._foreign: dict[str, str] = {}  # volume -> the first PV not ours that uses it
        for obj in objects:
            self.add(obj)

    def add(self, obj: Manifest) -> None:
        """One listed or created PV (any) or claim (ours are kept): nothing of `obj` is held."""
        if not is_ours(obj):
            volume_id = ebs_volume_of(obj) if obj.get("kind") == "PersistentVolume" else None
            if volume_id:
                self._foreign.setdefault(volume_id, str(obj["metadata"]["name"]))
            return
        key = key_of(obj)
        self._packed[key] = pack(obj)
        volume_id = volume_of(obj) if key[0] == "PersistentVolume" else None
        if volume_id is not None and key[2] not in self._ours.setdefault(volume_id, []):
            self._ours[volume_id].append(key[2])

    def add_foreign(self, volume_id: str, name: str) -> None:
        self._foreign.setdefault(volume_id, name)

    def discard(self, obj: Manifest) -> None:
        key = key_of(obj)
        self._packed.pop(key, None)
        names = self._ours.get(volume_of(obj) or "", [])
        if key[2] in names:
            names.remove(key[2])

    def get(self, key: ObjectKey) -> Manifest | None:
        packed = self._packed.get(key)
        return None if packed is None else unpack(packed)

    def known(self, items: Iterable[Manifest]) -> dict[ObjectKey, Manifest]:
        """The listed objects for these desired ones (what a repair compares)."""
        found = ((key_of(item), self.get(key_of(item))) for item in items)
        return {key: obj for key, obj in found if obj is not None}

    def holders(self, volume_id: str) -> list[Holder]:
        """Every PV using the volume, ours first."""
        ours = [(name, True) for name in self._ours.get(volume_id, [])]
        foreign = self._foreign.get(volume_id)
        return ours if foreign is None else [*ours, (foreign, False)]

    def our_pvs(self, volume_id: str) -> list[Manifest]:
        found = (self.get(("PersistentVolume", None, n)) for n in self._ours.get(volume_id, []))
        return [pv for pv in found if pv is not None]

    def volumes(self) -> list[str]:
        """The volumes our PVs hold."""
        return sorted(v for v, names in self._ours.items() if names)
