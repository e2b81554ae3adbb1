"""cdk-nag AwsSolutions checks, and each finding we accept with the reason why.

cdk-nag 3.x reports through cdk.Validations; an acknowledgement is scoped to the
construct where the finding arises, so a new resource elsewhere is still checked.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from stacks.config import CSI_POLICIES
from stacks.registrar_stack import RegistrarStack

VOLUME_ARN = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/vol-*"


def add_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledgements(stack: RegistrarStack) -> list[tuple[IConstruct, str, str]]:
    """(scope, rule id, reason) for every accepted finding of this stack."""
    acks: list[tuple[IConstruct, str, str]] = [
        (
            stack.registrar.role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes, the X-Ray trace writes (xray:PutTraceSegments, "
            "xray:PutTelemetryRecords) and cloudtrail:LookupEvents (only with "
            "unverifiedEvents=cloudtrail) support no resource-level permissions; in a VPC, "
            "Lambda's network-interface actions (DescribeNetworkInterfaces works only on *) "
            "act on interfaces Lambda names itself.",
        ),
        (
            stack.registrar.role,
            f"AwsSolutions-IAM5[Resource::{VOLUME_ARN}]",
            "The registrar tags whichever volume a user tagged with k8s-pv, so CreateTags "
            "covers every volume of this account and region; aws:TagKeys limits it to "
            "k8s-pv-status and ebs.csi.aws.com/cluster.",
        ),
        (
            stack.registrar.function,
            "AwsSolutions-L1",
            "Python 3.13 is deliberate: the bundle is built for it (pip --python-version) "
            "and its bytecode can be precompiled with a matching local CPython; 3.14 is "
            "one constant away in asset/build.py.",
        ),
        (
            stack.failures.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue (of the EventBridge targets and of the "
            "Lambda's asynchronous invocations); cdk-nag only recognises SQS redrive DLQs.",
        ),
    ]
    if stack.trail is not None:
        acks.append(
            (
                stack.trail.bucket,
                "AwsSolutions-S1",
                "The bucket only receives CloudTrail log files, which are themselves the "
                "access record; access logs of the log bucket would need yet another bucket.",
            )
        )
    if stack.csi_driver is not None:
        policy = CSI_POLICIES[stack.config.csi_driver_policy]
        acks.append(
            (
                stack.csi_driver.role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                "The AWS-maintained policy documented for the EBS CSI driver follows the "
                "driver's releases; V2 (the default) only touches volumes tagged "
                "ebs.csi.aws.com/cluster=true.",
            )
        )
    if stack.manifests is not None:
        acks += _kubectl_provider_acks(stack.manifests.kubectl_provider, stack.network is not None)
    return acks


def _kubectl_provider_acks(provider: IConstruct, in_vpc: bool) -> list[tuple[IConstruct, str, str]]:
    """CDK's own kubectl provider (aws-eks KubectlProvider): its Lambdas are CDK's, not ours."""
    managed = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{}]"
    ecr_public = (
        '{"Fn::If":["HandlerHasEcrPublic195AF58A",{"Fn::Join":["",["arn:",{"Ref":'
        '"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},'
        '{"Ref":"AWS::NoValue"}]}'
    )
    acks: list[tuple[IConstruct, str, str]] = [
        (
            provider,
            managed.format("service-role/AWSLambdaBasicExecutionRole"),
            "CDK's kubectl provider creates its handler and provider-framework roles with the "
            "basic execution policy; they only write their own logs and live for deployments.",
        ),
        (
            provider,
            managed.format("AmazonEC2ContainerRegistryPullOnly"),
            "Attached by CDK's kubectl provider so its handler could install Helm charts from "
            "ECR; this app applies only the plain manifests of k8s/.",
        ),
        (
            provider,
            f"AwsSolutions-IAM4[Policy::{ecr_public}]",
            "Conditional ECR Public read-only policy of CDK's kubectl provider (only for Helm "
            "charts from public.ecr.aws, a condition that is false here).",
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
                "CDK's kubectl provider runs in the cluster's subnets (private endpoint) and "
                "attaches Lambda's own policy for creating its network interfaces.",
            )
        )
    return acks


def acknowledge(stack: RegistrarStack) -> None:
    for scope, rule_id, reason in acknowledgements(stack):
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
