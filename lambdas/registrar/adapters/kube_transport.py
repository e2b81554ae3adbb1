"""Kubernetes transport: HTTPS, bearer token refresh, TLS, rate limit, retries, status mapping.

With `kube.py` (the resources) the only code that imports `kubernetes` or `urllib3`. It talks
through the package's REST layer (`kubernetes.client.rest` + `configuration`), not the generated
API classes, which cost about half a second to import. HTTP statuses become the errors of
`core/errors.py`.

Importing this module replaces `kubernetes` and `kubernetes.utils` in `sys.modules` with bare
package modules (see `_bare_packages`), for the whole process: after it, `import kubernetes` no
longer brings `kubernetes.config`, `kubernetes.watch` or the generated API classes as attributes.
A caller that needs them imports the submodule by its full name (`import kubernetes.config`),
which still works.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

from registrar.adapters.token_bucket import TokenBucket
from registrar.core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ProtocolError,
    RegistrarError,
    RejectedError,
    TransientError,
    UnauthorizedError,
)
from registrar.core.tags import MANAGER


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


class NoConnectionError(TransientError):
    """No TCP connection to the endpoint (refused, or no answer in time): on a private or
    IP-restricted endpoint, a sign that the function runs where it may not reach it."""


class TlsError(TransientError):
    """The TLS handshake failed (unknown CA, wrong host): the cached CA or endpoint may be stale."""


class TransportOptions(TypedDict, total=False):
    """How a transport retries and paces itself; every key has a production default.

    `rate_limit` caps its requests (every HTTP attempt, retries included); `limiter`, `sleep`
    and `clock` replace the bucket, the waits and the time it uses (tests pass fakes)."""

    retry: RetryPolicy
    sleep: Callable[[float], None]
    rate_limit: RateLimit
    limiter: TokenBucket | None
    clock: Callable[[], float]


class KubeTransport:
    """One cluster's API over HTTPS with a bearer token. TLS is always verified against `ca_pem`."""

    def __init__(
        self,
        endpoint: str,
        ca_pem: bytes,
        token_provider: TokenProvider,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        **options: Unpack[TransportOptions],
    ) -> None:
        if not endpoint.startswith("https://"):
            raise ProtocolError(f"the cluster endpoint must be an https:// URL, got {endpoint!r}")
        self._endpoint = endpoint.rstrip("/")
        self._token = token_provider
        self._timeouts = timeouts
        self._retry = options.get("retry", DEFAULT_RETRY)
        self._sleep = options.get("sleep", time.sleep)
        self._clock = options.get("clock", time.monotonic)
        self._born = self._clock()
        self._trusted = False  # set by the first success: auth errors are final from then on
        rate_limit = options.get("rate_limit", DEFAULT_RATE_LIMIT)
        self._limiter = options.get("limiter") or TokenBucket(rate_limit.qps, rate_limit.burst)
        config = Configuration(host=self._endpoint)
        config.verify_ssl = True
        config.ca_cert_data = _pem_text(ca_pem)  # urllib3 keeps it in memory: no temp file
        config.retries = False  # our loop retries; urllib3's would multiply the timeouts
        self._rest = RESTClientObject(config)

    def close(self) -> None:
        self._rest.close()

    def call(
        self,
        method: str,
        path: str,
        verb: str,
        resource: str,
        *,
        query: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> dict[str, Any]:
        """One request, retried as its error allows; the answer decoded (`object_hook` as
        `json.loads` takes it)."""
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
                    raise type(exc)(f"{what}: {exc}") from exc  # keeps NoConnectionError
                self._sleep(delay)
                continue
            log.debug("%s %s -> %s", method, path, status)
            if 200 <= status < 300:
                self._trusted = True
                return dict(json.loads(data, object_hook=object_hook)) if data else {}
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
        except urllib3.exceptions.ConnectTimeoutError as exc:  # also NewConnectionError
            raise NoConnectionError(f"{type(exc).__name__} talking to {self._endpoint}") from None
        except urllib3.exceptions.HTTPError as exc:  # read timeouts, resets
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
        return RejectedError(resource, message or f"HTTP {status}")
    if status == 429 or status >= 500 or status == 410:
        return TransientError(detail, retry_after)
    return ProtocolError(detail)
