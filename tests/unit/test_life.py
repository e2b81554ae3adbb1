"""A volume's whole life (#22) through the one executor, over in-memory ports: the cluster-name
tag of the cluster-scoped CSI policy, growth, re-use after a deleted claim, a volume attached
elsewhere."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from registrar.core import tags as t
from registrar.core.settings import Settings
from registrar.core.work import WorkItem
from registrar.engine.service import Registrar
from tests.support.fakes import FakeClusters, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOL = "vol-0000000000000000a"
CLAIM_TAGS = {"k8s-pv": "data", "k8s-pvc": "shop/data"}


def world(
    tags: dict[str, str], settings: Settings = SETTINGS, **volume: Any
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=tags, **volume))
    kube = FakeKube(namespaces=("default", "shop"))
    return Registrar(settings, volumes, FakeClusters(prod=kube)), volumes, kube


def run(registrar: Registrar, item: WorkItem) -> Any:
    [done] = registrar.run([item])
    assert done.error is None, done.error
    return done.outcome


# --- #22.2 the cluster-name tag -----------------------------------------------------------------


def test_a_registered_volume_names_its_cluster_and_loses_the_name_when_released() -> None:
    registrar, volumes, _ = world(CLAIM_TAGS)
    assert registrar.register(VOL).result == "registered"
    assert volumes.tags(VOL)[t.CSI_CLUSTER_NAME_TAG] == "prod"

    volumes.volumes[VOL] = replace(
        volumes.volumes[VOL],
        tags={k: v for k, v in volumes.tags(VOL).items() if k != t.PV_TAG},
    )
    outcome = run(registrar, WorkItem(VOL, "untagged", "cloudtrail", removed=(t.PV_TAG,)))

    assert outcome.result == "released"
    assert volumes.removals == [(VOL, (t.CSI_CLUSTER_NAME_TAG,))]
    assert t.CSI_CLUSTER_NAME_TAG not in volumes.tags(VOL)
    assert volumes.status_of(VOL) == "unmanaged prod/data: k8s-pv tag removed"


def test_an_error_status_never_names_a_cluster() -> None:
    registrar, volumes, _ = world({"k8s-pv": "Not_A_Name"})
    assert registrar.register(VOL).result == "invalid"
    assert t.CSI_CLUSTER_NAME_TAG not in volumes.tags(VOL)
