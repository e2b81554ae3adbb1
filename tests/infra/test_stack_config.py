"""Context keys: one table of defaults (the contract's for the function's keys), documented in
cdk.json and docs/deploy.md; synthesis refuses exactly what the function would refuse."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from registrar.core import contract
from registrar.core.errors import SettingsError
from registrar.core.settings import Settings
from stacks.config import (
    CONTEXT_DEFAULTS,
    DEFAULTS,
    KUBECTL_LAYER_MINORS,
    ConfigError,
    RegistrarConfig,
    kubectl_layer_minor,
)
from tests.infra.conftest import synthesize

REPO = Path(__file__).resolve().parents[2]


def config(**context: object) -> RegistrarConfig:
    return RegistrarConfig.from_context(cdk.App(context=context).node)


def test_cdk_json_context_is_the_defaults() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    assert cdk_json["context"] == CONTEXT_DEFAULTS
    assert not {s.key for s in contract.SETTINGS} & set(DEFAULTS), "a key is defined twice"


def docs_key_table() -> dict[str, tuple[str, str]]:
    """docs/deploy.md's "Context keys" table: key -> (default cell, meaning cell)."""
    docs = (REPO / "docs" / "deploy.md").read_text()
    section = docs.split("### Context keys", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \| (.*) \|$", section.split("\n\n#", 1)[0], re.M)
    return {key: (default, meaning) for key, default, meaning in rows}


def test_every_key_is_explained_in_cdk_json_and_docs() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    table = docs_key_table()
    assert set(table) == set(CONTEXT_DEFAULTS)
    for key in CONTEXT_DEFAULTS:
        assert cdk_json["//"].get(key), key
    for setting in contract.SETTINGS:  # where the value goes
        assert f"({setting.variable})" in cdk_json["//"][setting.key], setting.key
        assert f"`{setting.variable}`" in table[setting.key][1], setting.key


@pytest.mark.parametrize("key", list(CONTEXT_DEFAULTS))
def test_docs_default_is_cdk_jsons(key: str) -> None:
    """A literal default in the table is cdk.json's value; an empty one is described instead:
    `(none)`, `(created)`, ... or another key it falls back to (`clusterName`)."""
    default = CONTEXT_DEFAULTS[key]
    cell = docs_key_table()[key][0]
    literal = re.fullmatch(r"`([^`]*)`", cell)
    if default == "":
        assert cell.startswith("(") or cell == '`""`' or (
            literal is not None and literal[1] in CONTEXT_DEFAULTS
        ), cell
    else:
        assert literal is not None and literal[1] == contract.as_text(default), cell


def test_readme_settings_table_names_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`(REGISTRAR_[A-Z_]+)`", section)) == set(contract.BY_VARIABLE)


def test_defaults() -> None:
    settings = config(clusterName="demo")
    assert settings.allowed_clusters == ("demo",)
    assert settings.reconcile_schedule == "rate(1 hour)"
    assert not (settings.create_trail or settings.install_csi_driver)
    assert not settings.cluster_admin_policy


VPC_ID = "vpc-0123456789abcdef0"
SUBNET = "subnet-0123abcd"
GROUP = "sg-0123abcd"


def test_new_defaults_keep_what_is_on_the_cluster() -> None:
    settings = config(clusterName="demo")
    assert settings.csi_driver_resolve_conflicts == "PRESERVE"
    assert settings.csi_driver_preserve_on_delete
    assert not settings.install_pod_identity_agent
    assert settings.vpc is None
    assert not settings.apply_manifests
    assert settings.create_dashboard


def test_vpc_from_the_command_line() -> None:
    vpc = config(
        clusterName="demo",
        vpcId=VPC_ID,
        vpcSubnetIds=f" {SUBNET}, subnet-0123456789abcdef1 ",
        clusterSecurityGroupId=GROUP,
        createVpcEndpoints="true",
    ).vpc
    assert vpc is not None
    assert vpc.subnet_ids == (SUBNET, "subnet-0123456789abcdef1")
    assert vpc.security_group_ids == ()
    assert vpc.create_endpoints
    assert vpc.endpoint_services == ("sts", "ec2", "eks", "xray", "sqs")


def test_booleans_from_the_command_line() -> None:
    # -c createTrail=true arrives as the string "true".
    assert config(clusterName="demo", createTrail="true").create_trail
    assert not config(clusterName="demo", createTrail="false").create_trail


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"clusterName": "a", "allowedClusters": "b,c"}, "REGISTRAR_ALLOWED_CLUSTERS"),
        ({"clusterName": "a", "csiDriverIdentity": "node-role"}, "csiDriverIdentity"),
        ({"clusterName": "a", "csiDriverPolicy": "v3"}, "csiDriverPolicy"),
        ({"clusterName": "a", "installCsiDriver": True, "csiDriverIdentity": "irsa"}, "oidc"),
        ({"allowedClusters": "a", "installCsiDriver": True}, "clusterName"),
        ({"clusterName": "a", "csiDriverResolveConflicts": "KEEP"}, "csiDriverResolveConflicts"),
        ({"allowedClusters": "a", "installPodIdentityAgent": True}, "clusterName"),
        ({"clusterName": "a", "applyManifests": True}, "kubectlRoleArn"),
        (
            {"clusterName": "a", "applyManifests": True, "kubectlRoleArn": "arn:r"},
            "applyManifests needs context kubernetesVersion",
        ),
        ({"clusterName": "a", "kubernetesVersion": "v1.33"}, "kubernetesVersion='v1.33': must"),
        ({"clusterName": "a", "kubernetesVersion": "1.33.2"}, "a Kubernetes minor version"),
        ({"clusterName": "a", "vpcSubnetIds": SUBNET}, "need context vpcId"),
        ({"clusterName": "a", "createVpcEndpoints": True}, "need context vpcId"),
        ({"clusterName": "a", "clusterSecurityGroupId": GROUP}, "need context vpcId"),
        ({"clusterName": "a", "vpcId": VPC_ID}, "vpcSubnetIds"),
        ({"clusterName": "a", "vpcId": "my-vpc", "vpcSubnetIds": SUBNET}, "not a VPC id"),
        ({"clusterName": "a", "vpcId": VPC_ID, "vpcSubnetIds": "sg-0123abcd"}, "subnet id"),
        (
            {"clusterName": "a", "vpcId": VPC_ID, "vpcSubnetIds": SUBNET, "securityGroupIds": "x"},
            "group id",
        ),
    ],
)
def test_invalid_context(context: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**context)


# --- the function's keys at their edges -----------------------------------------------------

# Values the function accepts, a few keys per synthesis (each context is consistent as a whole).
ACCEPTED: list[dict[str, Any]] = [
    {
        "clusterName": "prod",
        "allowedNamespaces": "",  # blank is the default: any namespace
        "deniedNamespaces": "",  # blank denies nothing
        "kubeQps": 0.1,
        "kubeBurst": 1,
        "deleteOnVolumeDelete": "FALSE",
        "unregisterOnUntag": True,
        "unverifiedEvents": "",
        "allowedReclaimPolicies": "Retain,Delete",
        "defaultNamespace": "",
        "csiDriver": "",
        "zoneLabel": "",
    },
    {
        "clusterName": " prod ",
        "allowedClusters": "prod , dr",
        "allowedNamespaces": " apps ,, data ",
        "deniedNamespaces": "apps",
        "kubeQps": "1e3",
        "kubeBurst": "10000",
        "deleteOnVolumeDelete": "true",
        "unregisterOnUntag": "false",
        "allowedPrincipals": "arn:aws:iam::111122223333:role/StorageAdmins",
        "unverifiedEvents": "cloudtrail",
        "allowedReclaimPolicies": "",
        "csiDriver": "ebs.csi.eks.amazonaws.com",
    },
    {
        "clusterName": "",  # synth warns; the function reaches no cluster
        "allowedClusters": "dr",
        "reservedConcurrency": "1",
        "logRetentionDays": 1,
        "createDashboard": "False",
        "allowedNamespaces": "*,apps",
        "kubeQps": "0.5",
        "unverifiedEvents": "refuse",
        "allowedReclaimPolicies": "Delete",
    },
]
# One key each (clusterName=demo besides): what the function refuses, whatever the type.
REFUSED: list[dict[str, Any]] = [
    {"kubeQps": 0},
    {"kubeQps": "0"},
    {"kubeQps": -1},
    {"kubeQps": "inf"},
    {"kubeQps": "nan"},
    {"kubeQps": "fast"},
    {"kubeQps": True},
    {"kubeBurst": 0},
    {"kubeBurst": 2.5},
    {"kubeBurst": "-3"},
    {"deleteOnVolumeDelete": "yes"},
    {"unregisterOnUntag": 1},
    {"unverifiedEvents": "CloudTrail"},
    {"allowedReclaimPolicies": "Recycle"},
    {"allowedReclaimPolicies": "Retain,retain"},
    {"allowedReclaimPolicies": ","},
    {"allowedNamespaces": ","},
    {"allowedClusters": "staging"},  # clusterName=demo is not among them
]


def test_the_edges_cover_every_function_key() -> None:
    """Every key at an accepted edge; every key whose rule can refuse, at a refused one."""
    any_text = (contract.TEXT, contract.NAMES, contract.OPTIONAL_NAME)
    for setting in contract.SETTINGS:
        assert any(setting.key in context for context in ACCEPTED), setting.key
        if setting.rule not in any_text:
            assert any(setting.key in context for context in REFUSED), setting.key


@pytest.mark.slow
@pytest.mark.parametrize("context", ACCEPTED, ids=lambda c: ",".join(sorted(c)))
def test_accepted_at_synthesis_is_accepted_by_the_function(
    context: dict[str, Any], tmp_path: Path
) -> None:
    """The function starts from the variables the template gives it, with the settings the
    stack computed at synthesis."""
    result = synthesize(tmp_path, context)
    [function] = result.resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    settings = Settings.from_env(variables)
    assert settings == result.registrar.config.settings
    for setting in contract.SETTINGS:
        if setting.key in context:
            assert variables[setting.variable] == contract.as_text(context[setting.key])


def test_edge_values_read_as_the_function_reads_them() -> None:
    first, second, third = (config(**context).settings for context in ACCEPTED)
    assert (first.kube_qps, first.kube_burst) == (0.1, 1)
    assert first.allowed_namespaces == ("*",) and first.denied_namespaces == ()
    assert not first.delete_on_volume_delete and first.unregister_on_untag
    assert first.allowed_reclaim_policies == ("Retain", "Delete")
    assert (first.default_namespace, first.csi_driver) == ("default", "ebs.csi.aws.com")
    assert second.allowed_clusters == ("prod", "dr") and second.default_cluster == "prod"
    assert second.allowed_namespaces == ("apps", "data") and second.kube_qps == 1000.0
    assert second.looks_up_callers and second.allowed_reclaim_policies == ("Retain",)
    assert third.clusters == ("dr",) and third.default_cluster is None
    stack = config(**ACCEPTED[2])
    assert (stack.reserved_concurrency, stack.log_retention_days) == (1, 1)
    assert not stack.create_dashboard


@pytest.mark.parametrize("context", REFUSED, ids=json.dumps)
def test_refused_at_synthesis_with_the_functions_message(
    context: dict[str, Any], tmp_path: Path
) -> None:
    context = {"clusterName": "demo", **context}
    environ = {
        s.variable: contract.as_text(context[s.key]) for s in contract.SETTINGS if s.key in context
    }
    with pytest.raises(SettingsError) as at_runtime:
        Settings.from_env(environ)
    with pytest.raises(ConfigError) as at_synthesis:
        synthesize(tmp_path, context)
    variable = at_runtime.value.name
    key = contract.BY_VARIABLE[variable].key
    assert key in context
    assert str(at_synthesis.value) == f"{key}={environ[variable]!r}: {at_runtime.value}"


# The stack's own true/false and count keys: a typo is refused, not read as false.
STACK_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"createTrail": "yes"}, "createTrail='yes': must be true or false"),
    ({"csiDriverPreserveOnDelete": "flase"}, "csiDriverPreserveOnDelete='flase': must be true"),
    ({"createDashboard": ""}, "createDashboard='': must be true or false"),
    ({"reservedConcurrency": 0}, "reservedConcurrency='0': must be a positive integer"),
    ({"reservedConcurrency": "five"}, "reservedConcurrency='five': must be a positive integer"),
    ({"logRetentionDays": "-1"}, "logRetentionDays='-1': must be a positive integer"),
]


@pytest.mark.parametrize(("context", "message"), STACK_REFUSED, ids=[m for _, m in STACK_REFUSED])
def test_the_stacks_own_keys_at_their_edges(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config(clusterName="demo", **context)
    assert config(clusterName="demo", createTrail="TRUE").create_trail
    assert config(clusterName="demo", reservedConcurrency="1").reserved_concurrency == 1


@pytest.mark.parametrize(
    ("version", "layer"),
    [("1.32", 33), ("1.33", 33), ("1.34", 34), ("1.36", 36), ("1.37", 37), ("1.38", 37)],
)
def test_the_kubectl_layer_is_the_clusters_or_one_minor_away(version: str, layer: int) -> None:
    """kubernetes.io, "Version Skew Policy": kubectl is supported within one minor version
    (older or newer) of kube-apiserver."""
    assert kubectl_layer_minor(version) == layer
    assert abs(layer - int(version.split(".")[1])) <= 1


@pytest.mark.parametrize("version", ["1.31", "1.39", "1.9"])
def test_a_version_no_layer_supports_is_refused_with_the_range(version: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config(clusterName="a", applyManifests=True, kubectlRoleArn="arn:r",
               kubernetesVersion=version)  # fmt: skip
    assert str(raised.value).startswith(f"kubernetesVersion={version!r}: no kubectl layer")
    assert "Kubernetes 1.32 to 1.38" in str(raised.value)


def test_each_layer_is_pinned_in_requirements() -> None:
    """One pinned aws-cdk.lambda-layer-kubectl-vNN package per KUBECTL_LAYER_MINORS entry."""
    requirements = (REPO / "requirements.txt").read_text()
    pinned = re.findall(r"^aws-cdk\.lambda-layer-kubectl-v(\d+)==[\d.]+$", requirements, re.M)
    assert sorted(map(int, pinned)) == sorted(KUBECTL_LAYER_MINORS)
