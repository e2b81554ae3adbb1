"""The EbsPvRegistrar construct's options: the CDK app's context keys (docs/deploy.md, "Context
keys"), typed, in snake_case, with the same defaults and the same rules (the contract's, through
stacks/config.py). An option left at None takes the key's default."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import CONTEXT_DEFAULTS, ConfigError, RegistrarConfig

# Keys the construct takes from the user's own objects instead: the cluster (its name, and its
# kubectl provider for applyManifests) and the stack.
NOT_OPTIONS = ("clusterName", "kubectlRoleArn", "kubernetesVersion", "stackName")

Names = Sequence[str] | str


def option_name(key: str) -> str:
    """allowedClusters -> allowed_clusters."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


@dataclass(frozen=True, kw_only=True)
class RegistrarOptions:
    """How the registrar behaves; each is documented with its context key in docs/deploy.md."""

    allowed_clusters: Names | None = None
    """Clusters the registrar may write to (REGISTRAR_ALLOWED_CLUSTERS); default: the cluster."""
    default_namespace: str | None = None
    """Namespace for a bare k8s-pvc name (REGISTRAR_DEFAULT_NAMESPACE); default `default`."""
    allowed_namespaces: Names | None = None
    """Namespaces claims may go to, `*` for any (REGISTRAR_ALLOWED_NAMESPACES); default `*`."""
    denied_namespaces: Names | None = None
    """Namespaces never allowed (REGISTRAR_DENIED_NAMESPACES); default the kube-* namespaces."""
    csi_driver: str | None = None
    """CSI driver on the PV (REGISTRAR_CSI_DRIVER); EKS Auto Mode: ebs.csi.eks.amazonaws.com."""
    zone_label: str | None = None
    """Node label of the PV's zone affinity (REGISTRAR_ZONE_LABEL)."""
    delete_on_volume_delete: bool | None = None
    """Delete our PVC and PV when their volume is deleted (REGISTRAR_DELETE_ON_VOLUME_DELETE)."""
    unregister_on_untag: bool | None = None
    """Delete unbound objects when k8s-pv is removed (REGISTRAR_UNREGISTER_ON_UNTAG)."""
    kube_qps: float | None = None
    """Requests per second per Lambda instance to the API server (REGISTRAR_KUBE_QPS)."""
    kube_burst: int | None = None
    """Requests at once before kube_qps applies (REGISTRAR_KUBE_BURST)."""
    allowed_principals: Names | None = None
    """ARN patterns of who may register by tagging (REGISTRAR_ALLOWED_PRINCIPALS); none: anyone."""
    unverified_events: str | None = None
    """With allowed_principals: `refuse` or `cloudtrail` (REGISTRAR_UNVERIFIED_EVENTS)."""
    allowed_reclaim_policies: Names | None = None
    """Reclaim policies a tag may ask for: Retain, Delete (REGISTRAR_ALLOWED_RECLAIM_POLICIES)."""
    reconcile_schedule: str | None = None
    """EventBridge schedule expression of the periodic reconcile; default `rate(1 hour)`."""
    reserved_concurrency: int | None = None
    """Reserved concurrency of the function; default 5."""
    queue_max_concurrency: int | None = None
    """Work queue batches run at once (2 to 1000, capped at reserved_concurrency); default 4."""
    log_retention_days: int | None = None
    """Days the function's logs are kept; default 30."""
    create_trail: bool | None = None
    """Also create a CloudTrail trail and its bucket (when the region has none)."""
    cluster_admin_policy: bool | None = None
    """Associate AmazonEKSClusterAdminPolicy besides the ebs-pv-registrar group."""
    create_access_entries: bool | None = None
    """Create the EKS access entries (false for CONFIG_MAP clusters); default true."""
    install_csi_driver: bool | None = None
    """Also install the aws-ebs-csi-driver add-on and its IAM role on the cluster."""
    csi_driver_identity: str | None = None
    """The driver's credentials: `pod-identity` (default) or `irsa`."""
    csi_driver_policy: str | None = None
    """`v2` (AmazonEBSCSIDriverPolicyV2, default) or `classic`."""
    csi_driver_addon_version: str | None = None
    """Pin the add-on's version; default: the cluster's default version."""
    oidc_provider_arn: str | None = None
    """The cluster's IAM OIDC provider, for csi_driver_identity=`irsa`."""
    csi_driver_resolve_conflicts: str | None = None
    """The add-ons' ResolveConflicts: PRESERVE (default), NONE or OVERWRITE."""
    csi_driver_preserve_on_delete: bool | None = None
    """Leave the add-ons (and the driver's role) when the stack is deleted; default true."""
    csi_driver_kms_key_arns: Names | None = None
    """Customer managed KMS keys the driver's role may use for encrypted volumes."""
    install_pod_identity_agent: bool | None = None
    """Also install the eks-pod-identity-agent add-on (needed by `pod-identity`)."""
    vpc_id: str | None = None
    """Run the function in this VPC (a private or CIDR-restricted API endpoint)."""
    vpc_subnet_ids: Names | None = None
    """Private subnets of vpc_id for the function, one per zone."""
    security_group_ids: Names | None = None
    """The function's security groups; default: one created with HTTPS out only."""
    cluster_security_group_id: str | None = None
    """The cluster security group: gets TCP 443 in from the function's groups."""
    create_vpc_endpoints: bool | None = None
    """Interface endpoints for the APIs the function calls (no NAT gateway needed)."""
    apply_manifests: bool | None = None
    """Apply k8s/ (admission policy, RBAC, gp3 class) with the cluster's kubectl provider."""
    create_dashboard: bool | None = None
    """A CloudWatch dashboard of the registrar; default true."""

    def context_value(self, key: str) -> Any:
        """The option of context key `key` as the key's value: lists comma-joined, None the
        key's default."""
        value = getattr(self, option_name(key))
        if value is None:
            return CONTEXT_DEFAULTS[key]
        if isinstance(value, Sequence) and not isinstance(value, str):
            return ",".join(value)
        return value

    @classmethod
    def context_keys(cls) -> tuple[str, ...]:
        """The context keys that are options."""
        return tuple(key for key in CONTEXT_DEFAULTS if key not in NOT_OPTIONS)

    def config(self, cluster_name: str) -> RegistrarConfig:
        """The configuration these options make for the cluster `cluster_name`, validated by
        the contract's rules; a refusal names the option (`kube_qps='0': ...`)."""

        def get(key: str) -> Any:
            if key == "clusterName":
                return cluster_name
            return CONTEXT_DEFAULTS[key] if key in NOT_OPTIONS else self.context_value(key)

        try:
            return RegistrarConfig.from_values(get, cluster_given=True)
        except ConfigError as error:
            raise ConfigError(_option_names(str(error))) from None


def _option_names(message: str) -> str:
    keys = sorted(RegistrarOptions.context_keys(), key=len, reverse=True)
    return re.sub(r"\b(" + "|".join(keys) + r")\b", lambda m: option_name(m[1]), message)

