"""The texts the registrar writes on a volume as `k8s-pv-status`, and how it reads them back."""

from __future__ import annotations

from collections.abc import Mapping

from registrar.core import tags as t
from registrar.core.errors import (
    ForbiddenError,
    NotFoundError,
    RegistrarError,
    RejectedError,
    UnauthorizedError,
)

REGISTERED = "registered "


def registered_text(cluster: str | None, pv_name: str, claim: tuple[str, str] | None) -> str:
    target = f"{REGISTERED}{cluster}/{pv_name}"
    if claim is not None:
        target += f" -> {claim[0]}/{claim[1]}"
    return status_text(target)


def unmanaged_status(cluster: str, pv_name: str, why: str) -> str:
    """What a volume says once its objects are no longer managed (so it may register elsewhere)."""
    return status_text(f"unmanaged {cluster}/{pv_name}: {why}")


def registered_cluster(status: str) -> str | None:
    """The cluster a `registered <cluster>/<pv> …` status names, if any."""
    if not status.startswith(REGISTERED):
        return None
    return status[len(REGISTERED) :].split("/", 1)[0] or None


def refusal_reason(kind: str, namespace: str | None, error: RegistrarError) -> str:
    """What a volume says when the API server refused one of its objects for good."""
    if isinstance(error, NotFoundError) and kind == "PersistentVolumeClaim" and namespace:
        return f'namespace "{namespace}" does not exist'  # a create's 404: no such namespace
    if isinstance(error, ForbiddenError):  # where first: a status is cut at 256 characters
        where = f' in namespace "{namespace}"' if namespace else ""
        rules = "k8s/rbac.yaml, k8s/admission-policy.yaml"
        return f"the registrar may not write it{where} (403: {rules}): {error}"
    if isinstance(error, RejectedError):
        return f"rejected by the API server: {error.reason}"
    if isinstance(error, UnauthorizedError):
        return "the cluster refused the registrar's credentials (401, check its access entry)"
    return str(error)


def error_status(reason: str) -> str:
    return status_text(f"error: {reason}")


def status_text(text: str) -> str:
    """One printable line of at most 256 characters: what an EC2 tag value can hold."""
    line = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(line.split())
    limit = t.STATUS_MAX_LENGTH
    return line if len(line) <= limit else line[: limit - 1] + "…"


def quoted(value: str, limit: int = 40) -> str:
    """A user value quoted for a message: escaped and cut, so one line stays one line."""
    shown = value if len(value) <= limit else value[:limit] + "…"
    return ascii(shown)


def status_tags(status: str, cluster: str | None, csi_driver: str) -> dict[str, str]:
    """What to write on a volume with this status. Only a registered volume gets the tags that
    let a CSI driver act on it (`ebs.csi.aws.com/cluster=true` lets the driver, under
    AmazonEBSCSIDriverPolicyV2, modify and delete it; `ebs.csi.aws.com/cluster-name=<cluster>`
    lets the driver of that cluster alone, under AmazonEBSCSIDriverEKSClusterScopedPolicy,
    attach it; Auto Mode attaches only volumes tagged `eks:eks-cluster-name=<cluster>`)."""
    tags = {t.STATUS_TAG: status}
    if status.startswith(REGISTERED):
        tags[t.CSI_CLUSTER_TAG] = "true"
        if cluster:
            tags[t.CSI_CLUSTER_NAME_TAG] = cluster
        if csi_driver == t.AUTO_MODE_CSI_DRIVER and cluster:
            tags[t.EKS_CLUSTER_NAME_TAG] = cluster
    return tags


def cluster_name_tags(tags: Mapping[str, str]) -> tuple[str, ...]:
    """The cluster-naming keys a volume carries: what its release removes."""
    return tuple(key for key in t.CLUSTER_NAME_TAGS if key in tags)


def status_is_current(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """The volume already carries every wanted tag (a duplicate event): no write needed."""
    return all(tags.get(key) == value for key, value in wanted.items())
