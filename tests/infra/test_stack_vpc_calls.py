"""A NAT-less VPC deployment works: every call a function in the VPC makes has a route there.

With `createVpcEndpoints` the subnets are taken to have no NAT gateway, so each AWS API that a
function inside the VPC calls needs an interface endpoint of the stack, and a function whose
calls no endpoint here carries (Lambda, S3) must run outside the VPC. Each function of the
template is named below with its calls; a new function fails until its calls are named."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from registrar.core import contract
from tests.infra.conftest import FULL, Synth
from tests.infra.test_stack_iam import declared_operations
from tests.infra.test_stack_manifests import nested_template
from tests.infra.test_stack_network import endpoint_services

LOOKUPS = {
    "allowedPrincipals": "arn:aws:iam::111122223333:role/StorageAdmins",
    "unverifiedEvents": "cloudtrail",
}
# X-Ray: Lambda's active tracing, from the function's network (the endpoint the stack creates).
TRACING = {"xray": "active tracing: PutTraceSegments, PutTelemetryRecords"}


def registrar_calls(looks_up_callers: bool) -> dict[str, str]:
    """What the registrar's adapters declare they call (AWS_OPERATIONS), by service; the
    CloudTrail lookup only with unverifiedEvents=cloudtrail."""
    calls: dict[str, str] = dict(TRACING)
    for service, operation in sorted(declared_operations()):
        if service == "cloudtrail" and not looks_up_callers:
            continue
        calls[service] = ", ".join(filter(None, (calls.get(service), operation)))
    return calls


# CDK's kubectl provider (aws-cdk-lib aws-eks/lib/kubectl-provider.ts): the handler runs
# `aws eks update-kubeconfig --role-arn R` (apply/__init__.py; DescribeCluster with its own
# role), then kubectl, whose exec credential `aws eks get-token --role-arn R` assumes R.
KUBECTL_HANDLER_CALLS = {"eks": "DescribeCluster", "sts": "AssumeRole"}
# The provider framework (custom-resources/lib/provider-framework/runtime): outbound.ts
# `invokeFunction` calls Lambda Invoke on the handler (and waits with GetFunction);
# cfn-response.ts `submitResponse` PUTs the result to the event's ResponseURL, a presigned
# S3 URL of CloudFormation's.
FRAMEWORK_CALLS = {"lambda": "Invoke, GetFunction", "s3": "PUT to the presigned ResponseURL"}


def function_calls(props: dict[str, Any], looks_up_callers: bool) -> dict[str, str]:
    """The AWS services a function of the template calls, by which function it is."""
    description = props.get("Description", "")
    if props.get("Handler") == "registrar.handler.lambda_handler":
        return registrar_calls(looks_up_callers)
    if description == "onEvent handler for EKS kubectl resource provider":
        return KUBECTL_HANDLER_CALLS
    if description.startswith("AWS CDK resource provider framework - onEvent"):
        return FRAMEWORK_CALLS
    raise AssertionError(f"name the calls of this function here: {description or props}")


def functions(result: Synth) -> list[dict[str, Any]]:
    template, _ = nested_template(result)
    nested = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    root = list(result.resources("AWS::Lambda::Function").values())
    return [r["Properties"] for r in root + nested]


@pytest.mark.parametrize("looks_up_callers", [False, True], ids=["refuse", "cloudtrail"])
def test_every_call_from_inside_the_vpc_has_an_endpoint(
    synth: Callable[..., Synth], looks_up_callers: bool
) -> None:
    result = synth(**FULL, **(LOOKUPS if looks_up_callers else {}))
    endpoints = set(endpoint_services(result))
    in_vpc, outside = [], []
    for props in functions(result):
        calls = function_calls(props, looks_up_callers)
        if "VpcConfig" not in props:
            outside.append(calls)
            continue
        in_vpc.append(calls)
        missing = {service: what for service, what in calls.items() if service not in endpoints}
        assert missing == {}, f"{props.get('Description')}: no endpoint for {missing}"
    # The registrar and the kubectl handler reach the private API endpoint from the VPC; the
    # provider framework runs outside it.
    assert in_vpc == [registrar_calls(looks_up_callers), KUBECTL_HANDLER_CALLS]
    assert outside == [FRAMEWORK_CALLS]


def test_the_calls_named_here_are_the_contracts() -> None:
    """The registrar's calls come from the adapters, whose IAM actions the contract maps."""
    services = set(registrar_calls(looks_up_callers=True)) - set(TRACING)
    assert services == set(contract.IAM_ACTIONS)


def test_the_kubectl_handler_uses_the_regional_sts_endpoint(full: Synth) -> None:
    """An interface endpoint's private DNS name is the regional one (sts.<region>.amazonaws.com);
    the AWS CLI may default to the global sts.amazonaws.com, which only a NAT gateway reaches
    (AWS SDKs and Tools Reference Guide, "AWS STS Regional endpoints":
    AWS_STS_REGIONAL_ENDPOINTS=regional)."""
    [handler] = [p for p in functions(full) if function_calls(p, False) is KUBECTL_HANDLER_CALLS]
    assert handler["Environment"]["Variables"]["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


def test_the_provider_framework_outside_the_vpc_has_no_network_interface_rights(
    full: Synth,
) -> None:
    template, _ = nested_template(full)
    [framework] = [
        r for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Description"].startswith("AWS CDK resource provider framework")
    ]  # fmt: skip
    role = template["Resources"][framework["Properties"]["Role"]["Fn::GetAtt"][0]]
    assert "AWSLambdaVPCAccessExecutionRole" not in json.dumps(role)
