"""Context keys of the CDK app and their defaults (documented in cdk.json and docs/deploy.md).

The function's keys, variables, defaults and rules are the contract's
(lambdas/registrar/core/contract.py): the stack hands the function their text and refuses, with
the function's own message, what the function would refuse. The stack's own keys are below."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from constructs import Node

from registrar.core import contract
from registrar.core.errors import SettingsError
from registrar.core.settings import Settings

# The stack's own keys (the function's are the contract's), with their defaults.
DEFAULTS: dict[str, Any] = {
    "reconcileSchedule": "rate(1 hour)",
    "reservedConcurrency": 5,
    "queueMaxConcurrency": 4,
    "logRetentionDays": 30,
    "createTrail": False,
    "clusterAdminPolicy": False,
    "createAccessEntries": True,
    "installCsiDriver": False,
    "csiDriverIdentity": "pod-identity",
    "csiDriverPolicy": "v2",
    "csiDriverAddonVersion": "",
    "oidcProviderArn": "",
    "csiDriverResolveConflicts": "PRESERVE",
    "csiDriverPreserveOnDelete": True,
    "csiDriverKmsKeyArns": "",
    "installPodIdentityAgent": False,
    "vpcId": "",
    "vpcSubnetIds": "",
    "securityGroupIds": "",
    "clusterSecurityGroupId": "",
    "createVpcEndpoints": False,
    "applyManifests": False,
    "kubectlRoleArn": "",
    "kubernetesVersion": "",
    "createDashboard": True,
    "stackName": "EbsPvRegistrar",
}

# Every key the app reads, with its default. cdk.json repeats this table under "//".
CONTEXT_DEFAULTS: dict[str, Any] = {
    **{setting.key: setting.default for setting in contract.SETTINGS},
    **DEFAULTS,
}
CSI_IDENTITIES = ("pod-identity", "irsa")
# AWS::EKS::Addon ResolveConflicts (EKS CreateAddon/UpdateAddon): on create NONE and PRESERVE
# leave a self-managed driver's fields alone (creation fails on a conflict), OVERWRITE resets them
# to the add-on's defaults; on update PRESERVE keeps fields edited on the cluster.
RESOLVE_CONFLICTS = ("PRESERVE", "NONE", "OVERWRITE")
# The EBS CSI driver's managed policy by csiDriverPolicy. cluster-scoped (driver v1.58+) acts
# only on volumes whose tag `ebs.csi.aws.com/cluster-name` equals the principal tag
# `eks-cluster-name` (AWS Managed Policy reference, AmazonEBSCSIDriverEKSClusterScopedPolicy;
# kubernetes-sigs/aws-ebs-csi-driver docs/AmazonEBSCSIDriverEKSClusterScopedPolicy.json).
CSI_POLICIES = {
    "v2": "AmazonEBSCSIDriverPolicyV2",
    "classic": "service-role/AmazonEBSCSIDriverPolicy",
    "cluster-scoped": "AmazonEBSCSIDriverEKSClusterScopedPolicy",
}
CSI_POLICY = contract.one_of(*CSI_POLICIES)
# The stack's keys whose rule is not read from their default's type (true/false, count).
STACK_RULES: dict[str, contract.Rule[Any]] = {
    "csiDriverPolicy": CSI_POLICY,
    "csiDriverKmsKeyArns": contract.KMS_KEY_ARNS,
    "kubernetesVersion": contract.KUBERNETES_VERSION,
    "queueMaxConcurrency": contract.QUEUE_CONCURRENCY,
}
# kubectl's version skew policy: kubectl is supported within one minor version (older or newer)
# of kube-apiserver (kubernetes.io, "Version Skew Policy", kubectl). The minor versions of the
# aws-cdk.lambda-layer-kubectl-vNN packages requirements.txt pins, newest first; a cluster gets
# its own minor's layer, else the nearest one within the skew.
KUBECTL_LAYER_MINORS = (37, 36, 35, 34, 33)


def kubectl_layer_minor(version: str) -> int:
    """The kubectl layer's minor version for a cluster on Kubernetes `version` (1.NN)."""
    minor = int(version.split(".")[1])
    for candidate in (minor, minor + 1, minor - 1):
        if candidate in KUBECTL_LAYER_MINORS:
            return candidate
    newest, oldest = KUBECTL_LAYER_MINORS[0], KUBECTL_LAYER_MINORS[-1]
    raise ConfigError(
        f"kubernetesVersion={version!r}: no kubectl layer within one minor version of it "
        f"(kubectl's version skew); applyManifests supports Kubernetes 1.{oldest - 1} to "
        f"1.{newest + 1}. Apply k8s/ with your own kubectl instead (docs/deploy.md)"
    )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _is_id(prefix: str, value: str) -> bool:
    """An EC2 resource id: prefix, then 8 or 17 hex digits."""
    return re.fullmatch(rf"{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})", value) is not None


def _bool(value: Any) -> bool:
    """A true/false key's value, already checked by check_stack_keys."""
    return contract.as_text(value).strip().lower() == "true"


class ConfigError(ValueError):
    """A context value the app cannot deploy with."""


def check_stack_keys(get: Callable[[str], Any]) -> None:
    """The stack's own true/false and count keys (by their default's type) and those of
    STACK_RULES by the contract's rules, so that a typo is refused rather than read as false."""
    for key, default in DEFAULTS.items():
        if key in STACK_RULES:
            rule: contract.Rule[Any] = STACK_RULES[key]
        elif isinstance(default, bool):
            rule = contract.FLAG
        elif isinstance(default, int):
            rule = contract.POSITIVE_INTEGER
        else:
            continue
        text = contract.as_text(get(key))
        try:
            rule.parse(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: {rule.message}") from None


def function_settings(environment: dict[str, str]) -> Settings:
    """The function's settings from the variables the stack gives it, read as the function
    reads them; what it would refuse is refused here, its message prefixed with the key."""
    try:
        return Settings.from_env(environment)
    except SettingsError as error:
        key = contract.BY_VARIABLE[error.name].key
        raise ConfigError(f"{key}={environment[error.name]!r}: {error}") from None


@dataclass(frozen=True)
class VpcConfig:
    """Where the function (and the kubectl provider) run: the cluster's VPC, by id only."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    cluster_security_group_id: str
    create_endpoints: bool
    # The AWS APIs the function calls, reached through interface endpoints or a NAT gateway.
    endpoint_services: tuple[str, ...]

    @classmethod
    def from_context(cls, get: Callable[[str], Any], *, looks_up_callers: bool) -> VpcConfig | None:
        vpc_id = str(get("vpcId")).strip()
        subnets = _csv(str(get("vpcSubnetIds")))
        groups = _csv(str(get("securityGroupIds")))
        cluster_group = str(get("clusterSecurityGroupId")).strip()
        endpoints = _bool(get("createVpcEndpoints"))
        if not vpc_id:
            if subnets or groups or cluster_group or endpoints:
                raise ConfigError(
                    "vpcSubnetIds, securityGroupIds, clusterSecurityGroupId and "
                    "createVpcEndpoints need context vpcId"
                )
            return None
        if not _is_id("vpc", vpc_id):
            raise ConfigError(f"vpcId {vpc_id!r} is not a VPC id (vpc-0123456789abcdef0)")
        if not subnets:
            raise ConfigError("vpcId needs context vpcSubnetIds (comma-separated private subnets)")
        for subnet in subnets:
            if not _is_id("subnet", subnet):
                raise ConfigError(f"vpcSubnetIds: {subnet!r} is not a subnet id (subnet-...)")
        for group in (*groups, *([cluster_group] if cluster_group else [])):
            if not _is_id("sg", group):
                raise ConfigError(
                    f"securityGroupIds/clusterSecurityGroupId: {group!r} is not a group id (sg-...)"
                )
        # sqs: the splitter fills the work queue (Lambda's event source mapping polls it from
        # outside the VPC).
        services: tuple[str, ...] = ("sts", "ec2", "eks", "xray", "sqs")
        if looks_up_callers:  # cloudtrail:LookupEvents
            services += ("cloudtrail",)
        return cls(
            vpc_id=vpc_id,
            subnet_ids=subnets,
            security_group_ids=groups,
            cluster_security_group_id=cluster_group,
            create_endpoints=endpoints,
            endpoint_services=services,
        )


@dataclass(frozen=True)
class RegistrarConfig:
    settings: Settings  # what the function reads from `environment()`
    function_environment: dict[str, str]
    reconcile_schedule: str
    reserved_concurrency: int
    queue_max_concurrency: int
    log_retention_days: int
    create_trail: bool
    cluster_admin_policy: bool
    create_access_entries: bool
    install_csi_driver: bool
    csi_driver_identity: str
    csi_driver_policy: str
    csi_driver_addon_version: str
    oidc_provider_arn: str
    csi_driver_resolve_conflicts: str
    csi_driver_preserve_on_delete: bool
    csi_driver_kms_key_arns: tuple[str, ...]
    install_pod_identity_agent: bool
    vpc: VpcConfig | None
    apply_manifests: bool
    kubectl_role_arn: str
    kubectl_layer_minor: int | None
    create_dashboard: bool
    stack_name: str

    @classmethod
    def from_context(cls, node: Node) -> RegistrarConfig:
        def get(key: str) -> Any:
            value = node.try_get_context(key)
            return CONTEXT_DEFAULTS[key] if value is None else value

        return cls.from_values(get)

    @classmethod
    def from_values(
        cls, get: Callable[[str], Any], *, cluster_given: bool = False
    ) -> RegistrarConfig:
        """The configuration from each context key's value (`get(key)`, the default when
        unset). `cluster_given`: the cluster is a CDK object, whose own kubectl provider applies
        the manifests (kubectlRoleArn and kubernetesVersion are not needed)."""
        environment = contract.environment(get)
        settings = function_settings(environment)
        check_stack_keys(get)
        cluster = settings.default_cluster or ""
        identity = str(get("csiDriverIdentity"))
        if identity not in CSI_IDENTITIES:
            raise ConfigError(f"csiDriverIdentity must be one of {CSI_IDENTITIES}")
        policy = CSI_POLICY.parse(contract.as_text(get("csiDriverPolicy")))  # checked above
        install_csi = _bool(get("installCsiDriver"))
        oidc = str(get("oidcProviderArn")).strip()
        if install_csi and identity == "irsa" and not oidc:
            raise ConfigError("csiDriverIdentity=irsa needs context oidcProviderArn")
        if install_csi and not cluster:
            raise ConfigError("installCsiDriver needs context clusterName")
        resolve = str(get("csiDriverResolveConflicts")).strip().upper()
        if resolve not in RESOLVE_CONFLICTS:
            raise ConfigError(f"csiDriverResolveConflicts must be one of {RESOLVE_CONFLICTS}")
        pod_identity_agent = _bool(get("installPodIdentityAgent"))
        if pod_identity_agent and not cluster:
            raise ConfigError("installPodIdentityAgent needs context clusterName")
        apply_manifests = _bool(get("applyManifests"))
        kubectl_role = str(get("kubectlRoleArn")).strip()
        if apply_manifests and not cluster_given and not (cluster and kubectl_role):
            raise ConfigError("applyManifests needs context clusterName and kubectlRoleArn")
        kubernetes_version = contract.KUBERNETES_VERSION.parse(str(get("kubernetesVersion")))
        if apply_manifests and not cluster_given and not kubernetes_version:
            raise ConfigError(
                "applyManifests needs context kubernetesVersion, the cluster's Kubernetes "
                f"version (aws eks describe-cluster --name {cluster} --query cluster.version), "
                "to run a kubectl it supports"
            )
        kms_keys = contract.KMS_KEY_ARNS.parse(str(get("csiDriverKmsKeyArns")))
        if kms_keys and not install_csi:
            raise ConfigError("csiDriverKmsKeyArns needs context installCsiDriver=true")
        vpc = VpcConfig.from_context(get, looks_up_callers=settings.looks_up_callers)
        return cls(
            settings=settings,
            function_environment=environment,
            reconcile_schedule=str(get("reconcileSchedule")),
            reserved_concurrency=int(get("reservedConcurrency")),
            queue_max_concurrency=int(get("queueMaxConcurrency")),
            log_retention_days=int(get("logRetentionDays")),
            create_trail=_bool(get("createTrail")),
            cluster_admin_policy=_bool(get("clusterAdminPolicy")),
            create_access_entries=_bool(get("createAccessEntries")),
            install_csi_driver=install_csi,
            csi_driver_identity=identity,
            csi_driver_policy=policy,
            csi_driver_addon_version=str(get("csiDriverAddonVersion")).strip(),
            oidc_provider_arn=oidc,
            csi_driver_resolve_conflicts=resolve,
            csi_driver_preserve_on_delete=_bool(get("csiDriverPreserveOnDelete")),
            csi_driver_kms_key_arns=kms_keys,
            install_pod_identity_agent=pod_identity_agent,
            vpc=vpc,
            apply_manifests=apply_manifests,
            kubectl_role_arn=kubectl_role,
            kubectl_layer_minor=kubectl_layer_minor(kubernetes_version)
            if apply_manifests and not cluster_given
            else None,
            create_dashboard=_bool(get("createDashboard")),
            stack_name=str(get("stackName")),
        )

    def environment(self) -> dict[str, str]:
        """The REGISTRAR_* settings (README: Settings) for the Lambda."""
        return dict(self.function_environment)

    # The function's settings the stack's constructs also need.
    @property
    def cluster_name(self) -> str:
        return self.settings.default_cluster or ""

    @property
    def allowed_clusters(self) -> tuple[str, ...]:
        return self.settings.allowed_clusters

    @property
    def csi_driver(self) -> str:
        return self.settings.csi_driver
