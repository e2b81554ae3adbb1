"""cdk-nag AwsSolutions checks, and each finding we accept with the reason why.

cdk-nag 3.x reports through cdk.Validations; an acknowledgement is scoped to the
construct where the finding arises, so a new resource elsewhere is still checked.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from .config import CSI_POLICIES
from .registrar_stack import EbsPvRegistrar

VOLUME_ARN = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/vol-*"


def add_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledgements(registrar: EbsPvRegistrar) -> list[tuple[IConstruct, str, str]]:
    """(scope, rule id, reason) for every accepted finding of this stack."""
    acks: list[tuple[IConstruct, str, str]] = [
        (
            registrar.registrar.role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes, the X-Ray trace writes (xray:PutTraceSegments, "
            "xray:PutTelemetryRecords) and cloudtrail:LookupEvents (only with "
            "unverifiedEvents=cloudtrail) support no resource-level permissions; in a VPC, "
            "Lambda's network-interface actions (DescribeNetworkInterfaces works only on *) "
            "act on interfaces Lambda names itself.",
        ),
        (
            registrar.registrar.role,
            f"AwsSolutions-IAM5[Resource::{VOLUME_ARN}]",
            "The registrar tags whichever volume a user tagged with k8s-pv, so CreateTags "
            "covers every volume of this account and region; aws:TagKeys limits it to "
            "k8s-pv-status and ebs.csi.aws.com/cluster.",
        ),
        (
            registrar.registrar.function,
            "AwsSolutions-L1",
            "Python 3.13 is deliberate: the bundle is built for it (pip --python-version) "
            "and its bytecode can be precompiled with a matching local CPython; 3.14 is "
            "one constant away in asset/build.py.",
        ),
        (
            registrar.failures.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue (of the EventBridge targets and of the "
            "Lambda's asynchronous invocations); cdk-nag only recognises SQS redrive DLQs.",
        ),
    ]
    if registrar.trail is not None:
        acks.append(
            (
                registrar.trail.bucket,
                "AwsSolutions-S1",
                "The bucket only receives CloudTrail log files, which are themselves the "
                "access record; access logs of the log bucket would need yet another bucket.",
            )
        )
    if registrar.csi_driver is not None:
        policy = CSI_POLICIES[registrar.config.csi_driver_policy]
        acks.append(
            (
                registrar.csi_driver.role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                "The AWS-maintained policy documented for the EBS CSI driver follows the "
                "driver's releases; V2 (the default) only touches volumes tagged "
                "ebs.csi.aws.com/cluster=true.",
            )
        )
    provider = registrar.manifests.kubectl_provider if registrar.manifests else None
    if provider is not None:  # the one it created, not a cluster object's own
        acks += _kubectl_provider_acks(provider, registrar.network is not None)
    return acks


def _kubectl_provider_acks(provider: IConstruct, in_vpc: bool) -> list[tuple[IConstruct, str, str]]:
    """CDK's own kubectl provider (aws-eks KubectlProvider): its Lambdas are CDK's, not ours."""
    managed = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{}]"
    acks: list[tuple[IConstruct, str, str]] = [
        (
            provider,
            managed.format("service-role/AWSLambdaBasicExecutionRole"),
            "CDK's kubectl provider creates its handler and provider-framework roles with the "
            "basic execution policy; they only write their own logs and live for deployments.",
        ),
        (
            provider,
            "AwsSolutions-L1",
            "The kubectl handler's Python runtime is chosen by aws-cdk-lib's KubectlProvider, "
            "not by this app; it moves with aws-cdk-lib upgrades.",
        ),
        (
            provider,
            "AwsSolutions-IAM5[Resource::<Handler886CB40B.Arn>:*]",
            "The provider framework invokes every version of CDK's kubectl handler function "
            "(lambda:InvokeFunction on its ARN and ARN:*); nothing else.",
        ),
    ]
    if in_vpc:
        acks.append(
            (
                provider,
                managed.format("service-role/AWSLambdaVPCAccessExecutionRole"),
                "CDK's kubectl handler runs in the cluster's subnets (private endpoint) and "
                "gets Lambda's own policy for creating its network interfaces.",
            )
        )
    return acks


def acknowledge(registrar: EbsPvRegistrar) -> None:
    for scope, rule_id, reason in acknowledgements(registrar):
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
