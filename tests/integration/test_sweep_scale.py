"""A sweep's cost at a (CI-sized) scale: an in-sync fleet costs zero writes and one request per
page (DescribeVolumes at the counting proxy in front of moto; PV and PVC lists at the API
server), never one per volume."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.standins.kmockthread import OneCluster
from devcluster.standins.scale import (
    SETTINGS,
    PagingKmockThread,
    as_served,
    create_volume,
    objects_for,
)
from devcluster.standins.tlsapi import Tls
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RateLimit
from registrar.core import tags as t
from registrar.engine.service import Registrar
from tests.support.counting import CountingProxy

FLEET = 120
PAGE = 50


@pytest.fixture
def paging_kmock(tls: Tls) -> Iterator[PagingKmockThread]:
    server = PagingKmockThread(tls)
    yield server
    server.close()


@pytest.fixture
def moto_reset(moto_endpoint: str) -> str:
    import urllib.request  # noqa: PLC0415

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    return moto_endpoint


def test_in_sync_sweep_costs_pages_not_volumes(
    moto_reset: str,
    ec2: Any,
    aws_counter: CountingProxy,
    paging_kmock: PagingKmockThread,
    tls: Tls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert paging_kmock.emulator is not None
    for index in range(FLEET):
        paging_kmock.emulator.seed(objects_for(create_volume(ec2, index)))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_counter.url)
    gateway = KubeGateway(
        paging_kmock.url,
        tls.ca_pem,
        lambda _force: "token",
        page_size=PAGE,
        rate_limit=RateLimit(qps=1000, burst=1000),
    )
    try:
        aws_counter.actions.clear()
        rows = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway)).sweep("prod")
    finally:
        gateway.close()

    assert len(rows) == FLEET
    assert {row.action for row in rows} == {"unchanged"}
    pages = math.ceil(FLEET / PAGE)
    assert pages > 1
    # One DescribeVolumes page (500 per page) and nothing written back.
    assert dict(aws_counter.actions) == {"DescribeVolumes": 1}
    assert dict(paging_kmock.emulator.counts()) == {
        "GET /api/v1/persistentvolumes": pages,
        "GET /api/v1/persistentvolumeclaims": pages,
    }


def test_paging_emulator_pages_and_selects(
    paging_kmock: PagingKmockThread, tls: Tls
) -> None:
    assert paging_kmock.emulator is not None
    mine = {"metadata": {"labels": {t.MANAGED_BY_LABEL: t.MANAGER}}}
    paging_kmock.emulator.seed(
        [{"kind": "PersistentVolume", "metadata": {"name": f"pv{i}"} | mine["metadata"]}
         for i in range(5)]
        + [{"kind": "PersistentVolume", "metadata": {"name": "foreign"}}]
    )
    gateway = KubeGateway(paging_kmock.url, tls.ca_pem, lambda _force: "t", page_size=2)
    try:
        names = [o["metadata"]["name"] for o in gateway.list("PersistentVolume",
                                                              t.MANAGED_SELECTOR)]
        assert gateway.get("PersistentVolume", "foreign")["metadata"]["name"] == "foreign"
    finally:
        gateway.close()
    assert names == [f"pv{i}" for i in range(5)]
    assert paging_kmock.emulator.counts()["GET /api/v1/persistentvolumes"] == 3
    assert len(paging_kmock.emulator.stamps) == 4


def test_a_listed_page_drops_managed_fields_as_it_decodes(
    paging_kmock: PagingKmockThread, tls: Tls
) -> None:
    """Objects as kube-apiserver serves them (devcluster/standins/scale.py: as_served) come out of
    a LIST without `managedFields`, everything else intact and in the server's order."""
    assert paging_kmock.emulator is not None
    created = {"VolumeId": "vol-0123456789abcdef0", "Size": 10, "AvailabilityZone": "us-east-1a",
               "VolumeType": "gp3", "Tags": [{"Key": "k8s-pv", "Value": "data-00001"}]}  # fmt: skip
    served = [as_served(o, 1) for o in objects_for(created)]
    paging_kmock.emulator.seed(served)
    gateway = KubeGateway(paging_kmock.url, tls.ca_pem, lambda _force: "t", page_size=1)
    try:
        [pv] = list(gateway.list("PersistentVolume"))
    finally:
        gateway.close()
    assert "managedFields" not in pv["metadata"]
    assert pv["spec"] == served[0]["spec"]
    assert pv["metadata"]["uid"] == served[0]["metadata"]["uid"]
