"""Context keys of the CDK app and their defaults (documented in cdk.json and docs/deploy.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from constructs import Node

# Every key the app reads, with its default. cdk.json repeats this table under "//".
DEFAULTS: dict[str, Any] = {
    "clusterName": "",
    "allowedClusters": "",
    "defaultNamespace": "default",
    "allowedNamespaces": "*",
    "deniedNamespaces": "kube-system,kube-public,kube-node-lease",
    "csiDriver": "ebs.csi.aws.com",
    "zoneLabel": "topology.kubernetes.io/zone",
    "deleteOnVolumeDelete": True,
    "unregisterOnUntag": False,
    "kubeQps": 5,
    "kubeBurst": 10,
    "allowedPrincipals": "",
    "unverifiedEvents": "refuse",
    "allowedReclaimPolicies": "Retain",
    "reconcileSchedule": "rate(1 hour)",
    "reservedConcurrency": 5,
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
    "installPodIdentityAgent": False,
    "vpcId": "",
    "vpcSubnetIds": "",
    "securityGroupIds": "",
    "clusterSecurityGroupId": "",
    "createVpcEndpoints": False,
    "applyManifests": False,
    "kubectlRoleArn": "",
    "createDashboard": True,
    "stackName": "EbsPvRegistrar",
}

CSI_IDENTITIES = ("pod-identity", "irsa")
UNVERIFIED_EVENTS = ("refuse", "cloudtrail")
# AWS::EKS::Addon ResolveConflicts (EKS CreateAddon/UpdateAddon): on create NONE and PRESERVE
# leave a self-managed driver's fields alone (creation fails on a conflict), OVERWRITE resets them
# to the add-on's defaults; on update PRESERVE keeps fields edited on the cluster.
RESOLVE_CONFLICTS = ("PRESERVE", "NONE", "OVERWRITE")
RECLAIM_POLICIES = ("Retain", "Delete")
CSI_POLICIES = {
    "v2": "AmazonEBSCSIDriverPolicyV2",
    "classic": "service-role/AmazonEBSCSIDriverPolicy",
}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _is_id(prefix: str, value: str) -> bool:
    """An EC2 resource id: prefix, then 8 or 17 hex digits."""
    return re.fullmatch(rf"{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})", value) is not None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


class ConfigError(ValueError):
    """A context value the app cannot deploy with."""


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
        services: tuple[str, ...] = ("sts", "ec2", "eks", "xray")
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
    cluster_name: str
    allowed_clusters: tuple[str, ...]
    default_namespace: str
    allowed_namespaces: str
    denied_namespaces: str
    csi_driver: str
    zone_label: str
    delete_on_volume_delete: bool
    unregister_on_untag: bool
    kube_qps: float
    kube_burst: int
    allowed_principals: str
    unverified_events: str
    allowed_reclaim_policies: tuple[str, ...]
    reconcile_schedule: str
    reserved_concurrency: int
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
    install_pod_identity_agent: bool
    vpc: VpcConfig | None
    apply_manifests: bool
    kubectl_role_arn: str
    create_dashboard: bool
    stack_name: str

    @classmethod
    def from_context(cls, node: Node) -> RegistrarConfig:
        def get(key: str) -> Any:
            value = node.try_get_context(key)
            return DEFAULTS[key] if value is None else value

        cluster = str(get("clusterName")).strip()
        allowed = _csv(str(get("allowedClusters"))) or ((cluster,) if cluster else ())
        if cluster and cluster not in allowed:
            raise ConfigError(f"clusterName {cluster!r} must be one of allowedClusters")
        identity = str(get("csiDriverIdentity"))
        if identity not in CSI_IDENTITIES:
            raise ConfigError(f"csiDriverIdentity must be one of {CSI_IDENTITIES}")
        policy = str(get("csiDriverPolicy"))
        if policy not in CSI_POLICIES:
            raise ConfigError(f"csiDriverPolicy must be one of {tuple(CSI_POLICIES)}")
        unverified = str(get("unverifiedEvents"))
        if unverified not in UNVERIFIED_EVENTS:
            raise ConfigError(f"unverifiedEvents must be one of {UNVERIFIED_EVENTS}")
        reclaim = _csv(str(get("allowedReclaimPolicies"))) or ("Retain",)
        if any(policy not in RECLAIM_POLICIES for policy in reclaim):
            raise ConfigError(f"allowedReclaimPolicies: each must be one of {RECLAIM_POLICIES}")
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
        if apply_manifests and not (cluster and kubectl_role):
            raise ConfigError("applyManifests needs context clusterName and kubectlRoleArn")
        principals = str(get("allowedPrincipals")).strip()
        vpc = VpcConfig.from_context(
            get, looks_up_callers=bool(principals) and unverified == "cloudtrail"
        )
        return cls(
            cluster_name=cluster,
            allowed_clusters=allowed,
            default_namespace=str(get("defaultNamespace")),
            allowed_namespaces=str(get("allowedNamespaces")),
            denied_namespaces=str(get("deniedNamespaces")),
            csi_driver=str(get("csiDriver")),
            zone_label=str(get("zoneLabel")),
            delete_on_volume_delete=_bool(get("deleteOnVolumeDelete")),
            unregister_on_untag=_bool(get("unregisterOnUntag")),
            kube_qps=float(get("kubeQps")),
            kube_burst=int(get("kubeBurst")),
            allowed_principals=principals,
            unverified_events=unverified,
            allowed_reclaim_policies=reclaim,
            reconcile_schedule=str(get("reconcileSchedule")),
            reserved_concurrency=int(get("reservedConcurrency")),
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
            install_pod_identity_agent=pod_identity_agent,
            vpc=vpc,
            apply_manifests=apply_manifests,
            kubectl_role_arn=kubectl_role,
            create_dashboard=_bool(get("createDashboard")),
            stack_name=str(get("stackName")),
        )

    def environment(self) -> dict[str, str]:
        """The REGISTRAR_* settings (README: Settings) for the Lambda."""
        return {
            "REGISTRAR_DEFAULT_CLUSTER": self.cluster_name,
            "REGISTRAR_ALLOWED_CLUSTERS": ",".join(self.allowed_clusters),
            "REGISTRAR_DEFAULT_NAMESPACE": self.default_namespace,
            "REGISTRAR_ALLOWED_NAMESPACES": self.allowed_namespaces,
            "REGISTRAR_DENIED_NAMESPACES": self.denied_namespaces,
            "REGISTRAR_CSI_DRIVER": self.csi_driver,
            "REGISTRAR_ZONE_LABEL": self.zone_label,
            "REGISTRAR_DELETE_ON_VOLUME_DELETE": str(self.delete_on_volume_delete).lower(),
            "REGISTRAR_UNREGISTER_ON_UNTAG": str(self.unregister_on_untag).lower(),
            "REGISTRAR_KUBE_QPS": f"{self.kube_qps:g}",
            "REGISTRAR_KUBE_BURST": str(self.kube_burst),
            "REGISTRAR_ALLOWED_PRINCIPALS": self.allowed_principals,
            "REGISTRAR_UNVERIFIED_EVENTS": self.unverified_events,
            "REGISTRAR_ALLOWED_RECLAIM_POLICIES": ",".join(self.allowed_reclaim_policies),
        }
