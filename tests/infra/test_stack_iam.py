"""Least privilege: every statement of the registrar's policy, and no `*` action anywhere."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import registrar.adapters
from registrar.core import contract
from tests.infra.conftest import Synth


def registrar_statements(result: Synth) -> list[dict[str, Any]]:
    role_id = result.stack.get_logical_id(result.registrar.registrar.role.node.default_child)  # type: ignore[arg-type]
    statements: list[dict[str, Any]] = []
    for policy in result.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def by_sid(result: Synth, sid: str) -> dict[str, Any]:
    matches = [s for s in registrar_statements(result) if s.get("Sid") == sid]
    assert len(matches) == 1, sid
    return matches[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_text(resource: Any) -> str:
    """An Fn::Join ARN as text with pseudo parameters named, for readable assertions."""
    if isinstance(resource, str):
        return resource
    parts = resource["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"${{{p['Ref']}}}" for p in parts)


def test_statement_inventory(minimal: Synth) -> None:
    actions = sorted(a for s in registrar_statements(minimal) for a in as_list(s["Action"]))
    assert actions == [
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeVolumes",
        "eks:DescribeCluster",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:DeleteMessage",  # the work queue's event source mapping
        "sqs:GetQueueAttributes",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
        "sqs:SendMessage",  # the splitter fills the work queue
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]
    assert all(s["Effect"] == "Allow" for s in registrar_statements(minimal))


def test_describe_volumes(minimal: Synth) -> None:
    statement = by_sid(minimal, "DescribeVolumes")
    assert statement["Action"] == "ec2:DescribeVolumes"
    assert statement["Resource"] == "*"
    assert "Condition" not in statement


def test_create_tags_only_on_volumes_and_only_our_keys(minimal: Synth) -> None:
    statement = by_sid(minimal, "TagVolumesWithStatus")
    assert statement["Action"] == "ec2:CreateTags"
    assert arn_text(statement["Resource"]) == (
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/vol-*"
    )
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": [
            "k8s-pv-status", "ebs.csi.aws.com/cluster", "ebs.csi.aws.com/cluster-name"]},
        "Null": {"aws:TagKeys": "false"},
        # The cluster-scoped CSI policy's tag names an allowed cluster, never another.
        "StringEqualsIfExists": {"aws:RequestTag/ebs.csi.aws.com/cluster-name": ["demo"]},
    }


def test_delete_tags_only_the_cluster_name_tags(minimal: Synth) -> None:
    statement = by_sid(minimal, "UntagReleasedVolumes")
    assert statement["Action"] == "ec2:DeleteTags"
    assert arn_text(statement["Resource"]) == (
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/vol-*"
    )
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {
            "aws:TagKeys": ["ebs.csi.aws.com/cluster-name", "eks:eks-cluster-name"]
        },
        "Null": {"aws:TagKeys": "false"},
    }  # fmt: skip


def test_auto_mode_may_also_write_the_cluster_name_tag_with_an_allowed_cluster(
    synth: Callable[..., Synth],
) -> None:
    auto = synth(clusterName="demo", allowedClusters="demo,staging",
                 csiDriver="ebs.csi.eks.amazonaws.com")  # fmt: skip
    statement = by_sid(auto, "TagVolumesWithStatus")
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {
            "aws:TagKeys": ["k8s-pv-status", "ebs.csi.aws.com/cluster",
                            "ebs.csi.aws.com/cluster-name", "eks:eks-cluster-name"]
        },
        "Null": {"aws:TagKeys": "false"},
        "StringEqualsIfExists": {
            "aws:RequestTag/ebs.csi.aws.com/cluster-name": ["demo", "staging"],
            "aws:RequestTag/eks:eks-cluster-name": ["demo", "staging"]},
    }


def test_describe_cluster_only_allowed_clusters(full: Synth) -> None:
    statement = by_sid(full, "DescribeAllowedClusters")
    assert statement["Action"] == "eks:DescribeCluster"
    assert sorted(arn_text(r) for r in as_list(statement["Resource"])) == [
        f"arn:${{AWS::Partition}}:eks:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{name}"
        for name in ("demo", "staging")
    ]


def test_logs_only_own_log_group(minimal: Synth) -> None:
    statement = by_sid(minimal, "WriteOwnLogs")
    log_group = next(iter(minimal.resources("AWS::Logs::LogGroup")))
    assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}


def test_sqs_only_dead_letter_queue_and_work_queue(minimal: Synth) -> None:
    parts = minimal.registrar
    dlq = minimal.stack.get_logical_id(parts.failures.dead_letter_queue.node.default_child)  # type: ignore[arg-type]
    work = minimal.stack.get_logical_id(parts.work_queue.queue.node.default_child)  # type: ignore[arg-type]
    sqs = [s for s in registrar_statements(minimal) if as_list(s["Action"])[0].startswith("sqs:")]
    assert [s["Resource"] for s in sqs] == [{"Fn::GetAtt": [q, "Arn"]} for q in (dlq, work, work)]


def test_xray_writes_only(minimal: Synth) -> None:
    xray = [s for s in registrar_statements(minimal) if as_list(s["Action"])[0].startswith("xray:")]
    assert len(xray) == 1
    assert sorted(xray[0]["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_no_cluster_no_describe_cluster(synth: Callable[..., Synth]) -> None:
    result = synth()
    assert not [
        s for s in registrar_statements(result) if s.get("Sid") == "DescribeAllowedClusters"
    ]


def all_statements(result: Synth) -> Iterator[dict[str, Any]]:
    for resource in result.raw["Resources"].values():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument")]
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in filter(None, documents):
            yield from document["Statement"]


def actions(statement: dict[str, Any]) -> list[str]:
    return as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))


@pytest.mark.parametrize("variant", ["minimal", "full"])
def test_no_wildcard_action_anywhere(variant: str, request: pytest.FixtureRequest) -> None:
    result: Synth = request.getfixturevalue(variant)
    statements = list(all_statements(result))
    allowed = [a for s in statements if s["Effect"] == "Allow" for a in actions(s)]
    assert allowed
    assert not [a for a in allowed if "*" in a]
    # The only wildcards: enforce_ssl's Deny of plain-HTTP access to the queue and bucket, and
    # the work queue's Deny of sends by anyone but the function (test_stack_queue.py).
    for statement in statements:
        if statement["Effect"] == "Deny" and statement.get("Sid") != "OnlyTheFunctionSendsWork":
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudtrail_lookup_only_when_unverified_events_ask_for_it(
    synth: Callable[..., Synth], minimal: Synth
) -> None:
    assert not [s for s in registrar_statements(minimal) if s.get("Sid") == "LookUpWhoTagged"]
    result = synth(
        clusterName="prod",
        allowedPrincipals="arn:aws:iam::111122223333:role/StorageAdmins",
        unverifiedEvents="cloudtrail",
    )
    statement = by_sid(result, "LookUpWhoTagged")
    assert (statement["Action"], statement["Resource"]) == ("cloudtrail:LookupEvents", "*")


def declared_operations() -> set[tuple[str, str]]:
    """Every (service, operation) the adapters declare in AWS_OPERATIONS, on a module or a class."""
    declared: set[tuple[str, str]] = set()
    for info in pkgutil.iter_modules(registrar.adapters.__path__, "registrar.adapters."):
        module = importlib.import_module(info.name)
        holders = [module, *(v for v in vars(module).values() if isinstance(v, type))]
        for holder in holders:
            for service, operations in vars(holder).get("AWS_OPERATIONS", {}).items():
                declared |= {(service, operation) for operation in operations}
    return declared


def test_every_declared_operation_has_its_iam_action_in_the_contract() -> None:
    declared = declared_operations()
    assert ("ec2", "CreateTags") in declared
    mapped = {(s, o) for s, operations in contract.IAM_ACTIONS.items() for o in operations}
    assert declared == mapped


# What the Lambda service and the CDK add around the adapters' calls: its logs, its network
# interfaces in a VPC, its asynchronous failure destination, its active tracing.
PLATFORM_ACTIONS = {
    "logs:CreateLogStream", "logs:PutLogEvents",
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}  # fmt: skip


@pytest.mark.parametrize("variant", ["minimal", "full", "lookups"])
def test_every_granted_action_comes_from_the_contract(
    variant: str, request: pytest.FixtureRequest, synth: Callable[..., Synth]
) -> None:
    result: Synth = (
        synth(clusterName="prod", allowedPrincipals="arn:aws:iam::111122223333:role/Admins",
              unverifiedEvents="cloudtrail")
        if variant == "lookups" else request.getfixturevalue(variant)
    )  # fmt: skip
    granted = {a for s in registrar_statements(result) for a in as_list(s["Action"])}
    from_contract = {a for actions in contract.IAM_ACTIONS.values() for a in actions.values()}
    from_contract |= set(contract.QUEUE_CONSUMER_ACTIONS)
    assert granted - PLATFORM_ACTIONS <= from_contract
    assert granted & from_contract  # the adapters' calls are granted from the map
    if variant == "lookups":
        assert contract.iam_action("cloudtrail", "LookupEvents") in granted
    assert contract.iam_action("sts", "AssumeRole") not in granted  # the command line's only
