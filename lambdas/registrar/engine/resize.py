"""Carry out a growth (core/growth.py): the PV's capacity, then, when the claim is bound and its
StorageClass allows expansion, the claim's request. Read fresh, since a sweep's view is slim."""

from __future__ import annotations

import contextlib

from registrar.core.binding import is_bound
from registrar.core.decision import ObjectResult
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


def _class_of(kube: KubePort, claim: Manifest) -> Manifest | None:
    name = (claim.get("spec") or {}).get("storageClassName")
    if not name:
        return None
    with contextlib.suppress(NotFoundError):
        return kube.get("StorageClass", name)
    return None
