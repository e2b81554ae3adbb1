"""The registrar Lambda: its role, log group and least-privilege permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from registrar.core import contract

from .. import sibling
from ..config import RegistrarConfig
from .network import RegistrarNetwork

if TYPE_CHECKING:
    from asset import build as bundling
else:
    bundling = sibling("asset.build")

SERVICE_NAME = contract.SERVICE
METRICS_NAMESPACE = contract.METRICS_NAMESPACE
# The only tags the registrar writes (README: Tags); CreateTags is limited to these keys.
WRITTEN_TAG_KEYS = contract.WRITTEN_TAG_KEYS
# With EKS Auto Mode's driver it also writes this one (AmazonEKSBlockStoragePolicy attaches only
# volumes carrying it), and only with an allowed cluster's name as its value.
AUTO_MODE_CSI_DRIVER = contract.AUTO_MODE_CSI_DRIVER
EKS_CLUSTER_NAME_TAG = contract.EKS_CLUSTER_NAME_TAG
CSI_CLUSTER_NAME_TAG = contract.CSI_CLUSTER_NAME_TAG
# The larger measured peak is the hourly sweep of 10,000 volumes from the built asset: 50.9 MiB
# RSS (a registration: 39 MiB; bench/README.md, "Memory and the function's memory setting").
# 256 MB leaves 4.8x that, and its CPU share (CPU scales with memory) keeps that sweep's ~2.7 s
# of CPU to about a third of the timeout; 128 MB would fit the memory, not leave that time.
MEMORY_MB = 256
TIMEOUT = cdk.Duration.seconds(60)
# Lambda's own retries of a failed asynchronous invocation (EventBridge invokes asynchronously).
ASYNC_RETRIES = 2
ASYNC_MAX_EVENT_AGE = cdk.Duration.hours(6)


class RegistrarFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: RegistrarConfig,
        failure_queue: sqs.IQueue,
        code: lambda_.Code | None = None,
        network: RegistrarNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # An explicit role: no AWSLambdaBasicExecutionRole (logs:* on every group).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ebs-pv-registrar: reads EBS volumes, tags them, talks to EKS",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeVolumes",
                actions=[contract.iam_action("ec2", "DescribeVolumes")],
                resources=["*"],  # DescribeVolumes has no resource-level permissions
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TagVolumesWithStatus",
                actions=[contract.iam_action("ec2", "CreateTags")],
                resources=[
                    stack.format_arn(service="ec2", resource="volume", resource_name="vol-*")
                ],
                conditions=_tag_conditions(config),
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="UntagReleasedVolumes",
                actions=[contract.iam_action("ec2", "DeleteTags")],
                resources=[
                    stack.format_arn(service="ec2", resource="volume", resource_name="vol-*")
                ],
                conditions={
                    "ForAllValues:StringEquals": {"aws:TagKeys": list(contract.REMOVED_TAG_KEYS)},
                    "Null": {"aws:TagKeys": "false"},
                },
            )
        )
        if config.settings.looks_up_callers:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="LookUpWhoTagged",
                    actions=[contract.iam_action("cloudtrail", "LookupEvents")],
                    resources=["*"],  # LookupEvents has no resource-level permissions
                )
            )
        if config.allowed_clusters:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="DescribeAllowedClusters",
                    actions=[contract.iam_action("eks", "DescribeCluster")],
                    resources=[
                        stack.format_arn(service="eks", resource="cluster", resource_name=name)
                        for name in config.allowed_clusters
                    ],
                )
            )

        if network is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="ManageVpcNetworkInterfaces",
                    # What Lambda needs to attach the function to the subnets (the actions of
                    # AWSLambdaVPCAccessExecutionRole without its logs:*); DescribeNetworkInterfaces
                    # only works on "*", and Lambda names the interfaces itself.
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Registers tagged EBS volumes as Kubernetes PersistentVolumes",
            runtime=bundling.RUNTIME,
            architecture=bundling.ARCHITECTURE,
            handler=bundling.HANDLER,
            code=code or bundling.registrar_code(),
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=config.reserved_concurrency,
            retry_attempts=ASYNC_RETRIES,
            max_event_age=ASYNC_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(failure_queue),
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnet_selection if network else None,
            security_groups=network.security_groups if network else None,
            environment={
                **config.environment(),
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )


def _tag_conditions(config: RegistrarConfig) -> dict[str, Any]:
    keys = list(WRITTEN_TAG_KEYS)
    conditions: dict[str, Any] = {
        "ForAllValues:StringEquals": {"aws:TagKeys": keys},
        # ForAllValues is true on an empty key set: demand tag keys are present.
        "Null": {"aws:TagKeys": "false"},
    }
    # A cluster-name tag may name an allowed cluster only.
    named = [CSI_CLUSTER_NAME_TAG]
    if config.csi_driver == AUTO_MODE_CSI_DRIVER:
        keys.append(EKS_CLUSTER_NAME_TAG)
        named.append(EKS_CLUSTER_NAME_TAG)
    conditions["StringEqualsIfExists"] = {
        f"aws:RequestTag/{key}": list(config.allowed_clusters) for key in named
    }
    return conditions


_RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
}  # fmt: skip


def _retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention that keeps logs at least `days` days."""
    for allowed, name in _RETENTION_DAYS.items():
        if allowed >= days:
            return getattr(logs.RetentionDays, name)  # type: ignore[no-any-return]
    return logs.RetentionDays.FIVE_YEARS
