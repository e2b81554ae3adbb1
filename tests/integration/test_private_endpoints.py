"""A private or IP-restricted cluster endpoint the function cannot reach says so in plain words.

Field names and meanings: the EKS API reference, DescribeCluster / VpcConfigResponse
(`endpointPublicAccess`, `endpointPrivateAccess`, `publicAccessCidrs`).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from devcluster.standins.tlsapi import Tls
from registrar.adapters.aws import EksDirectory
from registrar.adapters.eks import EksConnector
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import NoConnectionError, RetryPolicy
from registrar.core.errors import ClusterUnreachableError
from registrar.core.models import ClusterInfo


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed


class Directory:
    def __init__(self, info: ClusterInfo) -> None:
        self.info = info

    def describe_cluster(self, name: str) -> ClusterInfo:
        return self.info


def connector(info: ClusterInfo) -> EksConnector:
    def gateway(info: ClusterInfo, _token: object) -> KubeGateway:
        return KubeGateway(info.endpoint, info.ca_pem, lambda _f: "t", retry=RetryPolicy(1))

    return EksConnector("us-east-1", directory=Directory(info), gateway_factory=gateway)


def test_a_private_endpoint_out_of_reach_names_the_fix(tls: Tls) -> None:
    info = ClusterInfo("prod", closed_port(), tls.ca_pem, "us-east-1", public_access=False,
                       private_access=True)  # fmt: skip
    with pytest.raises(ClusterUnreachableError) as caught:
        connector(info).kube_for("prod").list("PersistentVolume", "a=b").__next__()
    message = str(caught.value)
    assert message.startswith("cluster: prod has a private endpoint; deploy the registrar with")
    assert "vpcId" in message and "clusterSecurityGroupId" in message
    assert not caught.value.retryable


def test_a_cidr_restricted_endpoint_names_its_allow_list(tls: Tls) -> None:
    info = ClusterInfo("prod", closed_port(), tls.ca_pem, "us-east-1",
                       public_access_cidrs=("203.0.113.0/24",))  # fmt: skip
    with pytest.raises(ClusterUnreachableError, match=r"only from 203\.0\.113\.0/24"):
        connector(info).kube_for("prod").delete("PersistentVolume", "pv1")


def test_an_open_endpoint_that_refuses_is_transient_and_retried_later(tls: Tls) -> None:
    info = ClusterInfo("prod", closed_port(), tls.ca_pem, "us-east-1")
    with pytest.raises(NoConnectionError) as caught:
        connector(info).kube_for("prod").get("PersistentVolume", "pv1")
    assert caught.value.retryable


def test_describe_cluster_reads_the_endpoint_access(moto_endpoint: str) -> None:
    import boto3  # noqa: PLC0415

    eks: Any = boto3.client("eks", region_name="us-east-1")
    eks.create_cluster(
        name="private",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={
            "subnetIds": ["subnet-1"],
            "endpointPublicAccess": False,
            "endpointPrivateAccess": True,
        },
    )
    info = EksDirectory("us-east-1").describe_cluster("private")
    assert (info.public_access, info.private_access) == (False, True)
