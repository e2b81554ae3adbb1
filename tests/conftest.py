"""Session-wide peers: a moto server on a free loopback port behind the harsh EC2 stand-in,
CloudTrail's LookupEvents, sample events, settings.

The registrar's clients (AWS_ENDPOINT_URL) meet AWS as harsh as it is documented to be
(devcluster/standins/harshness.py; `EBS_PV_STANDINS=mild` for the kind one); a test's own
setup and checks (`ec2`) talk to moto directly, as the account's owner would see it settled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.standins import harshness
from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.harsh_ec2 import HarshEc2
from devcluster.standins.kmockthread import KmockThread
from devcluster.standins.motoserver import MotoServer, environment
from devcluster.standins.tlsapi import Tls, make_tls
from registrar.adapters.kube import KubeGateway
from tests.support.counting import CountingProxy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def moto_direct() -> Iterator[str]:
    """The moto server itself: what the account holds, without AWS's harshness."""
    server = MotoServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def harsh_ec2(moto_direct: str) -> Iterator[HarshEc2]:
    proxy = HarshEc2(moto_direct, harshness.from_env())
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def moto_endpoint(harsh_ec2: HarshEc2) -> Iterator[str]:
    """moto behind the harsh EC2 stand-in; AWS_ENDPOINT_URL points every client at it."""
    with environment(_AWS_ENV | {"AWS_ENDPOINT_URL": harsh_ec2.url}):
        yield harsh_ec2.url


_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account or read the developer's profile."""
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in _AWS_ENV.items():
        monkeypatch.setenv(key, os.environ.get(key, value))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def kmock_server(tls: Tls) -> Iterator[KmockThread]:
    server = KmockThread(tls)
    yield server
    server.close()


@pytest.fixture
def kube(kmock_server: KmockThread, tls: Tls) -> Iterator[KubeGateway]:
    """Our real Kubernetes gateway, talking TLS to a fresh kmock emulator."""
    gateway = KubeGateway(kmock_server.url, tls.ca_pem, lambda _force: "test-token")
    yield gateway
    gateway.close()


@pytest.fixture
def ec2(moto_endpoint: str, moto_direct: str) -> Any:
    """The test's own EC2 client: straight to moto, never throttled, no lag."""
    import boto3  # noqa: PLC0415

    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_direct)


@pytest.fixture
def aws_counter(moto_endpoint: str, moto_direct: str) -> Iterator[CountingProxy]:
    """Counts calls to a calm moto: the tests that count inject their own faults."""
    proxy = CountingProxy(moto_direct)
    yield proxy
    proxy.close()


@pytest.fixture
def trail(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> Iterator[CloudTrailStandIn]:
    """CloudTrail's LookupEvents with its delivery lag and its 2 requests a second."""
    record = CloudTrailStandIn(harshness.from_env())
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", record.url)
    yield record
    record.close()
