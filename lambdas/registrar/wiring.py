"""Builds the registrar from its real adapters: AWS through adapters/aws.py, clusters through
adapters/eks.py."""

from __future__ import annotations

from registrar.adapters.aws import (
    CloudTrailIdentities,
    Ec2Volumes,
    EksDirectory,
    LazySession,
    lazy_session,
)
from registrar.adapters.eks import EksConnector, session_credentials
from registrar.adapters.kube_transport import RateLimit
from registrar.core.settings import Settings
from registrar.engine.service import Registrar


def build_gateways(
    region: str, settings: Settings | None = None, session: LazySession | None = None
) -> tuple[Ec2Volumes, EksConnector]:
    """The settings' Kubernetes rate limit (read from the environment when not given) applies
    to every cluster gateway of the connector. One botocore session, made on first use,
    serves every client and the token's credentials."""
    settings = settings or Settings.from_env()
    session = session or lazy_session()
    rate_limit = RateLimit(qps=settings.kube_qps, burst=settings.kube_burst)
    clusters = EksConnector(
        region,
        directory=EksDirectory(region, session),
        credentials=session_credentials(session),
        rate_limit=rate_limit,
    )
    return Ec2Volumes(region, session), clusters


def build_identities(
    settings: Settings, region: str, session: LazySession | None = None
) -> CloudTrailIdentities | None:
    """CloudTrail lookups only when an allow-list is set and unverified events ask for them."""
    if settings.allowed_principals and settings.unverified_events == "cloudtrail":
        return CloudTrailIdentities(region, session)
    return None


def build_registrar(settings: Settings, region: str) -> Registrar:
    session = lazy_session()
    identities = build_identities(settings, region, session)
    return Registrar(settings, *build_gateways(region, settings, session), identities)
