"""The registration logic over in-memory ports: what is written where, for each row of the
README's error policy and the one-volume-one-PV rule."""

from __future__ import annotations

from typing import Any

import pytest

from registrar.core.settings import Settings
from registrar.core.status import status_is_current, status_tags
from registrar.engine.service import Registrar
from tests.support.fakes import FakeClusters, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
AUTO_MODE = Settings(
    default_cluster="prod", allowed_clusters=("prod",), csi_driver="ebs.csi.eks.amazonaws.com"
)
VOL = "vol-0000000000000000a"


def world(
    tags: dict[str, str], settings: Settings = SETTINGS, namespaces: tuple[str, ...] = ("default",)
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=tags))
    kube = FakeKube(namespaces)
    return Registrar(settings, volumes, FakeClusters(prod=kube)), volumes, kube


# --- status tags ---------------------------------------------------------------------------


def test_registered_volume_gets_the_csi_cluster_tag() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"})
    assert registrar.register(VOL).result == "registered"
    assert volumes.writes == [
        (VOL, {"k8s-pv-status": "registered prod/data -> default/data",
               "ebs.csi.aws.com/cluster": "true"}),
    ]  # fmt: skip


def test_invalid_volume_never_gets_the_csi_cluster_tag() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data", "k8s-access-mode": "ReadOnlyMany"})
    assert registrar.register(VOL).result == "invalid"
    [(_, written)] = volumes.writes
    assert set(written) == {"k8s-pv-status"}
    assert written["k8s-pv-status"].startswith("error: k8s-access-mode: the EBS CSI driver")
    assert kube.requests == []


def test_auto_mode_also_writes_the_eks_cluster_name() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"}, AUTO_MODE)
    registrar.register(VOL)
    [(_, written)] = volumes.writes
    assert written["eks:eks-cluster-name"] == "prod"
    assert written["ebs.csi.aws.com/cluster"] == "true"


def test_a_duplicate_event_writes_nothing() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"}, AUTO_MODE)
    registrar.register(VOL)
    registrar.register(VOL)
    assert len(volumes.writes) == 1


def test_auto_mode_tag_missing_on_an_older_registration_is_written() -> None:
    current = "registered prod/data -> default/data"
    old = {"k8s-pv": "data", "k8s-pv-status": current, "ebs.csi.aws.com/cluster": "true"}
    registrar, volumes, _ = world(old, AUTO_MODE)
    registrar.register(VOL)
    assert [w["eks:eks-cluster-name"] for _, w in volumes.writes] == ["prod"]


@pytest.mark.parametrize(
    ("status", "driver", "expected"),
    [
        ("registered prod/a", "ebs.csi.aws.com",
         {"k8s-pv-status": "registered prod/a", "ebs.csi.aws.com/cluster": "true"}),
        ("registered prod/a", "ebs.csi.eks.amazonaws.com",
         {"k8s-pv-status": "registered prod/a", "ebs.csi.aws.com/cluster": "true",
          "eks:eks-cluster-name": "prod"}),
        ("error: k8s-pv: x", "ebs.csi.eks.amazonaws.com", {"k8s-pv-status": "error: k8s-pv: x"}),
        ("unmanaged prod/a: k8s-pv tag removed", "ebs.csi.aws.com",
         {"k8s-pv-status": "unmanaged prod/a: k8s-pv tag removed"}),
    ],
)  # fmt: skip
def test_status_tags(status: str, driver: str, expected: dict[str, Any]) -> None:
    assert status_tags(status, "prod", driver) == expected
    assert status_is_current(expected, expected)
    assert not status_is_current({**expected, "k8s-pv-status": "other"}, expected)
