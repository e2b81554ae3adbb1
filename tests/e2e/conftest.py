"""A real Kubernetes control plane for end-to-end tests (devcluster/controlplane.py runs the
binary built from tests/controlplane/).

`control_plane` (session): etcd + kube-apiserver + the PV binder controller + kube-scheduler and
the Deployment controllers on loopback (no nodes unless a test adds them with
devcluster.nodes.add_zone_node), TLS, RBAC, tokens checked by an EKS-style webhook against the
moto server's STS. Attributes: `url`, `ca_pem`, `cluster`, `admin_token`, `admin_kubeconfig`
(a file for kubectl); methods: `add_access_entry(role_arn, username, groups)`,
`remove_access_entry(role_arn)`, `gateway(token_provider)`, `admin_gateway()`,
`admin_request(method, path, body)`; `reviews` lists the webhook's decisions.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import access
from devcluster.controlplane import ControlPlane, build_binary
from devcluster.tlsapi import Tls
from registrar.adapters.kube import KubeGateway
from registrar.core.models import Kind

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"


@pytest.fixture(scope="session")
def control_plane(
    tls: Tls,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[ControlPlane]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    # The first build takes minutes: let its progress through pytest's capture.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        binary = build_binary()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), tls, moto_endpoint)
    try:
        plane.start(binary)
        yield plane
    finally:
        plane.stop()


def kubectl(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl (.venv/bin) with the admin credential."""
    return subprocess.run(
        [str(KUBECTL), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def rbac_applied(control_plane: ControlPlane) -> ControlPlane:
    """k8s/admission-policy.yaml then k8s/rbac.yaml applied with the admin credential, and
    the policy seen enforced (devcluster/access.py): every e2e test runs under both."""
    access.apply(control_plane, KUBECTL)
    return control_plane


def wait_phase(
    gateway: KubeGateway, kind: Kind, name: str, namespace: str | None, timeout: float = 20
) -> str:
    """Poll the object until it is Bound or `timeout` passes; its last phase."""
    deadline = time.monotonic() + timeout
    while True:
        phase = str(gateway.get(kind, name, namespace).get("status", {}).get("phase"))
        if phase == "Bound" or time.monotonic() > deadline:
            return phase
        time.sleep(0.2)
