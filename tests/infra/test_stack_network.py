"""VPC placement: the function in the cluster's subnets, its security group, the cluster's
ingress rule and the interface endpoints, all from ids (synthesis makes no lookups)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.infra.conftest import VPC, Synth
from tests.infra.test_stack_iam import by_sid

SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
OWN_GROUPS = {**VPC, "securityGroupIds": "sg-0aaaaaaaaaaaaaaa1,sg-0aaaaaaaaaaaaaaa2"}


def function(result: Synth) -> dict[str, Any]:
    [props] = [
        f["Properties"]
        for f in result.resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "registrar.handler.lambda_handler"
    ]
    return dict(props)


def test_no_vpc_by_default(minimal: Synth) -> None:
    assert "VpcConfig" not in function(minimal)
    for cfn_type in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
                     "AWS::EC2::VPCEndpoint"):  # fmt: skip
        minimal.template.resource_count_is(cfn_type, 0)
    assert not [s for s in minimal.raw["Resources"] if "ManageVpcNetworkInterfaces" in s]


def test_function_in_the_given_subnets_with_its_own_https_only_group(
    synth: Callable[..., Synth],
) -> None:
    result = synth(clusterName="demo", **VPC)
    [(group_id, group)] = result.resources("AWS::EC2::SecurityGroup").items()
    assert function(result)["VpcConfig"] == {
        "SubnetIds": SUBNETS,
        "SecurityGroupIds": [{"Fn::GetAtt": [group_id, "GroupId"]}],
    }
    assert group["Properties"]["VpcId"] == "vpc-0123456789abcdef0"
    assert group["Properties"]["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS to AWS APIs", "FromPort": 443,
         "IpProtocol": "tcp", "ToPort": 443}
    ]  # fmt: skip
    assert "SecurityGroupIngress" not in group["Properties"]
    [ingress] = result.resources("AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"] == {
        "GroupId": "sg-0123456789abcdef0",
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "SourceSecurityGroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
        "Description": "ebs-pv-registrar: the registrar calls the Kubernetes API",
    }
    # Without createVpcEndpoints: the subnets' NAT gateway carries the AWS API calls.
    result.template.resource_count_is("AWS::EC2::VPCEndpoint", 0)


def test_lambda_may_manage_its_network_interfaces_in_a_vpc(synth: Callable[..., Synth]) -> None:
    statement = by_sid(synth(clusterName="demo", **VPC), "ManageVpcNetworkInterfaces")
    assert sorted(statement["Action"]) == [
        "ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses",
    ]  # fmt: skip
    assert statement["Resource"] == "*"


def test_given_security_groups_each_reach_the_cluster(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", **OWN_GROUPS)
    result.template.resource_count_is("AWS::EC2::SecurityGroup", 0)
    assert function(result)["VpcConfig"]["SecurityGroupIds"] == [
        "sg-0aaaaaaaaaaaaaaa1", "sg-0aaaaaaaaaaaaaaa2"
    ]  # fmt: skip
    sources = sorted(
        i["Properties"]["SourceSecurityGroupId"]
        for i in result.resources("AWS::EC2::SecurityGroupIngress").values()
    )
    assert sources == ["sg-0aaaaaaaaaaaaaaa1", "sg-0aaaaaaaaaaaaaaa2"]


def test_no_cluster_ingress_without_cluster_security_group(synth: Callable[..., Synth]) -> None:
    context = {k: v for k, v in VPC.items() if k != "clusterSecurityGroupId"}
    result = synth(clusterName="demo", **context)
    result.template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def endpoint_services(result: Synth) -> list[str]:
    names = []
    for endpoint in result.resources("AWS::EC2::VPCEndpoint").values():
        parts = endpoint["Properties"]["ServiceName"]["Fn::Join"][1]
        names.append(parts[-1].lstrip("."))
    return sorted(names)


def test_interface_endpoints_for_every_api_the_function_calls(full: Synth) -> None:
    assert endpoint_services(full) == ["ec2", "eks", "sqs", "sts", "xray"]
    [(endpoint_group, _)] = [
        (key, group) for key, group in full.resources("AWS::EC2::SecurityGroup").items()
        if "interface endpoints" in group["Properties"]["GroupDescription"]
    ]  # fmt: skip
    for endpoint in full.resources("AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        assert props["VpcEndpointType"] == "Interface"
        assert props["PrivateDnsEnabled"] is True
        assert props["SubnetIds"] == SUBNETS
        assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [endpoint_group, "GroupId"]}]
    # Only the function's group may reach the endpoints, on 443.
    ingress = [
        i["Properties"] for i in full.resources("AWS::EC2::SecurityGroupIngress").values()
        if i["Properties"]["GroupId"] == {"Fn::GetAtt": [endpoint_group, "GroupId"]}
    ]  # fmt: skip
    assert len(ingress) == 1
    assert (ingress[0]["FromPort"], ingress[0]["ToPort"]) == (443, 443)


def test_cloudtrail_endpoint_when_the_function_looks_up_callers(
    synth: Callable[..., Synth],
) -> None:
    result = synth(
        clusterName="demo", **VPC, createVpcEndpoints=True,
        allowedPrincipals="arn:aws:iam::111122223333:role/StorageAdmins",
        unverifiedEvents="cloudtrail",
    )  # fmt: skip
    assert endpoint_services(result) == ["cloudtrail", "ec2", "eks", "sqs", "sts", "xray"]


def test_full_stack_synthesizes_without_warnings(full: Synth) -> None:
    """CDK's notes on imported subnets are acknowledged with a reason; nothing else warns."""
    warnings = [
        (construct.node.path, entry.data)
        for construct in full.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:warning"
    ]
    assert warnings == []
