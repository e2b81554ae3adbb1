"""Settings (README: Settings), read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from registrar.core.errors import SettingsError

UNVERIFIED_EVENTS = ("refuse", "cloudtrail")
DEFAULT_DENIED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
RECLAIM_POLICIES = ("Retain", "Delete")


def aws_region(environ: Mapping[str, str] | None = None) -> str:
    """The region the Lambda runtime (AWS_REGION) or the AWS CLI (AWS_DEFAULT_REGION) names."""
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or allowed[0]
    if value not in allowed:
        raise SettingsError(name, f"must be one of {', '.join(allowed)}")
    return value


def _subset(
    env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str
) -> tuple[str, ...]:
    values = _csv(env.get(name)) or (default,)
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise SettingsError(name, f"each must be one of {', '.join(allowed)}")
    return values


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise SettingsError(name, "must be true or false")


def _positive(env: Mapping[str, str], name: str, default: float, *, integer: bool) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        number = 0
    if not 0 < number < float("inf"):
        kind = "a positive integer" if integer else "a positive number"
        raise SettingsError(name, f"must be {kind}")
    return number


@dataclass(frozen=True)
class Settings:
    default_cluster: str | None = None
    allowed_clusters: tuple[str, ...] = ()
    default_namespace: str = "default"
    allowed_namespaces: tuple[str, ...] = ("*",)
    denied_namespaces: tuple[str, ...] = DEFAULT_DENIED_NAMESPACES
    csi_driver: str = "ebs.csi.aws.com"
    zone_label: str = "topology.kubernetes.io/zone"
    # A deleted volume's PVC and PV go too (the claim's finalizer waits for its pods).
    delete_on_volume_delete: bool = True
    # Removing `k8s-pv` only marks the objects; with this, unbound ones are deleted.
    unregister_on_untag: bool = False
    # Client-side Kubernetes request rate per gateway (one per Lambda sandbox), client-go's
    # defaults: the fleet's ceiling is reserved concurrency x qps (+ burst).
    kube_qps: float = 5.0
    kube_burst: int = 10
    # ARN patterns (fnmatch) of who may register volumes; empty = whoever may tag them.
    allowed_principals: tuple[str, ...] = ()
    # With allowed principals, an event that names no caller (EBS notification, Tag Change,
    # a sweep's new volume) is refused, or checked against CloudTrail's record of the tagging.
    unverified_events: str = "refuse"
    # `k8s-reclaim-policy` values a tag may ask for. Delete lets whoever may delete the claim
    # have the CSI driver delete the volume (SECURITY.md), so it is opt-in.
    allowed_reclaim_policies: tuple[str, ...] = ("Retain",)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        default_cluster = env.get("REGISTRAR_DEFAULT_CLUSTER", "").strip() or None
        allowed = _csv(env.get("REGISTRAR_ALLOWED_CLUSTERS"))
        if not allowed and default_cluster:
            allowed = (default_cluster,)
        if default_cluster and default_cluster not in allowed:
            raise SettingsError(
                "REGISTRAR_DEFAULT_CLUSTER", "must be one of REGISTRAR_ALLOWED_CLUSTERS"
            )
        denied_raw = env.get("REGISTRAR_DENIED_NAMESPACES")
        return cls(
            default_cluster=default_cluster,
            allowed_clusters=allowed,
            default_namespace=env.get("REGISTRAR_DEFAULT_NAMESPACE", "").strip() or "default",
            allowed_namespaces=_csv(env.get("REGISTRAR_ALLOWED_NAMESPACES")) or ("*",),
            denied_namespaces=DEFAULT_DENIED_NAMESPACES if denied_raw is None else _csv(denied_raw),
            csi_driver=env.get("REGISTRAR_CSI_DRIVER", "").strip() or "ebs.csi.aws.com",
            zone_label=env.get("REGISTRAR_ZONE_LABEL", "").strip() or "topology.kubernetes.io/zone",
            delete_on_volume_delete=_flag(env, "REGISTRAR_DELETE_ON_VOLUME_DELETE", True),
            unregister_on_untag=_flag(env, "REGISTRAR_UNREGISTER_ON_UNTAG", False),
            kube_qps=_positive(env, "REGISTRAR_KUBE_QPS", 5.0, integer=False),
            kube_burst=int(_positive(env, "REGISTRAR_KUBE_BURST", 10, integer=True)),
            allowed_principals=_csv(env.get("REGISTRAR_ALLOWED_PRINCIPALS")),
            unverified_events=_choice(env, "REGISTRAR_UNVERIFIED_EVENTS", UNVERIFIED_EVENTS),
            allowed_reclaim_policies=_subset(
                env, "REGISTRAR_ALLOWED_RECLAIM_POLICIES", RECLAIM_POLICIES, "Retain"
            ),
        )

    def namespace_allowed(self, namespace: str) -> bool:
        if namespace in self.denied_namespaces:
            return False
        return "*" in self.allowed_namespaces or namespace in self.allowed_namespaces

    def principal_allowed(self, principals: tuple[str, ...]) -> bool:
        """No allow-list lets anyone through; otherwise one of the caller's ARNs must match."""
        if not self.allowed_principals:
            return True
        return any(fnmatchcase(arn, p) for arn in principals for p in self.allowed_principals)

    @property
    def clusters(self) -> tuple[str, ...]:
        """Every cluster this deployment manages: where sweeps and deletions look."""
        if self.allowed_clusters:
            return self.allowed_clusters
        return (self.default_cluster,) if self.default_cluster else ()
