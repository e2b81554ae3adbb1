"""Context keys of the CDK app and their defaults (documented in cdk.json and docs/deploy.md)."""

from __future__ import annotations

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
    "stackName": "EbsPvRegistrar",
}

CSI_IDENTITIES = ("pod-identity", "irsa")
UNVERIFIED_EVENTS = ("refuse", "cloudtrail")
RECLAIM_POLICIES = ("Retain", "Delete")
CSI_POLICIES = {
    "v2": "AmazonEBSCSIDriverPolicyV2",
    "classic": "service-role/AmazonEBSCSIDriverPolicy",
}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


class ConfigError(ValueError):
    """A context value the app cannot deploy with."""


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
            allowed_principals=str(get("allowedPrincipals")).strip(),
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
