"""No token, presigned-URL signature or cluster CA reaches a log line, even at DEBUG."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from devcluster.standins.tlsapi import ApiServer, Reply, Tls
from registrar.adapters.aws import EksDirectory, assume_role_credentials
from registrar.adapters.eks import RefreshingToken, default_credentials
from registrar.adapters.kube import KubeGateway

PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"}}


def secrets_of(token: str) -> list[str]:
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    return [token, body, url, signature]


def test_token_refresh_and_describe_cluster_log_no_secrets(
    moto_endpoint: str, api: ApiServer, tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    eks = boto3.client("eks", region_name="us-east-1")
    eks.create_cluster(
        name="logged",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": []},
    )
    caplog.set_level(logging.DEBUG)  # root: botocore, urllib3, kubernetes, registrar

    issued: list[str] = []
    forced: list[bool] = []
    provider = RefreshingToken("logged", "us-east-1", default_credentials)

    def tokens(force: bool) -> str:
        forced.append(force)
        issued.append(provider(force))
        return issued[-1]

    api.queue = [Reply(401), Reply(200, PV)]
    KubeGateway(api.url, tls.ca_pem, tokens).get("PersistentVolume", "pv1")
    info = EksDirectory("us-east-1").describe_cluster("logged")
    role = assume_role_credentials("arn:aws:iam::123456789012:role/signer", "us-east-1")

    text = caplog.text
    assert "Response body" in text and "/api/v1/persistentvolumes/pv1" in text  # DEBUG was on
    assert forced == [False, True]  # the 401 made it mint again
    ca_b64 = base64.b64encode(info.ca_pem).decode()
    for secret in [s for token in issued for s in secrets_of(token)] + [ca_b64, repr(info.ca_pem)]:
        assert secret not in text
    assert tls.ca_pem.decode() not in text
    assert role.secret_key not in text and role.token not in text
