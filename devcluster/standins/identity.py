"""The registrar's identity and cluster directory as the Lambda has them, against moto and the
local control plane.

Its only identity is an IAM role in moto: assumed with STS (against moto), mapped by an
access entry to the Kubernetes group `ebs-pv-registrar` (bound by k8s/rbac.yaml), used for
EC2 (DescribeVolumes, the status tag), EKS (DescribeCluster) and the EKS bearer token.

moto's DescribeCluster answers with a made-up endpoint and random bytes as the CA, so
`ControlPlaneDirectory` asks moto (as the role) and then puts the control plane's endpoint
and CA into the answer.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import botocore.session
from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from registrar.adapters.aws import call_aws
from registrar.core.errors import TransientError
from registrar.core.models import ClusterInfo
from registrar.core.settings import Settings
from registrar.wiring import Wiring, wire

GROUP = "ebs-pv-registrar"
USERNAME = "ebs-pv-registrar"
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _client(service: str, region: str, session: botocore.session.Session | None = None) -> Any:
    return (session or botocore.session.get_session()).create_client(service, region_name=region)


def create_role(region: str, prefix: str = "ebs-pv-registrar") -> str:
    """A new IAM role (unique name) that Lambda may assume; returns its ARN."""
    iam = _client("iam", region)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"])


def assume_role(role_arn: str, region: str) -> Credentials:
    """Session credentials of the role, as the Lambda runtime gets them."""
    sts = _client("sts", region)
    answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"registrar-{uuid.uuid4().hex[:8]}")
    c = answer["Credentials"]
    return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def role_session(credentials: Credentials, region: str) -> botocore.session.Session:
    """A botocore session that signs every call with `credentials` only."""
    session = botocore.session.Session()
    session.set_credentials(credentials.access_key, credentials.secret_key, credentials.token)
    session.set_config_variable("region", region)
    return session


def create_eks_cluster(name: str, region: str) -> None:
    """The cluster's entry in moto's EKS (idempotent), so DescribeCluster knows the name."""
    eks = _client("eks", region)
    with contextlib.suppress(eks.exceptions.ResourceInUseException):
        eks.create_cluster(
            name=name,
            roleArn="arn:aws:iam::123456789012:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": []},
        )


class ControlPlaneDirectory:
    """ClusterDirectory: DescribeCluster in moto (as the registrar's role), with the endpoint
    and CA replaced by a local control plane's when the name is one of the planes' clusters
    (several planes: one registrar writing to two clusters, as in a blue/green handoff)."""

    def __init__(
        self, planes: ControlPlane | Sequence[ControlPlane], session: botocore.session.Session
    ) -> None:
        listed = (planes,) if isinstance(planes, ControlPlane) else tuple(planes)
        self._planes = {plane.cluster: plane for plane in listed}
        self._eks: Any = session.create_client("eks")
        self.region = str(self._eks.meta.region_name)

    def describe_cluster(self, name: str) -> ClusterInfo:
        answer = call_aws(f"DescribeCluster {name}", lambda: self._eks.describe_cluster(name=name))
        status = answer.get("cluster", {}).get("status")
        if status != "ACTIVE":
            raise TransientError(f"DescribeCluster {name}: status {status}")
        plane = self._planes.get(name)
        if plane is None:
            raise TransientError(f"DescribeCluster {name}: no local control plane for it")
        return ClusterInfo(name=name, endpoint=plane.url, ca_pem=plane.ca_pem, region=self.region)


def wiring_for(
    plane: ControlPlane,
    region: str,
    credentials: Credentials,
    settings: Settings | None = None,
    *,
    also: Sequence[ControlPlane] = (),
) -> Wiring:
    """registrar.wiring.wire as the Lambda calls it, handed the role's credentials and the local
    directory; by default the plane's cluster is the only one. `also`: further planes it
    reaches by their cluster names (allowed too; the default cluster stays `plane`'s)."""
    session = role_session(credentials, region)
    settings = settings or Settings(
        default_cluster=plane.cluster,
        allowed_clusters=(plane.cluster, *(other.cluster for other in also)),
    )
    directory = ControlPlaneDirectory((plane, *also), session)
    return wire(settings, region, session=lambda: session, directory=directory)
