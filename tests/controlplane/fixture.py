"""Moved to devcluster.controlplane (the demo runs the same control plane); kept as an alias."""

from devcluster.controlplane import (
    BUILD_SCRIPT,
    ControlPlane,
    ControlPlaneError,
    build_binary,
    free_port,
)

__all__ = ["BUILD_SCRIPT", "ControlPlane", "ControlPlaneError", "build_binary", "free_port"]
