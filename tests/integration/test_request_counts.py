"""I/O on the warm path, counted where it lands: at moto (through a counting proxy) and at the
kmock API server. Per registration: no AWS read when the CreateVolume record is complete (one
DescribeVolumes otherwise), one CreateTags, two object writes (PV, PVC) and one provenance
Event (on the claim), so that a registration costs at most 4 Kubernetes requests with its share
of the LIST (issue #20)."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.standins.kmockthread import KmockThread, OneCluster
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.counting import CountingProxy, kube_requests

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
TAGS = {"k8s-pv": "orders-db", "k8s-pvc": "shop/orders-data"}


@pytest.fixture
def registrar(
    aws_counter: CountingProxy, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> Registrar:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_counter.url)
    return Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(kube))


def new_volume(ec2: Any) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]}]
    created = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3", TagSpecifications=spec
    )
    return str(created["VolumeId"])


EXPECTED_KUBE = {
    # One volume, one PV: one paginated LIST of every PV (one page here) finds who uses it.
    "GET /api/v1/persistentvolumes": 1,
    "POST /api/v1/persistentvolumes": 1,
    "POST /api/v1/namespaces/shop/persistentvolumeclaims": 1,
    # Provenance: one Registered event per registration, on the claim (its namespace).
    "POST /api/v1/namespaces/shop/events": 1,
}


def test_complete_create_volume_reads_nothing_from_aws(
    registrar: Registrar, ec2: Any, aws_counter: CountingProxy, kmock_server: KmockThread
) -> None:
    volume_id = new_volume(ec2)
    aws_counter.actions.clear()  # count the registration only
    outcomes = registrar.handle(parse_event(ef.create_volume(volume_id, TAGS)))
    assert [o.result for o in outcomes] == ["registered"]
    assert dict(aws_counter.actions) == {"CreateTags": 1}
    assert dict(kube_requests(kmock_server)) == EXPECTED_KUBE


def test_incomplete_record_costs_one_describe(
    registrar: Registrar, ec2: Any, aws_counter: CountingProxy, kmock_server: KmockThread
) -> None:
    volume_id = new_volume(ec2)
    aws_counter.actions.clear()
    event = ef.create_volume(volume_id, TAGS, complete=False)
    outcomes = registrar.handle(parse_event(event))
    assert [o.result for o in outcomes] == ["registered"]
    assert dict(aws_counter.actions) == {"DescribeVolumes": 1, "CreateTags": 1}
    assert dict(kube_requests(kmock_server)) == EXPECTED_KUBE


def test_one_create_tags_of_many_volumes_lists_the_pvs_once(
    registrar: Registrar, ec2: Any, aws_counter: CountingProxy, kmock_server: KmockThread
) -> None:
    """A batch shares its cluster reads: one LIST of PVs per call, not per volume, and the
    one-volume-one-PV rule still sees the PVs the batch itself created: the volumes that ask
    for the name the first one took are refused."""
    ids = [new_volume(ec2) for _ in range(3)]  # all three ask for PV orders-db
    aws_counter.actions.clear()
    outcomes = registrar.handle(parse_event(ef.create_tags(ids, {"k8s-pv": "orders-db"})))
    assert [o.result for o in outcomes] == ["registered", "conflict", "conflict"]
    assert all(f"already holds volume {ids[0]}" in o.detail for o in outcomes[1:])
    requests = kube_requests(kmock_server)
    assert requests["GET /api/v1/persistentvolumes"] == 1
    assert requests["POST /api/v1/persistentvolumes"] == 1
    assert dict(aws_counter.actions) == {"DescribeVolumes": 3, "CreateTags": 3}
