"""The Kubernetes gateway: the only module that imports `kubernetes`.

It talks to the handful of core/v1 endpoints through the package's REST layer
(`kubernetes.client.rest` + `configuration`), not the generated API classes, which cost
about half a second to import. HTTP statuses become the domain errors of `errors.py`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

from registrar.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RegistrarError,
    TransientError,
    UnauthorizedError,
)
from registrar.models import Kind, Manifest


def _bare_packages(*names: str) -> None:
    """`kubernetes/__init__.py` eagerly imports config, dynamic, watch and stream (~0.25 s), and
    `kubernetes/utils/__init__.py` imports yaml for create_from_yaml. Bare package modules in
    their place let us import just the REST submodules we use."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError(f"the {name} package is not installed")
        package = types.ModuleType(name)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)


_bare_packages("kubernetes", "kubernetes.utils")

import urllib3  # noqa: E402
from kubernetes.client.configuration import Configuration  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.client.rest import RESTClientObject  # noqa: E402

log = logging.getLogger(__name__)

# Called with force=True after a 401; otherwise returns a cached token, minting when it is stale.
TokenProvider = Callable[[bool], str]

MANAGER = "ebs-pv-registrar"
EVENT_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 20.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for 429, 5xx and network errors, and for a new identity's 401/403."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0  # caps both the backoff and a server's Retry-After
    # One call gives up once retrying would pass this many seconds: a hanging API server
    # fails as transient well inside the Lambda's 60 s timeout, and EventBridge retries.
    budget: float = 30.0
    # A fresh EKS access entry takes seconds to reach the API server: until this gateway has
    # had one success, 401/403 are retried for this long (afterwards a 403 is RBAC's answer).
    auth_grace: float = 15.0
    auth_attempts: int = 8


@dataclass(frozen=True)
class RateLimit:
    """Client-side request rate per gateway: a token bucket, client-go's defaults."""

    qps: float = 5.0
    burst: int = 10


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_RATE_LIMIT = RateLimit()
DEFAULT_PAGE_SIZE = 250


class TokenBucket:
    """Allows `burst` requests at once, then `qps` per second. Thread-safe: a caller reserves
    its token under the lock and sleeps outside it, so concurrent callers queue up in order."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not qps > 0 or burst < 1:
            raise InvalidInputError("rate limit", "qps must be positive and burst at least 1")
        self._qps = float(qps)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._qps
        if wait > 0:
            log.debug("rate limit: waiting %.3f s", wait)
            self._sleep(wait)
        return wait


class TlsError(TransientError):
    """The TLS handshake failed (unknown CA, wrong host): the cached CA or endpoint may be stale."""


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


_RESOURCES: dict[str, _Resource] = {
    "PersistentVolume": _Resource("persistentvolumes", namespaced=False),
    "PersistentVolumeClaim": _Resource("persistentvolumeclaims", namespaced=True),
}


class KubeGateway:
    """`KubePort` over HTTPS with a bearer token. TLS is always verified against `ca_pem`."""

    def __init__(
        self,
        endpoint: str,
        ca_pem: bytes,
        token_provider: TokenProvider,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = DEFAULT_PAGE_SIZE,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        limiter: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`rate_limit` caps this gateway's requests (every HTTP attempt, retries included);
        `limiter` replaces the bucket it builds (tests pass one with a fake clock)."""
        if not endpoint.startswith("https://"):
            raise InvalidInputError("endpoint", "must be an https:// URL")
        self._endpoint = endpoint.rstrip("/")
        self._token = token_provider
        self._timeouts = timeouts
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._born = clock()
        self._trusted = False  # set by the first success: auth errors are final from then on
        self._page_size = page_size
        self._limiter = limiter or TokenBucket(rate_limit.qps, rate_limit.burst)
        config = Configuration(host=self._endpoint)
        config.verify_ssl = True
        config.ca_cert_data = _pem_text(ca_pem)  # urllib3 keeps it in memory: no temp file
        config.retries = False  # our loop retries; urllib3's would multiply the timeouts
        self._rest = RESTClientObject(config)

    def close(self) -> None:
        self._rest.close()

    # --- KubePort ---------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        res = _resource(kind)
        return _typed(kind, self._call("GET", _path(res, namespace, name), "get", res.plural))

    def create(self, manifest: Mapping[str, Any]) -> Manifest:
        kind = str(manifest.get("kind", ""))
        res = _resource(kind)
        namespace = manifest.get("metadata", {}).get("namespace")
        path = _path(res, namespace, None)
        return _typed(kind, self._call("POST", path, "create", res.plural, body=dict(manifest)))

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any]
    ) -> Manifest:
        res = _resource(kind)
        body = self._call(
            "PATCH",
            _path(res, namespace, name),
            "patch",
            res.plural,
            body=dict(patch),
            content_type="application/merge-patch+json",
        )
        return _typed(kind, body)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        res = _resource(kind)
        self._call("DELETE", _path(res, namespace, name), "delete", res.plural)

    def list(
        self, kind: Kind, label_selector: str, namespace: str | None = None
    ) -> Iterator[Manifest]:
        res = _resource(kind)
        path = _path(res, namespace, None)
        token = ""
        while True:
            query = {"labelSelector": label_selector, "limit": str(self._page_size)}
            if token:
                query["continue"] = token
            page = self._call("GET", path, "list", res.plural, query=query)
            for item in page.get("items") or []:
                yield _typed(kind, item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def record_event(
        self, involved: Mapping[str, Any], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        meta = involved.get("metadata", {})
        namespace = meta.get("namespace") or "default"  # cluster-scoped PVs: kubectl finds them
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        reference = {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": {k: v for k, v in reference.items() if v},
            "reason": reason,
            "message": message[:EVENT_MESSAGE_LIMIT],
            "type": event_type,
            "source": {"component": MANAGER},
            "reportingComponent": MANAGER,
            "reportingInstance": MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
        self._call("POST", path, "create", "events", body=event)

    # --- transport ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        verb: str,
        resource: str,
        *,
        query: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        url = self._endpoint + path + (f"?{urlencode(query)}" if query else "")
        what = f"{verb} {resource} ({path})"
        refreshed = False
        attempt = auth_attempt = 0
        started = self._clock()
        while True:
            attempt += 1
            try:
                status, headers, data = self._send(method, url, refreshed, body, content_type)
            except TlsError:
                raise
            except TransientError as exc:
                delay = self._backoff(attempt, None)
                if attempt >= self._retry.attempts or self._past_budget(started, delay):
                    raise TransientError(f"{what}: {exc}") from exc
                self._sleep(delay)
                continue
            log.debug("%s %s -> %s", method, path, status)
            if 200 <= status < 300:
                self._trusted = True
                return dict(json.loads(data)) if data else {}
            if status == 401 and not refreshed:
                refreshed = True
                attempt -= 1  # a refresh is not a retry
                continue
            retry_after = _retry_after(headers.get("Retry-After"))
            delay = self._backoff(attempt, retry_after)
            retryable = (status == 429 or status >= 500) and attempt < self._retry.attempts
            if retryable and not self._past_budget(started, delay):
                self._sleep(delay)
                continue
            if status in (401, 403) and self._propagating(auth_attempt):
                auth_attempt += 1
                attempt -= 1
                log.info("%s %s: %s, access may still be propagating", method, path, status)
                self._sleep(self._backoff(auth_attempt, None))
                continue
            raise _error(
                status, what=what, verb=verb, resource=resource, data=data, retry_after=retry_after
            )

    def _send(
        self, method: str, url: str, refresh: bool, body: dict[str, Any] | None, content_type: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        self._limiter.acquire()
        headers = {
            "Authorization": f"Bearer {self._token(refresh)}",
            "Accept": "application/json",
            "User-Agent": MANAGER,
        }
        if body is not None:
            headers["Content-Type"] = content_type
        timeout = (self._timeouts.connect, self._timeouts.read)
        try:
            response = self._rest.request(  # type: ignore[no-untyped-call]
                method, url, headers=headers, body=body, _request_timeout=timeout
            )
            return response.status, response.headers, response.read()
        except ApiException as exc:  # the REST layer wraps urllib3's SSLError this way
            raise TlsError(f"TLS failure talking to {self._endpoint}: {exc.reason}") from None
        except urllib3.exceptions.SSLError as exc:
            raise TlsError(f"TLS failure talking to {self._endpoint}: {exc}") from None
        except urllib3.exceptions.HTTPError as exc:  # timeouts, refused, reset
            raise TransientError(f"{type(exc).__name__} talking to {self._endpoint}") from None

    def _past_budget(self, started: float, delay: float) -> bool:
        return self._clock() - started + delay > self._retry.budget

    def _propagating(self, auth_attempt: int) -> bool:
        young = self._clock() - self._born < self._retry.auth_grace
        return not self._trusted and young and auth_attempt < self._retry.auth_attempts

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = retry_after
        if delay is None:
            delay = self._retry.base_delay * 2 ** (attempt - 1)
        return max(0.0, min(delay, self._retry.max_delay))


def _pem_text(ca_pem: bytes) -> str:
    try:
        text = ca_pem.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TlsError("the cluster CA is not a PEM certificate")
    return text


def _resource(kind: str) -> _Resource:
    try:
        return _RESOURCES[kind]
    except KeyError:
        raise InvalidInputError("kind", f"unsupported kind {kind!r}") from None


def _path(res: _Resource, namespace: str | None, name: str | None) -> str:
    path = "/api/v1"
    if res.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{res.plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


def _typed(kind: str, manifest: dict[str, Any]) -> Manifest:
    """List items come without kind/apiVersion; the rest of the registrar expects them."""
    manifest.setdefault("apiVersion", "v1")
    manifest.setdefault("kind", kind)
    return manifest


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_message(data: bytes) -> str:
    try:
        status = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace").strip()
    return str(status.get("message", "")) if isinstance(status, dict) else ""


def _error(
    status: int,
    *,
    what: str,
    verb: str,
    resource: str,
    data: bytes,
    retry_after: float | None,
) -> RegistrarError:
    message = _status_message(data)
    detail = f"{what}: HTTP {status}" + (f": {message}" if message else "")
    if status == 404:
        return NotFoundError(detail)
    if status == 409:
        return ConflictError(detail)
    if status == 403:
        return ForbiddenError(
            f"RBAC or an admission policy refused verb {verb!r} on resource {resource!r}: {detail}"
        )
    if status == 401:
        return UnauthorizedError(f"{what}: the cluster refused the token even after a refresh")
    if status in (400, 422):
        return InvalidInputError(resource, message or f"HTTP {status}")
    if status == 429 or status >= 500 or status == 410:
        return TransientError(detail, retry_after)
    return RegistrarError(detail)
