"""Settings (README: Settings), read from the environment once, each by its rule in
core/contract.py (the same rules the CDK stack applies to its context at synthesis)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from registrar.core import contract as c

RECLAIM_POLICIES = c.RECLAIM_POLICIES


def aws_region(environ: Mapping[str, str] | None = None) -> str:
    """The region the Lambda runtime (AWS_REGION) or the AWS CLI (AWS_DEFAULT_REGION) names."""
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def work_queue_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The stack's work queue (c.WORK_QUEUE_VARIABLE), or None: every event's work is done
    where it arrives."""
    env = os.environ if environ is None else environ
    return env.get(c.WORK_QUEUE_VARIABLE, "").strip() or None


@dataclass(frozen=True)
class Settings:
    default_cluster: str | None = c.DEFAULT_CLUSTER.fallback
    allowed_clusters: tuple[str, ...] = c.ALLOWED_CLUSTERS.fallback
    default_namespace: str = c.DEFAULT_NAMESPACE.fallback
    allowed_namespaces: tuple[str, ...] = c.ALLOWED_NAMESPACES.fallback
    denied_namespaces: tuple[str, ...] = c.DENIED_NAMESPACES.fallback
    csi_driver: str = c.CSI_DRIVER.fallback
    zone_label: str = c.ZONE_LABEL.fallback
    # A deleted volume's PVC and PV go too (the claim's finalizer waits for its pods).
    delete_on_volume_delete: bool = c.DELETE_ON_VOLUME_DELETE.fallback
    # Removing `k8s-pv` only marks the objects; with this, unbound ones are deleted.
    unregister_on_untag: bool = c.UNREGISTER_ON_UNTAG.fallback
    # Client-side Kubernetes request rate per gateway (one per Lambda sandbox), client-go's
    # defaults: the fleet's ceiling is reserved concurrency x qps (+ burst).
    kube_qps: float = c.KUBE_QPS.fallback
    kube_burst: int = c.KUBE_BURST.fallback
    # ARN patterns (fnmatch) of who may register volumes; empty = whoever may tag them.
    allowed_principals: tuple[str, ...] = c.ALLOWED_PRINCIPALS.fallback
    # With allowed principals, an event that names no caller (EBS notification, Tag Change,
    # a sweep's new volume) is refused, or checked against CloudTrail's record of the tagging.
    unverified_events: str = c.UNVERIFIED.fallback
    # `k8s-reclaim-policy` values a tag may ask for. Delete lets whoever may delete the claim
    # have the CSI driver delete the volume (SECURITY.md), so it is opt-in.
    allowed_reclaim_policies: tuple[str, ...] = c.ALLOWED_RECLAIM_POLICIES.fallback

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Raises SettingsError (the variable and its rule) for a value the contract refuses."""
        return cls(**c.read_all(os.environ if environ is None else environ))

    def namespace_allowed(self, namespace: str) -> bool:
        if namespace in self.denied_namespaces:
            return False
        return c.ANY_NAMESPACE in self.allowed_namespaces or namespace in self.allowed_namespaces

    def principal_allowed(self, principals: tuple[str, ...]) -> bool:
        """No allow-list lets anyone through; otherwise one of the caller's ARNs must match."""
        if not self.allowed_principals:
            return True
        return any(fnmatchcase(arn, p) for arn in principals for p in self.allowed_principals)

    @property
    def looks_up_callers(self) -> bool:
        """CloudTrail tells who tagged a volume (cloudtrail:LookupEvents is granted for it)."""
        return bool(self.allowed_principals) and self.unverified_events == "cloudtrail"

    @property
    def clusters(self) -> tuple[str, ...]:
        """Every cluster this deployment manages: where sweeps and deletions look."""
        if self.allowed_clusters:
            return self.allowed_clusters
        return (self.default_cluster,) if self.default_cluster else ()
