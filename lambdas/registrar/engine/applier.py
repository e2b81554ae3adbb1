"""Apply a plan through the Kubernetes port: create, accept an identical object, never overwrite."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from registrar.core import tags as t
from registrar.core.decision import ObjectResult
from registrar.core.errors import ConflictError, RegistrarError
from registrar.core.models import Manifest
from registrar.core.objects import ObjectKey, conflict_reason, key_of
from registrar.core.planner import Plan
from registrar.core.status import refusal_reason
from registrar.engine.ports import KubePort

log = logging.getLogger(__name__)


def apply_plan(
    plan: Plan, kube: KubePort, known: Mapping[ObjectKey, Manifest] | None = None
) -> tuple[ObjectResult, ...]:
    """PV first, then the claim; a conflicting or refused PV stops before the claim.

    `known` holds objects already listed (a sweep): they are compared without a request, and
    only what is missing from it is created. An error a retry can fix (TransientError) raises;
    any other refusal is a `failed` object, and what was created before it stays: a PV whose
    claim could not be created stays Available, reserved by its claimRef, and binds as soon
    as the claim exists (kubernetes, pkg/controller/volume/persistentvolume/pv_controller.go:
    syncVolume, "volume is pre-bound to claim").

    One `Registered` Event per registration: on the claim when this call created it (where
    its users look: `kubectl describe pvc`), else on the PV this call created.
    """
    pv, pv_created = _attempt(plan.pv, kube, plan.volume_id, known)
    results, created = [pv], pv_created
    if plan.pvc is not None:
        if pv.action in ("conflict", "failed"):
            meta = plan.pvc["metadata"]
            reason = "its volume is in conflict" if pv.action == "conflict" else "its PV failed"
            kind, name, namespace = plan.pvc["kind"], meta["name"], meta["namespace"]
            results.append(ObjectResult(kind, name, namespace, "skipped", reason))
        else:
            pvc, pvc_created = _attempt(plan.pvc, kube, plan.volume_id, known)
            results.append(pvc)
            created = pvc_created or created
    if created is not None:
        message = f"Registered from EBS volume {plan.volume_id} by {t.MANAGER}"
        best_effort_event(kube, created, "Registered", message, "Normal")
    return tuple(results)


Attempt = tuple[ObjectResult, Manifest | None]  # the result, and the object if created


def _attempt(
    desired: Manifest, kube: KubePort, volume_id: str, known: Mapping[ObjectKey, Manifest] | None
) -> Attempt:
    try:
        return _ensure(desired, kube, volume_id, known)
    except RegistrarError as error:
        if error.retryable:
            raise
        kind, namespace, name = key_of(desired)
        reason = refusal_reason(kind, namespace, error)
        return ObjectResult(kind, name, namespace, "failed", reason), None


def _ensure(
    desired: Manifest, kube: KubePort, volume_id: str, known: Mapping[ObjectKey, Manifest] | None
) -> Attempt:
    kind, namespace, name = key_of(desired)
    existing = None if known is None else known.get((kind, namespace, name))
    if existing is None:
        try:
            created = kube.create(desired)
        except ConflictError:
            existing = kube.get(kind, name, namespace)
        else:
            return ObjectResult(kind, name, namespace, "created"), created
    reason = conflict_reason(desired, existing)
    if reason is not None:
        message = f"{volume_id}: {reason}"
        best_effort_event(kube, existing, "RegistrationConflict", message, "Warning")
        return ObjectResult(kind, name, namespace, "conflict", reason), None
    if t.UNMANAGED_ANNOTATION in (existing["metadata"].get("annotations") or {}):
        # Tagged again after `k8s-pv` was removed: managed once more.
        unmark = {"metadata": {"annotations": {t.UNMANAGED_ANNOTATION: None}}}
        kube.patch(kind, name, namespace, unmark)
        return ObjectResult(kind, name, namespace, "updated", "managed again"), None
    return ObjectResult(kind, name, namespace, "unchanged"), None


def best_effort_event(
    kube: KubePort, obj: Manifest, reason: str, message: str, event_type: str
) -> None:
    """Provenance is best effort: a refused Event must not undo a registration."""
    try:
        kube.record_event(obj, reason, message, event_type)
    except RegistrarError as error:
        log.warning("event not recorded", extra={"reason": reason, "error": str(error)})
