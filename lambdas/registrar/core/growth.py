"""A registered volume grown by ModifyVolume: what its PV and claim should say. Pure.

EBS volumes only grow: "You can't decrease the size of an EBS volume" (Amazon EBS User Guide,
"Modify a volume using Amazon EBS Elastic Volumes"). So a volume smaller than its PV says is a
size the volume cannot have: reported, never written.

The PV's capacity follows the volume. The claim's request follows only when the claim is bound
and its StorageClass has `allowVolumeExpansion: true`: the API server's PersistentVolumeClaimResize
admission plugin refuses it otherwise ("Only bound persistent volume claims can be expanded",
"only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc
must support resize"), and the default class of our claims is `""`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registrar.core.models import Manifest, VolumeFacts

GIB = 1024**3
_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
}  # fmt: skip
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)([kMGTP]i?|)")


def quantity_bytes(text: object) -> int | None:
    """A Kubernetes storage quantity (`5Gi`, `5368709120`, `5G`) in bytes; None when it is
    not one of those forms."""
    match = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(float(match.group(1)) * _SUFFIX[match.group(2)])


def pv_bytes(pv: Manifest) -> int | None:
    return quantity_bytes(((pv.get("spec") or {}).get("capacity") or {}).get("storage"))


def request_bytes(claim: Manifest) -> int | None:
    resources = (claim.get("spec") or {}).get("resources") or {}
    return quantity_bytes((resources.get("requests") or {}).get("storage"))


def gib_text(size: int) -> str:
    return f"{size}Gi"


@dataclass(frozen=True)
class Growth:
    """What follows a volume's size: merge patches (None: nothing to write) and the words for
    the status; `error` when the size cannot be written."""

    size: str
    pv_patch: Manifest | None = None
    claim_patch: Manifest | None = None
    note: str = ""
    error: str | None = None

    @property
    def writes(self) -> bool:
        return self.pv_patch is not None or self.claim_patch is not None


def growth(
    volume: VolumeFacts, pv: Manifest, claim: Manifest | None, expandable: bool
) -> Growth | None:
    """None when the PV already says the volume's size (or says it in a form we do not read)."""
    size = gib_text(volume.size_gib)
    have = pv_bytes(pv)
    if have is None or have == volume.size_gib * GIB:
        return None
    was = str(pv["spec"]["capacity"]["storage"])
    if volume.size_gib <= 0 or volume.size_gib * GIB < have:
        why = f"volume is {size}, its PV says {was}: an EBS volume never shrinks; PV left as it is"
        return Growth(size, error=why)
    pv_patch = {"spec": {"capacity": {"storage": size}}}
    note = f"grown {was} -> {size}"
    if claim is None:
        return Growth(size, pv_patch, note=note)
    asked = request_bytes(claim)
    if asked is not None and asked >= volume.size_gib * GIB:
        return Growth(size, pv_patch, note=note)
    if not expandable:
        name = (claim.get("spec") or {}).get("storageClassName") or '""'
        return Growth(size, pv_patch, note=f"{note}; claim request kept (class {name} "
                                              "does not allow expansion)")  # fmt: skip
    claim_patch = {"spec": {"resources": {"requests": {"storage": size}}}}
    return Growth(size, pv_patch, claim_patch, note=f"{note}; claim request {size}")


def expandable(storage_class: Manifest | None) -> bool:
    """A StorageClass that allows a claim's request to grow."""
    return bool(storage_class and storage_class.get("allowVolumeExpansion") is True)
