"""Carry out what changes our existing objects: a growth (core/growth.py: the PV's capacity,
then, when the claim is bound and its StorageClass allows expansion, the claim's request), and
a rebind (core/binding.py: a deleted claim's uid cleared from our PV). Read fresh: a sweep's
view is slim, and an event's view holds no claims."""

from __future__ import annotations

import contextlib

from registrar.core.binding import REBIND_PATCH, is_bound, stale_claim
from registrar.core.decision import REBOUND, ObjectResult
from registrar.core.errors import NotFoundError
from registrar.core.growth import expandable, growth
from registrar.core.models import Manifest, VolumeFacts
from registrar.engine.lifecycle import claim_of
from registrar.engine.ports import KubePort


def grow(kube: KubePort, volume: VolumeFacts, pv_name: str) -> tuple[ObjectResult, ...]:
    pv = kube.get("PersistentVolume", pv_name)
    claim = claim_of(kube, pv)
    bound = claim if claim is not None and is_bound(pv, claim) else None
    grown = growth(volume, pv, bound, bound is not None and expandable(_class_of(kube, bound)))
    if grown is None or grown.error is not None or grown.pv_patch is None:
        return ()
    kube.patch("PersistentVolume", pv_name, None, grown.pv_patch)
    done = [ObjectResult("PersistentVolume", pv_name, None, "updated", f"capacity {grown.size}")]
    if bound is not None:
        meta = bound["metadata"]
        if grown.claim_patch is not None:
            kube.patch("PersistentVolumeClaim", meta["name"], meta["namespace"], grown.claim_patch)
            why = f"request {grown.size}"
            done.append(ObjectResult("PersistentVolumeClaim", meta["name"], meta["namespace"],
                                     "updated", why))  # fmt: skip
        else:
            why = grown.note.split("; ", 1)[-1]
            done.append(ObjectResult("PersistentVolumeClaim", meta["name"], meta["namespace"],
                                     "unchanged", why))  # fmt: skip
    return tuple(done)


def rebind(kube: KubePort, pv_name: str) -> tuple[ObjectResult, ...]:
    """Clear our PV's claim uid when that claim is gone or is another one by the same name
    (ours: a claim not ours is a conflict the applier reports)."""
    pv = kube.get("PersistentVolume", pv_name)
    claim = claim_of(kube, pv)
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if not stale_claim(pv, claim) or (claim is None and _exists(kube, ref)):
        return ()
    kube.patch("PersistentVolume", pv_name, None, REBIND_PATCH)
    return (ObjectResult("PersistentVolume", pv_name, None, "updated", REBOUND),)


def _exists(kube: KubePort, ref: Manifest) -> bool:
    """A claim by that name that is not ours: never rebound to it."""
    try:
        kube.get("PersistentVolumeClaim", ref["name"], ref["namespace"])
    except (NotFoundError, KeyError):
        return False
    return True


def _class_of(kube: KubePort, claim: Manifest) -> Manifest | None:
    name = (claim.get("spec") or {}).get("storageClassName")
    if not name:
        return None
    with contextlib.suppress(NotFoundError):
        return kube.get("StorageClass", name)
    return None
