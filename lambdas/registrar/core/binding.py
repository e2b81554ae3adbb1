"""Whether our PV and its claim are bound to each other, and how a PV left Released by a
deleted claim becomes bindable again. Pure.

The PV controller binds a claim to a PV whose `claimRef` names it; once bound, the claimRef
also holds the claim's uid. When that claim is deleted the PV turns Released and keeps the
stale uid, and a new claim of the same name is never bound to it ("claim has a newer UID than
pv.ClaimRef, the old one must have been deleted": kubernetes,
pkg/controller/volume/persistentvolume/pv_controller.go, syncVolume). Without the uid (and its
resourceVersion) the PV is "pre-bound to claim" by name: Available, and bound as soon as the
claim exists (the same function).
"""

from __future__ import annotations

from registrar.core.models import Manifest

REBIND_PATCH: Manifest = {"spec": {"claimRef": {"uid": None, "resourceVersion": None}}}


def claim_ref_uid(pv: Manifest) -> str | None:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    uid = ref.get("uid")
    return str(uid) if uid else None


def is_bound(pv: Manifest, claim: Manifest | None) -> bool:
    """The PV's claimRef holds this claim's uid, and the claim names the PV."""
    if claim is None:
        return False
    uid = claim_ref_uid(pv)
    named = (claim.get("spec") or {}).get("volumeName") == pv["metadata"]["name"]
    return uid is not None and uid == (claim.get("metadata") or {}).get("uid") and named


def stale_claim(pv: Manifest, claim: Manifest | None) -> bool:
    """The PV still holds the uid of a claim that no longer exists (deleted, or deleted and
    created again under the same name): it stays Released and binds nothing."""
    uid = claim_ref_uid(pv)
    if uid is None:
        return False
    return claim is None or (claim.get("metadata") or {}).get("uid") != uid
