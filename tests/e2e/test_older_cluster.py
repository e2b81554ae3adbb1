"""A cluster older than Kubernetes 1.30, as docs/deploy.md describes it: no
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy. A second control plane with that API
and its admission plugin switched off (the state of a pre-1.30 cluster: v1 does not exist
there, the v1beta1 of 1.28/1.29 is off by default) shows what the docs promise: applying the
policy fails with the documented message, k8s/rbac.yaml alone applies, the registrar's own
requests work, and what the policy would refuse is no longer refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from devcluster.standins.access import AccessModelError, as_registrar, kubectl
from devcluster.standins.controlplane import REPO, ControlPlane, build_binary
from devcluster.standins.tlsapi import Tls
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_admission_policy import PVS, claim, claims, volume

WITHOUT_POLICIES = (
    "--runtime-config=admissionregistration.k8s.io/v1/validatingadmissionpolicies=false,"
    "admissionregistration.k8s.io/v1/validatingadmissionpolicybindings=false",
    # with the API off the plugin would wait forever for its informers
    "--disable-admission-plugins=ValidatingAdmissionPolicy",
)


class OlderControlPlane(ControlPlane):
    def _write_config(self, binary: Path) -> Sequence[str]:
        return [*super()._write_config(binary), *WITHOUT_POLICIES]


@pytest.fixture(scope="module")
def older(
    tls: Tls, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    plane = OlderControlPlane(tmp_path_factory.mktemp("older"), tls, moto_endpoint)
    plane.start(build_binary())
    try:
        yield plane
    finally:
        plane.stop()


def test_policy_does_not_apply_and_rbac_alone_keeps_the_registrar_working(
    older: ControlPlane,
) -> None:
    missing = r'no matches for kind "ValidatingAdmissionPolicy" in version "admissionregistration'
    with pytest.raises(AccessModelError, match=missing):
        kubectl(KUBECTL, older, "apply", "-f", str(REPO / "k8s" / "admission-policy.yaml"))
    kubectl(KUBECTL, older, "apply", "-f", str(REPO / "k8s" / "rbac.yaml"))

    name = f"older-{uuid.uuid4().hex[:8]}"
    status, body = as_registrar(older, "POST", PVS, volume(name, labelled=True))
    assert status == 201, body
    status, body = as_registrar(older, "POST", claims("default"),
                                claim(name, "default", labelled=True, volume_name=name))
    assert status == 201, body
    # what is lost: the API server no longer refuses what the policy would
    status, body = as_registrar(older, "POST", PVS, volume(f"{name}-x", labelled=False))
    assert status == 201, body
    status, body = as_registrar(older, "DELETE", f"{PVS}/{name}-x")
    assert status == 200, body
