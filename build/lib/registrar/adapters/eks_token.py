"""EKS bearer tokens, byte for byte what `aws eks get-token` prints. Pure signing, no network.

Mirrors awscli's `customizations/eks/get_token.py`: a presigned STS GetCallerIdentity GET URL
against the regional STS endpoint, with the signed header `x-k8s-aws-id: <cluster>` and
`X-Amz-Expires=60`, prefixed `k8s-aws-v1.` and base64url-encoded without padding.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TextIO

from botocore.auth import SIGV4_TIMESTAMP, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.loaders import create_loader

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a prefix, not a secret)
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
URL_TIMEOUT = 60
TOKEN_EXPIRATION_MINS = 14
# Refresh this long before the 14 minutes are up, so a token never dies mid-request.
REFRESH_MARGIN = timedelta(minutes=1)

BETA_API = "client.authentication.k8s.io/v1beta1"
V1_API = "client.authentication.k8s.io/v1"
ALPHA_API = "client.authentication.k8s.io/v1alpha1"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EksToken:
    """A bearer token and the time it was minted (UTC). The token is never in a repr."""

    token: str = field(repr=False)
    issued_at: datetime

    @property
    def expiration(self) -> datetime:
        return self.issued_at + timedelta(minutes=TOKEN_EXPIRATION_MINS)

    def needs_refresh(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        return now >= self.expiration - margin


@cache
def _partitions() -> list[dict[str, Any]]:
    data = create_loader().load_data("partitions")
    return list(data["partitions"])


def sts_host(region: str) -> str:
    """`sts.<region>.<dns suffix of the region's partition>`, from botocore's partitions."""
    partitions = _partitions()
    for partition in partitions:
        if region in partition["regions"] or re.match(partition["regionRegex"], region):
            return f"sts.{region}.{partition['outputs']['dnsSuffix']}"
    default = next(p for p in partitions if p["id"] == "aws")
    return f"sts.{region}.{default['outputs']['dnsSuffix']}"


class _FixedClockQueryAuth(SigV4QueryAuth):  # type: ignore[misc]
    """SigV4 query signing at a given instant, without botocore's DEBUG lines that print the
    canonical request and the signature (a presigned URL is a bearer credential)."""

    def __init__(self, credentials: Credentials, region: str, now: datetime) -> None:
        super().__init__(credentials, "sts", region, expires=URL_TIMEOUT)
        self._now = now

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._now.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def presigned_url(
    cluster: str, region: str, credentials: Credentials | ReadOnlyCredentials, now: datetime
) -> str:
    """The presigned STS GetCallerIdentity URL that the token wraps."""
    if isinstance(credentials, ReadOnlyCredentials):
        credentials = Credentials(credentials.access_key, credentials.secret_key, credentials.token)
    request = AWSRequest(
        method="GET",
        url=f"https://{sts_host(region)}/",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={K8S_AWS_ID_HEADER: cluster},
    )
    _FixedClockQueryAuth(credentials, region, _naive_utc(now)).add_auth(request)
    return str(request.url)


def get_token(
    cluster: str,
    region: str,
    credentials: Credentials | ReadOnlyCredentials,
    clock: Clock = utc_now,
) -> EksToken:
    now = _aware_utc(clock())
    url = presigned_url(cluster, region, credentials, now)
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("utf-8").rstrip("=")
    return EksToken(token=TOKEN_PREFIX + encoded, issued_at=now)


def exec_credential(token: EksToken, api_version: str = BETA_API) -> dict[str, Any]:
    """The ExecCredential object, keys in awscli's order."""
    return {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {
            "expirationTimestamp": token.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": token.token,
        },
    }


def exec_credential_text(credential: dict[str, Any]) -> str:
    """awscli's JSON formatter output plus the newline get-token prints after it."""
    return json.dumps(credential, indent=4, ensure_ascii=False) + "\n\n"


def discover_api_version(stderr: TextIO | None = None) -> str:
    """The apiVersion kubectl asked for in KUBERNETES_EXEC_INFO, with awscli's fallbacks."""
    err = sys.stderr if stderr is None else stderr
    raw = os.environ.get("KUBERNETES_EXEC_INFO", "")
    if not raw:
        return BETA_API
    try:
        requested = json.loads(raw).get("apiVersion")
    except (json.JSONDecodeError, AttributeError):
        err.write(
            f"Error parsing KUBERNETES_EXEC_INFO, defaulting to {BETA_API}. This is likely a bug "
            "in your Kubernetes client. Please update your Kubernetes client.\n"
        )
        return BETA_API
    if requested in (V1_API, BETA_API):
        return str(requested)
    if requested == ALPHA_API:
        err.write(
            f"Kubeconfig user entry is using deprecated API version {ALPHA_API}. "
            "Run 'aws eks update-kubeconfig' to update.\n"
        )
        return ALPHA_API
    err.write(
        f"Unrecognized API version in KUBERNETES_EXEC_INFO, defaulting to {BETA_API}. "
        "This is likely due to an outdated AWS CLI. Please update your AWS CLI.\n"
    )
    return BETA_API


def _aware_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive_utc(value: datetime) -> datetime:
    return _aware_utc(value).replace(tzinfo=None)
