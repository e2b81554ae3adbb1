"""Pure questions about objects in a cluster: whose they are, which volume, how they differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registrar.core import tags as t
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
    paths = differences(desired, existing)
    if not paths:
        return None
    return "differs in " + ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")


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
