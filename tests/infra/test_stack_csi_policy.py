"""csiDriverPolicy: which AWS managed policy the EBS CSI driver's role gets, read by the
contract's rule. `cluster-scoped` is AmazonEBSCSIDriverEKSClusterScopedPolicy: its conditions
compare the resource tag `ebs.csi.aws.com/cluster-name` with `${aws:PrincipalTag/eks-cluster-name}`
(AWS Managed Policy reference, "AmazonEBSCSIDriverEKSClusterScopedPolicy";
kubernetes-sigs/aws-ebs-csi-driver, docs/AmazonEBSCSIDriverEKSClusterScopedPolicy.json), so
the role carries that principal tag for IRSA, which sets no session tags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from stacks.config import CSI_POLICIES, CSI_POLICY, ConfigError, RegistrarConfig
from tests.infra.conftest import Synth

REPO = Path(__file__).resolve().parents[2]
CSI = {"clusterName": "blue", "installCsiDriver": True}
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"


def role_properties(result: Synth) -> dict[str, Any]:
    role = result.stack.get_logical_id(result.registrar.csi_driver.role.node.default_child)  # type: ignore[union-attr, arg-type]
    properties: dict[str, Any] = result.raw["Resources"][role]["Properties"]
    return properties


def managed_policy(name: str) -> list[dict[str, Any]]:
    return [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::aws:policy/{name}"]]}]


@pytest.mark.parametrize("identity", ["pod-identity", "irsa"])
def test_cluster_scoped_attaches_the_policy_and_tags_the_role(
    identity: str, synth: Callable[..., Synth]
) -> None:
    result = synth(
        **CSI, csiDriverPolicy="cluster-scoped", csiDriverIdentity=identity, oidcProviderArn=OIDC
    )
    properties = role_properties(result)

    assert properties["ManagedPolicyArns"] == managed_policy(
        "AmazonEBSCSIDriverEKSClusterScopedPolicy"
    )
    assert {"Key": "eks-cluster-name", "Value": "blue"} in properties["Tags"]


def test_v2_is_the_default_and_tags_nothing(synth: Callable[..., Synth]) -> None:
    properties = role_properties(synth(**CSI))

    assert properties["ManagedPolicyArns"] == managed_policy("AmazonEBSCSIDriverPolicyV2")
    assert "eks-cluster-name" not in {tag["Key"] for tag in properties.get("Tags", [])}


def test_an_unknown_policy_is_refused_with_the_rules_message() -> None:
    app = cdk.App(context={"clusterName": "blue", "csiDriverPolicy": "cluster"})
    with pytest.raises(ConfigError) as refused:
        RegistrarConfig.from_context(app.node)

    assert str(refused.value) == (
        "csiDriverPolicy='cluster': must be one of v2, classic, cluster-scoped"
    )


def test_every_value_is_documented() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())["//"]["csiDriverPolicy"]
    docs = (REPO / "docs" / "deploy.md").read_text()
    [row] = [line for line in docs.splitlines() if line.startswith("| `csiDriverPolicy` |")]
    assert CSI_POLICY.allowed == tuple(CSI_POLICIES)
    for value, policy in CSI_POLICIES.items():
        assert f"{value} ({policy}" in cdk_json, value
        assert f"`{value}` (`{policy}`" in row, value
