"""Session-wide peers: a moto server on a free loopback port, sample events, settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.standins.kmockthread import KmockThread
from devcluster.standins.motoserver import MotoServer, environment
from devcluster.standins.tlsapi import Tls, make_tls
from registrar.adapters.kube import KubeGateway
from tests.support.cloudtrail import CloudTrailRecord
from tests.support.counting import CountingProxy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server over HTTP; AWS_ENDPOINT_URL points every boto3 client at it."""
    server = MotoServer()
    server.start()
    try:
        with environment(_AWS_ENV | {"AWS_ENDPOINT_URL": server.url}):
            yield server.url
    finally:
        server.stop()


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
def ec2(moto_endpoint: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("ec2", region_name="us-east-1")


@pytest.fixture
def aws_counter(moto_endpoint: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(moto_endpoint)
    yield proxy
    proxy.close()


@pytest.fixture
def trail(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> Iterator[CloudTrailRecord]:
    record = CloudTrailRecord()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", record.url)
    yield record
    record.close()
