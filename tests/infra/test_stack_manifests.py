"""applyManifests: the k8s/ files through CDK's kubectl provider for an imported cluster."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aws_cdk as cdk
import pytest
import yaml

from registrar.core.settings import Settings
from stacks.config import RegistrarConfig
from stacks.constructs import manifests
from tests.infra.conftest import KUBECTL_ROLE, KUBERNETES_VERSION, REPO_ROOT, Synth
from tests.infra.test_stack_compliance import cfn_lint

MANIFESTS = {
    "clusterName": "demo",
    "applyManifests": True,
    "kubectlRoleArn": KUBECTL_ROLE,
    "kubernetesVersion": KUBERNETES_VERSION,
}
MANIFEST_TYPE = "Custom::AWSCDK-EKS-KubernetesResource"


def applied(result: Synth) -> list[dict[str, Any]]:
    return list(result.resources(MANIFEST_TYPE).values())


def nested_template(result: Synth) -> tuple[dict[str, Any], Path]:
    [path] = result.outdir.glob("*KubectlProvider*.nested.template.json")
    return json.loads(path.read_text()), path


def test_not_applied_by_default(minimal: Synth) -> None:
    assert applied(minimal) == []
    minimal.template.resource_count_is("AWS::CloudFormation::Stack", 0)


def test_each_declared_file_is_one_manifest_applied_with_kubectl_apply(
    synth: Callable[..., Synth],
) -> None:
    result = synth(**MANIFESTS)
    resources = applied(result)
    assert len(resources) == len(manifests.MANIFEST_FILES)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        props = resource["Properties"]
        assert props["ClusterName"] == "demo"
        assert props["RoleArn"] == KUBECTL_ROLE
        assert props["Overwrite"] is True
        for obj in json.loads(props["Manifest"]):
            by_kind.setdefault(obj["kind"], []).append(obj)
    expected = [
        doc
        for name in manifests.MANIFEST_FILES
        for doc in yaml.safe_load_all((REPO_ROOT / "k8s" / name).read_text())
        if doc
    ]
    assert sorted(by_kind) == sorted({doc["kind"] for doc in expected})
    [storage_class] = by_kind["StorageClass"]
    assert storage_class["metadata"]["name"] == "gp3"
    assert storage_class["provisioner"] == "ebs.csi.aws.com"


def test_every_k8s_file_is_declared_once() -> None:
    """A new k8s/ manifest is applied by applyManifests once named in MANIFEST_FILES."""
    assert manifests.MANIFEST_FILES[:2] == ("admission-policy.yaml", "rbac.yaml")  # policy first
    on_disk = sorted(p.name for p in (REPO_ROOT / "k8s").glob("*.yaml"))
    assert sorted(manifests.MANIFEST_FILES) == on_disk, "add the file to MANIFEST_FILES"


def test_auto_mode_driver_becomes_the_provisioner() -> None:
    loaded = manifests.load_manifests("ebs.csi.eks.amazonaws.com")
    [storage_class] = loaded["storageclass-gp3.yaml"]
    assert storage_class["provisioner"] == "ebs.csi.eks.amazonaws.com"
    assert storage_class["parameters"] == {"type": "gp3", "encrypted": "true"}


def test_kubectl_provider_public_endpoint(synth: Callable[..., Synth]) -> None:
    template, path = nested_template(synth(**MANIFESTS))
    handlers = [
        r["Properties"] for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "VpcConfig" in r["Properties"]
    ]  # fmt: skip
    assert handlers == []
    assert [f for f in cfn_lint(path) if f["Level"] == "Error"] == []


def test_kubectl_provider_runs_in_the_private_subnets(full: Synth) -> None:
    template, path = nested_template(full)
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "VpcConfig" in r["Properties"]
    ]
    # The kubectl handler; the provider framework's onEvent runs outside the VPC
    # (tests/infra/test_stack_vpc_calls.py).
    assert len(functions) == 1
    function_group = next(
        key for key, g in full.resources("AWS::EC2::SecurityGroup").items()
        if "HTTPS out" in g["Properties"]["GroupDescription"]
    )  # fmt: skip
    nested = next(iter(full.resources("AWS::CloudFormation::Stack").values()))
    parameters = nested["Properties"]["Parameters"]
    for function in functions:
        vpc = function["VpcConfig"]
        assert vpc["SubnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
        # The registrar's own group: the one the cluster security group admits on 443.
        [group] = vpc["SecurityGroupIds"]
        assert parameters[group["Ref"]] == {"Fn::GetAtt": [function_group, "GroupId"]}
    assert [f for f in cfn_lint(path) if f["Level"] == "Error"] == []


def test_the_policy_is_applied_first_and_the_rights_after_it(
    synth: Callable[..., Synth],
) -> None:
    result = synth(**MANIFESTS)
    ids = {json.loads(r["Properties"]["Manifest"])[0]["kind"]: lid
           for lid, r in result.resources(MANIFEST_TYPE).items()}  # fmt: skip
    rbac = result.raw["Resources"][ids["ClusterRole"]]
    assert ids["ValidatingAdmissionPolicy"] in rbac.get("DependsOn", [])


def test_policy_and_rights_follow_the_deployments_namespace_lists(
    synth: Callable[..., Synth],
) -> None:
    result = synth(**MANIFESTS, allowedNamespaces="team-a,team-b", deniedNamespaces="kube-system")
    objects = [obj for r in applied(result) for obj in json.loads(r["Properties"]["Manifest"])]
    roles = sorted(o["metadata"]["namespace"] for o in objects if o["kind"] == "Role")
    assert {"team-a", "team-b"} <= set(roles)
    [policy] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    assert "team-a" in json.dumps(policy) and "kube-public" not in json.dumps(policy)


# --- the function and the rendered policy and RBAC agree on namespaces -------------------------

ALLOWED_VALUES = ["", "*", "apps", "apps, data", " apps ,, data ", "*,apps", "kube-system,apps"]
DENIED_VALUES = ["", "kube-system", "kube-system,kube-public,kube-node-lease", "apps", "apps,data"]
NAMESPACES = ("default", "apps", "data", "kube-system", "kube-public", "kube-node-lease", "other")


def cel_to_python(expression: str) -> str:
    """The CEL of the policy's namespace rules is Python but for its operators: `!`, `&&`, `||`
    (cel-spec, langdef.md: `!` binds tighter than `&&`, `&&` than `||`; Python's `not`, `and`,
    `or` keep that order against `in` and `!=`)."""
    python = re.sub(r"!(?!=)", " not ", expression).replace("&&", " and ").replace("||", " or ")
    return python.strip()


def admitted(objects: list[dict[str, Any]], namespace: str) -> tuple[bool, bool]:
    """(the admission policy lets the registrar create a claim in `namespace` and pre-bind a PV
    to it, RBAC lets it create the claim), from the rendered objects."""
    [policy] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    lists = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    variables = SimpleNamespace(
        denied=json.loads(lists["denied"]),
        allowed=json.loads(lists["allowed"]),
        isClaim=True,
        claimRefNamespace=namespace,
        oldClaimRefNamespace="",
    )
    request = SimpleNamespace(operation="CREATE", namespace=namespace)
    rules = [v["expression"] for v in policy["spec"]["validations"]
             if "in variables.denied" in v["expression"]]  # fmt: skip
    assert len(rules) == 2  # the claim's namespace, the PV's claimRef
    verdicts = {eval(cel_to_python(r), {"variables": variables, "request": request}) for r in rules}
    assert len(verdicts) == 1
    may_create = any(
        "persistentvolumeclaims" in rule["resources"] and "create" in rule["verbs"]
        for o in objects
        if o["kind"] == "ClusterRole" or (o["kind"] == "Role"
                                          and o["metadata"]["namespace"] == namespace)
        for rule in o["rules"]
    )  # fmt: skip
    return verdicts.pop(), may_create


def stack_manifests(context: dict[str, Any]) -> tuple[Settings, list[dict[str, Any]]]:
    """The function's settings from the variables the stack gives it, and the policy and RBAC
    the stack renders for the same context (as registrar_stack passes them)."""
    config = RegistrarConfig.from_context(cdk.App(context={**MANIFESTS, **context}).node)
    loaded = manifests.load_manifests(
        config.csi_driver, config.settings.allowed_namespaces, config.settings.denied_namespaces
    )
    return Settings.from_env(config.environment()), [o for docs in loaded.values() for o in docs]


@pytest.mark.parametrize("allowed", ALLOWED_VALUES)
@pytest.mark.parametrize("denied", DENIED_VALUES)
def test_the_function_and_the_cluster_admit_the_same_namespaces(allowed: str, denied: str) -> None:
    settings, objects = stack_manifests(
        {"allowedNamespaces": allowed, "deniedNamespaces": denied}
    )
    for namespace in NAMESPACES:
        by_policy, by_rbac = admitted(objects, namespace)
        assert by_policy == settings.namespace_allowed(namespace), namespace
        assert (by_policy and by_rbac) == settings.namespace_allowed(namespace), namespace


def test_a_blank_allowed_list_is_any_namespace_in_the_template(
    synth: Callable[..., Synth],
) -> None:
    """What the template applies is what the stack renders: blank allowedNamespaces admits what
    `*` admits (not nothing)."""
    result = synth(**MANIFESTS, allowedNamespaces="")
    objects = [obj for r in applied(result) for obj in json.loads(r["Properties"]["Manifest"])]
    settings = Settings.from_env(
        next(iter(result.resources("AWS::Lambda::Function").values()))["Properties"][
            "Environment"]["Variables"]
    )  # fmt: skip
    assert settings.allowed_namespaces == ("*",)
    for namespace in NAMESPACES:
        assert admitted(objects, namespace) == (
            settings.namespace_allowed(namespace), True
        ), namespace


@pytest.mark.parametrize("variant", ["public", "private"])
def test_the_kubectl_handler_role_has_no_registry_rights(
    variant: str, synth: Callable[..., Synth], full: Synth
) -> None:
    """CDK attaches ECR (and ECR Public) pull policies for Helm charts; only manifests here."""
    template, _ = nested_template(full if variant == "private" else synth(**MANIFESTS))
    roles = json.dumps([r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"])
    assert "AWSLambdaBasicExecutionRole" in roles
    assert "ContainerRegistry" not in roles
    assert ("AWSLambdaVPCAccessExecutionRole" in roles) == (variant == "private")
    assert "Conditions" not in template


@pytest.mark.parametrize(("version", "kubectl"), [("1.32", "1.33"), ("1.35", "1.35")])
def test_the_kubectl_layer_follows_the_clusters_version(
    version: str, kubectl: str, synth: Callable[..., Synth]
) -> None:
    result = synth(**{**MANIFESTS, "kubernetesVersion": version})
    [layer] = result.resources("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["Description"].startswith(f"/opt/kubectl/kubectl {kubectl}.")
