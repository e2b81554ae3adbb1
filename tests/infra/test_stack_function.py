"""The registrar function: runtime, sizing, settings, logs, tracing, async failure handling."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth


def test_function_runtime_and_sizing(minimal: Synth) -> None:
    minimal.template.resource_count_is("AWS::Lambda::Function", 1)
    minimal.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "registrar.handler.lambda_handler",
            "MemorySize": 256,  # from the measured peaks and CPU share, bench/README.md
            "Timeout": 60,
            "ReservedConcurrentExecutions": 5,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogGroup": {"Ref": Match.any_value()}},
        },
    )


def test_environment_defaults(minimal: Synth) -> None:
    minimal.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": {
                    "REGISTRAR_DEFAULT_CLUSTER": "demo",
                    "REGISTRAR_ALLOWED_CLUSTERS": "",  # the function: clusterName alone
                    "REGISTRAR_DEFAULT_NAMESPACE": "default",
                    "REGISTRAR_ALLOWED_NAMESPACES": "*",
                    "REGISTRAR_DENIED_NAMESPACES": "kube-system,kube-public,kube-node-lease",
                    "REGISTRAR_CSI_DRIVER": "ebs.csi.aws.com",
                    "REGISTRAR_ZONE_LABEL": "topology.kubernetes.io/zone",
                    "REGISTRAR_DELETE_ON_VOLUME_DELETE": "true",
                    "REGISTRAR_UNREGISTER_ON_UNTAG": "false",
                    "REGISTRAR_KUBE_QPS": "5",
                    "REGISTRAR_KUBE_BURST": "10",
                    "REGISTRAR_ALLOWED_PRINCIPALS": "",
                    "REGISTRAR_UNVERIFIED_EVENTS": "refuse",
                    "REGISTRAR_ALLOWED_RECLAIM_POLICIES": "Retain",
                    "POWERTOOLS_SERVICE_NAME": "ebs-pv-registrar",
                    "POWERTOOLS_METRICS_NAMESPACE": "EbsPvRegistrar",
                }
            }
        },
    )


def test_environment_from_context(synth: Callable[..., Synth]) -> None:
    result = synth(
        clusterName="prod",
        allowedClusters="prod,dr",
        defaultNamespace="apps",
        allowedNamespaces="apps,data",
        deniedNamespaces="kube-system",
        csiDriver="ebs.csi.eks.amazonaws.com",
        zoneLabel="topology.ebs.csi.aws.com/zone",
        reservedConcurrency=2,
        logRetentionDays=14,
    )
    variables = next(iter(result.resources("AWS::Lambda::Function").values()))["Properties"][
        "Environment"
    ]["Variables"]
    assert variables["REGISTRAR_DEFAULT_CLUSTER"] == "prod"
    assert variables["REGISTRAR_ALLOWED_CLUSTERS"] == "prod,dr"
    assert variables["REGISTRAR_DEFAULT_NAMESPACE"] == "apps"
    assert variables["REGISTRAR_ALLOWED_NAMESPACES"] == "apps,data"
    assert variables["REGISTRAR_DENIED_NAMESPACES"] == "kube-system"
    assert variables["REGISTRAR_CSI_DRIVER"] == "ebs.csi.eks.amazonaws.com"
    assert variables["REGISTRAR_ZONE_LABEL"] == "topology.ebs.csi.aws.com/zone"
    result.template.has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": 2}
    )
    result.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 14})


def test_log_group_retention(minimal: Synth) -> None:
    minimal.template.resource_count_is("AWS::Logs::LogGroup", 1)
    minimal.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_retention_rounds_up(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", logRetentionDays=10)
    result.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 14})


def test_async_failures_go_to_the_dead_letter_queue(minimal: Synth) -> None:
    queue = next(iter(minimal.resources("AWS::SQS::Queue")))
    minimal.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )


def test_no_managed_policy_on_the_function_role(minimal: Synth) -> None:
    roles = minimal.resources("AWS::IAM::Role")
    assert len(roles) == 1
    role = next(iter(roles.values()))["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]
