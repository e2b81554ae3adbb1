"""Small helpers shared by test modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kubernetes_validate

from registrar.core.models import VolumeFacts

SCHEMA_VERSION = kubernetes_validate.latest_version()


def assert_valid_manifest(manifest: Mapping[str, Any]) -> None:
    """kubernetes-validate, strict, against the newest schema it ships."""
    kubernetes_validate.validate(dict(manifest), SCHEMA_VERSION, strict=True)


def facts(volume_id: str = "vol-0123456789abcdef0", **overrides: Any) -> VolumeFacts:
    values: dict[str, Any] = {
        "volume_id": volume_id,
        "size_gib": 10,
        "availability_zone": "us-east-1a",
        "volume_type": "gp3",
        "tags": {"k8s-pv": "data"},
    }
    values.update(overrides)
    return VolumeFacts(**values)
