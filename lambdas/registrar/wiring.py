"""Builds the registrar from its real adapters: AWS through adapters/aws.py, clusters through
adapters/eks.py.

`wire` is the one place they are put together. The Lambda (handler.registrar), the command line,
the demo and the end-to-end tests all call it; they differ only in what they hand in: a botocore
session (the demo's and the tests' sign as an IAM role in moto) and a cluster directory (theirs
points at the local control plane instead of asking EKS)."""

from __future__ import annotations

from dataclasses import dataclass

from registrar.adapters.aws import (
    CloudTrailIdentities,
    Ec2Volumes,
    EksDirectory,
    LazySession,
    SqsWorkQueue,
    lazy_session,
)
from registrar.adapters.eks import EksConnector, session_credentials
from registrar.adapters.kube_transport import RateLimit
from registrar.core.settings import Settings
from registrar.engine.ports import ClusterConnector, ClusterDirectory
from registrar.engine.service import Registrar


@dataclass(frozen=True)
class Wiring:
    """One deployment's settings and the gateways its registrar goes through."""

    settings: Settings
    volumes: Ec2Volumes
    clusters: ClusterConnector
    identities: CloudTrailIdentities | None = None
    sink: SqsWorkQueue | None = None  # the work queue: events and sweeps queue their volumes

    def registrar(self) -> Registrar:
        return Registrar(self.settings, self.volumes, self.clusters, self.identities, self.sink)


def wire(
    settings: Settings,
    region: str,
    *,
    session: LazySession | None = None,
    directory: ClusterDirectory | None = None,
    work_queue_url: str | None = None,
) -> Wiring:
    """One botocore session, made on first use, serves every client and the EKS token's
    credentials. The settings' Kubernetes rate limit applies to every cluster gateway.
    CloudTrail lookups only when an allow-list is set and unverified events ask for them. With
    the stack's work queue, the registrar's sink is that queue (README, "Architecture")."""
    session = session or lazy_session()
    clusters = EksConnector(
        region,
        directory=directory or EksDirectory(region, session),
        credentials=session_credentials(session),
        rate_limit=RateLimit(qps=settings.kube_qps, burst=settings.kube_burst),
    )
    identities = None
    if settings.allowed_principals and settings.unverified_events == "cloudtrail":
        identities = CloudTrailIdentities(region, session)
    sink = SqsWorkQueue(work_queue_url, region, session) if work_queue_url else None
    return Wiring(settings, Ec2Volumes(region, session), clusters, identities, sink)
