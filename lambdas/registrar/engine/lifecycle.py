"""What happens to our objects when their volume is deleted or loses its `k8s-pv` tag."""

from __future__ import annotations

import contextlib
import logging

from registrar.core import tags as t
from registrar.core.decision import UNTAGGED, VOLUME_DELETED, ObjectResult
from registrar.core.errors import NotFoundError
from registrar.core.models import Manifest, kind_of
from registrar.core.objects import is_ours
from registrar.core.settings import Settings
from registrar.engine.applier import best_effort_event
from registrar.engine.ports import KubePort

log = logging.getLogger(__name__)


def claim_of(kube: KubePort, pv: Manifest) -> Manifest | None:
    """The claim our PV was made for, when it exists and is ours."""
    ref = pv.get("spec", {}).get("claimRef") or {}
    if not ref.get("name") or not ref.get("namespace"):
        return None
    try:
        claim = kube.get("PersistentVolumeClaim", ref["name"], ref["namespace"])
    except NotFoundError:
        return None
    return claim if is_ours(claim) else None


def release(kube: KubePort, pv: Manifest, reason: str, delete: bool) -> list[ObjectResult]:
    """Delete our claim and then our PV, or mark both as no longer managed."""
    claim = claim_of(kube, pv)
    objects = [o for o in (claim, pv) if o is not None and is_ours(o)]
    if delete:
        return [_delete(kube, obj, reason) for obj in objects]
    return [_mark_unmanaged(kube, obj, reason) for obj in objects]


def hand_off(kube: KubePort, pv: Manifest, reason: str) -> tuple[list[ObjectResult], bool]:
    """Release our objects in a handoff's source cluster: the PV made Retain first (deleting
    the claim of a Delete PV would have the CSI driver delete the volume), then our claim and
    the PV deleted. Whether the PV is gone already (its protection finalizer waits for the
    claim, which waits for its pods)."""
    name = str(pv["metadata"]["name"])
    with contextlib.suppress(NotFoundError):
        kube.patch("PersistentVolume", name, None,
                   {"spec": {"persistentVolumeReclaimPolicy": "Retain"}})  # fmt: skip
    done = release(kube, pv, reason, delete=True)
    try:
        kube.get("PersistentVolume", name)
    except NotFoundError:
        return done, True
    return done, False


def unregister_if_unbound(kube: KubePort, pv: Manifest, reason: str) -> list[ObjectResult]:
    """Delete what no pod can be using (an unbound claim and its PV); mark the rest."""
    claim = claim_of(kube, pv)
    bound = claim is not None and (claim.get("status") or {}).get("phase") == "Bound"
    return release(kube, pv, reason, delete=not bound)


def settle_orphan(
    kube: KubePort, pv: Manifest, deleted: bool, settings: Settings
) -> list[ObjectResult]:
    """The configured answer to a volume that was deleted, or that lost its `k8s-pv` tag."""
    if deleted:
        return release(kube, pv, VOLUME_DELETED, delete=settings.delete_on_volume_delete)
    if settings.unregister_on_untag:
        return unregister_if_unbound(kube, pv, UNTAGGED)
    return release(kube, pv, UNTAGGED, delete=False)


def _delete(kube: KubePort, obj: Manifest, reason: str) -> ObjectResult:
    kind, meta = kind_of(obj), obj["metadata"]
    with contextlib.suppress(NotFoundError):  # already gone: the same end
        kube.delete(kind, meta["name"], meta.get("namespace"))
    log.info("deleted", extra={"kind": kind, "object": meta["name"], "reason": reason})
    return ObjectResult(kind, meta["name"], meta.get("namespace"), "deleted", reason)


def _mark_unmanaged(kube: KubePort, obj: Manifest, reason: str) -> ObjectResult:
    kind, meta = kind_of(obj), obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    if (meta.get("annotations") or {}).get(t.UNMANAGED_ANNOTATION) == reason:
        return ObjectResult(kind, name, namespace, "unchanged", reason)
    patch = {"metadata": {"annotations": {t.UNMANAGED_ANNOTATION: reason}}}
    marked = kube.patch(kind, name, namespace, patch)
    message = f"no longer managed by {t.MANAGER}: {reason}"
    best_effort_event(kube, marked, "Unmanaged", message, "Warning")
    return ObjectResult(kind, name, namespace, "unmanaged", reason)
