"""The EKS add-ons never take over or remove a working driver unless told to; Pod Identity
needs its agent, which the stack installs on request or warns about."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest

from stacks.config import ConfigError, RegistrarConfig
from tests.infra.conftest import KMS_KEY, Synth

CSI = {"clusterName": "demo", "installCsiDriver": True}


def addons(result: Synth) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AddonName"]: {**a["Properties"], "DependsOn": a.get("DependsOn", [])}
        for a in result.resources("AWS::EKS::Addon").values()
    }


def warnings(result: Synth) -> list[str]:
    return [str(m.data) for m in result.registrar.node.metadata if m.type == "aws:cdk:warning"]


def test_defaults_preserve_what_is_on_the_cluster(synth: Callable[..., Synth]) -> None:
    driver = addons(synth(**CSI))["aws-ebs-csi-driver"]
    # PRESERVE: on create like NONE (fails on a conflict, changes nothing); on update keeps
    # fields edited on the cluster (AWS::EKS::Addon ResolveConflicts).
    assert driver["ResolveConflicts"] == "PRESERVE"
    assert driver["PreserveOnDelete"] is True


@pytest.mark.parametrize("value", ["NONE", "OVERWRITE", "overwrite"])
def test_resolve_conflicts_is_an_explicit_choice(value: str, synth: Callable[..., Synth]) -> None:
    driver = addons(synth(**CSI, csiDriverResolveConflicts=value))["aws-ebs-csi-driver"]
    assert driver["ResolveConflicts"] == value.upper()


def test_preserve_on_delete_can_be_turned_off(synth: Callable[..., Synth]) -> None:
    result = synth(**CSI, installPodIdentityAgent=True, csiDriverPreserveOnDelete="false")
    for addon in addons(result).values():
        assert addon["PreserveOnDelete"] is False


def test_pod_identity_agent_installed_first_and_no_warning(full: Synth) -> None:
    installed = addons(full)
    agent = installed["eks-pod-identity-agent"]
    assert agent["ClusterName"] == "demo"
    assert (agent["ResolveConflicts"], agent["PreserveOnDelete"]) == ("PRESERVE", True)
    agent_id = next(
        key for key, a in full.resources("AWS::EKS::Addon").items()
        if a["Properties"]["AddonName"] == "eks-pod-identity-agent"
    )  # fmt: skip
    assert agent_id in installed["aws-ebs-csi-driver"]["DependsOn"]
    assert not [w for w in warnings(full) if "eks-pod-identity-agent" in w]


def test_pod_identity_without_the_agent_warns(synth: Callable[..., Synth]) -> None:
    result = synth(**CSI)
    assert "eks-pod-identity-agent" not in addons(result)
    [warning] = [w for w in warnings(result) if "eks-pod-identity-agent" in w]
    assert "installPodIdentityAgent=true" in warning
    assert "aws eks describe-addon --cluster-name demo" in warning


def test_irsa_needs_no_agent_and_gets_no_warning(synth: Callable[..., Synth]) -> None:
    result = synth(
        **CSI,
        csiDriverIdentity="irsa",
        oidcProviderArn="arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X",
    )
    assert not [w for w in warnings(result) if "eks-pod-identity-agent" in w]


def test_agent_alone(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", installPodIdentityAgent=True)
    assert list(addons(result)) == ["eks-pod-identity-agent"]


@pytest.mark.parametrize("preserve", [True, False])
def test_the_drivers_role_stays_exactly_when_the_driver_does(
    preserve: bool, synth: Callable[..., Synth]
) -> None:
    """A preserved add-on keeps running with the role it was given: deleting the role would make
    every later attach, detach or resize AccessDenied. The role carries its permissions inline,
    so nothing it needs is a separate resource deleted beside it."""
    result = synth(**CSI, csiDriverPreserveOnDelete=preserve)
    [(role_id, role)] = [
        (key, r) for key, r in result.resources("AWS::IAM::Role").items()
        if "EBS CSI driver" in r["Properties"].get("Description", "")
    ]  # fmt: skip
    expected = "Retain" if preserve else "Delete"
    assert (role.get("DeletionPolicy", "Delete"), role.get("UpdateReplacePolicy", "Delete")) == (
        expected, expected
    )  # fmt: skip
    attached = [
        p for p in result.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]  # fmt: skip
    assert attached == []
    assert addons(result)["aws-ebs-csi-driver"]["PreserveOnDelete"] is preserve


KEYS = (KMS_KEY, KMS_KEY.replace("1234abcd", "5678abcd"))


def test_customer_managed_keys_for_encrypted_volumes(synth: Callable[..., Synth]) -> None:
    """The statements of the EKS User Guide's EBS CSI driver role for customer managed keys,
    on the listed keys only; grants only for AWS resources (EBS), no action ending in *."""
    result = synth(**CSI, csiDriverKmsKeyArns=",".join(KEYS))
    [role] = [
        r for r in result.resources("AWS::IAM::Role").values()
        if "EBS CSI driver" in r["Properties"].get("Description", "")
    ]  # fmt: skip
    [policy] = role["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["GrantsForEbsOnly"] == {
        "Sid": "GrantsForEbsOnly",
        "Effect": "Allow",
        "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        "Resource": list(KEYS),
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    use = statements["UseKeysForEbs"]
    assert "Condition" not in use and use["Resource"] == list(KEYS)
    assert use["Action"] == [
        "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
        "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
    ]  # fmt: skip
    # Without keys: no KMS right at all.
    assert "kms:" not in json.dumps(synth(**CSI).raw)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({**CSI, "csiDriverKmsKeyArns": "alias/ebs"}, "must list KMS key ARNs"),
        ({**CSI, "csiDriverKmsKeyArns": f"{KMS_KEY},arn:aws:kms:us-east-1:1:key/x"}, "KMS key"),
        ({"clusterName": "demo", "csiDriverKmsKeyArns": KMS_KEY}, "needs context installCsiDriver"),
    ],
)
def test_keys_are_refused_with_the_keys_name(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        RegistrarConfig.from_context(cdk.App(context=context).node)
    assert "csiDriverKmsKeyArns" in str(raised.value)
