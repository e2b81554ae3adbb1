"""Builds the registrar from its real adapters: AWS through adapters/aws.py, clusters through
adapters/eks.py."""

from __future__ import annotations

from registrar.adapters.aws import CloudTrailIdentities, Ec2Volumes
from registrar.adapters.eks import EksConnector
from registrar.adapters.kube_transport import RateLimit
from registrar.core.settings import Settings
from registrar.engine.service import Registrar


def build_gateways(
    region: str, settings: Settings | None = None
) -> tuple[Ec2Volumes, EksConnector]:
    """The settings' Kubernetes rate limit (read from the environment when not given) applies
    to every cluster gateway of the connector."""
    settings = settings or Settings.from_env()
    rate_limit = RateLimit(qps=settings.kube_qps, burst=settings.kube_burst)
    return Ec2Volumes(region), EksConnector(region, rate_limit=rate_limit)


def build_identities(settings: Settings, region: str) -> CloudTrailIdentities | None:
    """CloudTrail lookups only when an allow-list is set and unverified events ask for them."""
    if settings.allowed_principals and settings.unverified_events == "cloudtrail":
        return CloudTrailIdentities(region)
    return None


def build_registrar(settings: Settings, region: str) -> Registrar:
    identities = build_identities(settings, region)
    return Registrar(settings, *build_gateways(region, settings), identities)
