"""Volumes the EBS CSI driver provisioned for a claim (dynamic provisioning, e.g. from the gp3
StorageClass) are never registered: Kubernetes already has their PV.

The driver tags every volume it creates with CSIVolumeName (the PV name), and, when its
external-provisioner sidecar runs with --extra-create-metadata, with
kubernetes.io/created-for/pvc/name, .../pvc/namespace and .../pv/name (aws-ebs-csi-driver:
docs/tagging.md and the tag constants of pkg/cloud). ebs.csi.aws.com/cluster=true is no such
sign: the registrar writes it itself.
"""

from __future__ import annotations

import pytest

from registrar.core.errors import InvalidInputError
from registrar.core.events import Ignored
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from tests.support.helpers import facts

PROVISIONED_BY_THE_DRIVER = {
    "CSIVolumeName": "pvc-3f1c2a5e-8b1d-4c59-9a57-0c4f2d1e6b7a",
    "kubernetes.io/created-for/pvc/name": "scratch",
    "kubernetes.io/created-for/pvc/namespace": "default",
    "kubernetes.io/created-for/pv/name": "pvc-3f1c2a5e-8b1d-4c59-9a57-0c4f2d1e6b7a",
    "ebs.csi.aws.com/cluster": "true",
}


def test_a_dynamically_provisioned_volume_is_ignored() -> None:
    result = plan_volume(facts(tags=PROVISIONED_BY_THE_DRIVER), Settings())
    assert isinstance(result, Ignored)


@pytest.mark.parametrize(
    "driver_tags",
    [
        PROVISIONED_BY_THE_DRIVER,
        # An older driver, or a provisioner without --extra-create-metadata.
        {"CSIVolumeName": "pvc-3f1c2a5e-8b1d-4c59-9a57-0c4f2d1e6b7a"},
    ],
    ids=["all-driver-tags", "csi-volume-name-only"],
)
def test_a_dynamically_provisioned_volume_tagged_k8s_pv_is_not_registered(
    driver_tags: dict[str, str],
) -> None:
    """Someone tags the driver's volume k8s-pv: a second PV for it must not be planned."""
    tags = {**driver_tags, "k8s-pv": "second-pv", "k8s-pvc": "default/second-claim"}
    try:
        result = plan_volume(facts(tags=tags), Settings())
    except InvalidInputError:
        return  # refused with a reason written on the volume
    assert not isinstance(result, Plan), result
