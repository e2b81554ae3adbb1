"""Context keys: one table of defaults, documented in cdk.json and docs/deploy.md."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.config import DEFAULTS, ConfigError, RegistrarConfig

REPO = Path(__file__).resolve().parents[2]


def config(**context: object) -> RegistrarConfig:
    return RegistrarConfig.from_context(cdk.App(context=context).node)


def test_cdk_json_context_is_the_defaults() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    assert cdk_json["context"] == DEFAULTS


def test_every_key_is_explained_in_cdk_json_and_docs() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    docs = (REPO / "docs" / "deploy.md").read_text()
    for key in DEFAULTS:
        assert cdk_json["//"].get(key), key
        assert f"`{key}`" in docs, key


def test_defaults() -> None:
    settings = config(clusterName="demo")
    assert settings.allowed_clusters == ("demo",)
    assert settings.reconcile_schedule == "rate(1 hour)"
    assert not (settings.create_trail or settings.install_csi_driver)
    assert not settings.cluster_admin_policy


VPC_ID = "vpc-0123456789abcdef0"
SUBNET = "subnet-0123abcd"
GROUP = "sg-0123abcd"


def test_new_defaults_keep_what_is_on_the_cluster() -> None:
    settings = config(clusterName="demo")
    assert settings.csi_driver_resolve_conflicts == "PRESERVE"
    assert settings.csi_driver_preserve_on_delete
    assert not settings.install_pod_identity_agent
    assert settings.vpc is None
    assert not settings.apply_manifests
    assert settings.create_dashboard


def test_vpc_from_the_command_line() -> None:
    vpc = config(
        clusterName="demo",
        vpcId=VPC_ID,
        vpcSubnetIds=f" {SUBNET}, subnet-0123456789abcdef1 ",
        clusterSecurityGroupId=GROUP,
        createVpcEndpoints="true",
    ).vpc
    assert vpc is not None
    assert vpc.subnet_ids == (SUBNET, "subnet-0123456789abcdef1")
    assert vpc.security_group_ids == ()
    assert vpc.create_endpoints
    assert vpc.endpoint_services == ("sts", "ec2", "eks", "xray")


def test_booleans_from_the_command_line() -> None:
    # -c createTrail=true arrives as the string "true".
    assert config(clusterName="demo", createTrail="true").create_trail
    assert not config(clusterName="demo", createTrail="false").create_trail


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"clusterName": "a", "allowedClusters": "b,c"}, "allowedClusters"),
        ({"clusterName": "a", "csiDriverIdentity": "node-role"}, "csiDriverIdentity"),
        ({"clusterName": "a", "csiDriverPolicy": "v3"}, "csiDriverPolicy"),
        ({"clusterName": "a", "installCsiDriver": True, "csiDriverIdentity": "irsa"}, "oidc"),
        ({"allowedClusters": "a", "installCsiDriver": True}, "clusterName"),
        ({"clusterName": "a", "csiDriverResolveConflicts": "KEEP"}, "csiDriverResolveConflicts"),
        ({"allowedClusters": "a", "installPodIdentityAgent": True}, "clusterName"),
        ({"clusterName": "a", "applyManifests": True}, "kubectlRoleArn"),
        ({"clusterName": "a", "vpcSubnetIds": SUBNET}, "need context vpcId"),
        ({"clusterName": "a", "createVpcEndpoints": True}, "need context vpcId"),
        ({"clusterName": "a", "clusterSecurityGroupId": GROUP}, "need context vpcId"),
        ({"clusterName": "a", "vpcId": VPC_ID}, "vpcSubnetIds"),
        ({"clusterName": "a", "vpcId": "my-vpc", "vpcSubnetIds": SUBNET}, "not a VPC id"),
        ({"clusterName": "a", "vpcId": VPC_ID, "vpcSubnetIds": "sg-0123abcd"}, "subnet id"),
        (
            {"clusterName": "a", "vpcId": VPC_ID, "vpcSubnetIds": SUBNET, "securityGroupIds": "x"},
            "group id",
        ),
    ],
)
def test_invalid_context(context: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**context)
