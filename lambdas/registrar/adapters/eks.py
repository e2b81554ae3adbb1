"""Gateways to EKS clusters: discovery, cached across warm invocations, and fresh tokens."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import botocore.session
from botocore.credentials import Credentials, ReadOnlyCredentials

from registrar.adapters.aws import EksDirectory
from registrar.adapters.eks_token import Clock, EksToken, get_token, utc_now
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUTS,
    NoConnectionError,
    RateLimit,
    Timeouts,
    TlsError,
)
from registrar.core.errors import ClusterUnreachableError, RegistrarError, UnauthorizedError
from registrar.core.models import ClusterInfo, Kind, Manifest
from registrar.engine.ports import ClusterDirectory, KubePort

log = logging.getLogger(__name__)

CredentialSource = Callable[[], Credentials | ReadOnlyCredentials | None]
GatewayFactory = Callable[[ClusterInfo, Callable[[bool], str]], KubeGateway]
T = TypeVar("T")
# Lists only happen in sweeps (and lifecycle lookups): fewer, larger pages cost fewer requests
# under the rate limit. 500 is client-go's pager default.
SWEEP_PAGE_SIZE = 500


def default_credentials() -> Credentials | ReadOnlyCredentials | None:
    """The default chain of a botocore session (refreshable credentials refresh themselves)."""
    return session_credentials(botocore.session.get_session)()


def session_credentials(session: Callable[[], botocore.session.Session]) -> CredentialSource:
    """The default chain of `session()` (share one: a new session costs ~25 ms of handler
    registration); refreshable credentials refresh themselves."""

    def current() -> Credentials | ReadOnlyCredentials | None:
        creds = session().get_credentials()
        return None if creds is None else creds.get_frozen_credentials()

    return current


class RefreshingToken:
    """A token provider for KubeGateway: mints a token when it nears its 14 minutes or on demand."""

    def __init__(
        self, cluster: str, region: str, credentials: CredentialSource, clock: Clock = utc_now
    ) -> None:
        self._cluster = cluster
        self._region = region
        self._credentials = credentials
        self._clock = clock
        self._current: EksToken | None = None
        self._lock = threading.Lock()

    def __call__(self, force: bool = False) -> str:
        with self._lock:
            now = self._clock()
            if force or self._current is None or self._current.needs_refresh(now):
                creds = self._credentials()
                if creds is None:
                    raise UnauthorizedError("no AWS credentials to sign an EKS token with")
                self._current = get_token(self._cluster, self._region, creds, self._clock)
            return self._current.token


class EksConnector:
    """ClusterConnector: one cached gateway per cluster. Keep one instance per Lambda sandbox
    (the handler caches its registrar) so warm invocations skip DescribeCluster."""

    def __init__(
        self,
        region: str,
        *,
        directory: ClusterDirectory | None = None,
        credentials: CredentialSource = default_credentials,
        clock: Clock = utc_now,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        gateway_factory: GatewayFactory | None = None,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        page_size: int = SWEEP_PAGE_SIZE,
    ) -> None:
        self._directory = directory or EksDirectory(region)
        self._region = region
        self._credentials = credentials
        self._clock = clock
        self._factory = gateway_factory or (
            lambda info, token: KubeGateway(
                info.endpoint,
                info.ca_pem,
                token,
                timeouts,
                rate_limit=rate_limit,
                page_size=page_size,
            )
        )
        self._gateways: dict[str, KubeGateway] = {}
        self._infos: dict[str, ClusterInfo] = {}
        self._lock = threading.Lock()

    def kube_for(self, cluster: str) -> KubePort:
        return _Rediscovering(self, cluster)

    def gateway(self, cluster: str) -> KubeGateway:
        with self._lock:
            gateway = self._gateways.get(cluster)
            if gateway is None:
                info = self._infos[cluster] = self._directory.describe_cluster(cluster)
                region = info.region or self._region
                token = RefreshingToken(cluster, region, self._credentials, self._clock)
                gateway = self._gateways[cluster] = self._factory(info, token)
            return gateway

    def unreachable(self, cluster: str, error: NoConnectionError) -> RegistrarError:
        """A connection failure, explained when the endpoint's access settings explain it."""
        info = self._infos.get(cluster)
        reason = None if info is None else endpoint_closed_reason(info)
        return error if reason is None else ClusterUnreachableError(reason)

    def forget(self, cluster: str) -> None:
        """Drop the cached endpoint, CA and gateway: the next call describes the cluster again."""
        with self._lock:
            gateway = self._gateways.pop(cluster, None)
        if gateway is not None:
            gateway.close()


class _Rediscovering:
    """KubePort that, after a TLS failure, rediscovers the cluster (CA rotated, endpoint moved)
    and retries the call once."""

    def __init__(self, connector: EksConnector, cluster: str) -> None:
        self._connector = connector
        self._cluster = cluster

    def _run(self, call: Callable[[KubeGateway], T]) -> T:
        try:
            return call(self._connector.gateway(self._cluster))
        except NoConnectionError as error:
            raise self._connector.unreachable(self._cluster, error) from error
        except TlsError:
            log.warning(
                "TLS failure; describing the cluster again", extra={"cluster": self._cluster}
            )
            self._connector.forget(self._cluster)
            return call(self._connector.gateway(self._cluster))

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        return self._run(lambda g: g.get(kind, name, namespace))

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        return self._run(lambda g: g.create(manifest))

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        return self._run(lambda g: g.patch(kind, name, namespace, patch))

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        self._run(lambda g: g.delete(kind, name, namespace))

    def list(
        self, kind: Kind, label_selector: str = "", namespace: str | None = None
    ) -> Iterator[Manifest]:
        # Only the first page is fetched under the rediscovery guard; later pages reuse it.
        pages = self._run(lambda g: _primed(g.list(kind, label_selector, namespace)))
        yield from pages

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        self._run(lambda g: g.record_event(involved, reason, message, event_type))


def endpoint_closed_reason(info: ClusterInfo) -> str | None:
    """Why a function outside the cluster's VPC cannot connect, from DescribeCluster's
    resourcesVpcConfig (EKS API reference: VpcConfigResponse); None when the endpoint is open."""
    fix = "deploy the registrar with vpcId and vpcSubnetIds (its VPC and private subnets) and "
    fix += "clusterSecurityGroupId (docs/deploy.md: private endpoints)"
    if not info.public_access:
        return f"cluster: {info.name} has a private endpoint; {fix}"
    if "0.0.0.0/0" not in info.public_access_cidrs:
        shown = info.public_access_cidrs[:3]
        cidrs = ", ".join(shown) + (" …" if len(info.public_access_cidrs) > len(shown) else "")
        return (f"cluster: {info.name} accepts its public endpoint only from {cidrs}; {fix}, "
                "or allow the function's NAT address in publicAccessCidrs")
    return None


def _primed(items: Iterator[Manifest]) -> Iterator[Manifest]:
    """Pull the first item now, so a TLS failure surfaces inside the retry guard."""
    first = next(items, None)

    def chained() -> Iterator[Manifest]:
        if first is not None:
            yield first
            yield from items

    return chained()


