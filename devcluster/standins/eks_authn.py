"""EKS bearer-token authentication as EKS does it, against a moto server standing in for STS.

`verify` makes every check of aws-iam-authenticator's `tokenVerifier.Verify`; `StsStandIn`
then does what real STS does with the presigned GetCallerIdentity URL (check the SigV4
signature, which covers the `x-k8s-aws-id: <cluster>` header, and answer with the caller's
ARN); `AccessEntries` maps the ARN to a Kubernetes user and groups like EKS access entries.
"""


from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from devcluster.standins.sigv4 import presigned_signature

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_LEN = 4 * 1024
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGNED_URL_EXPIRATION = timedelta(minutes=15)
ALLOWED_PARAMETERS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
_STS_HOST = re.compile(r"sts(\.[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+)?\.amazonaws\.com(\.cn)?")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)")


class TokenError(Exception):
    """The token is refused; the message says why (never the token)."""


@dataclass(frozen=True)
class PresignedCall:
    """A presigned GetCallerIdentity call that passed the format checks."""

    host: str
    query: dict[str, str]  # original parameter names, one value each
    access_key_id: str
    date: datetime


def verify(token: str, now: datetime | None = None) -> PresignedCall:
    """aws-iam-authenticator's format, host, parameter and expiry checks, in its order."""
    if len(token) > MAX_TOKEN_LEN:
        raise TokenError("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError(f"token is missing expected {TOKEN_PREFIX!r} prefix")
    encoded = token[len(TOKEN_PREFIX) :]
    if not _BASE64URL.fullmatch(encoded):
        raise TokenError("token is not unpadded base64url")
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        parts = urlsplit(url)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise TokenError(f"malformed token: {exc}") from None
    if parts.scheme != "https":
        raise TokenError(f"unexpected scheme {parts.scheme!r} in pre-signed URL")
    if not _STS_HOST.fullmatch(parts.netloc):
        raise TokenError(f"unexpected hostname {parts.netloc!r} in pre-signed URL")
    if parts.path != "/":
        raise TokenError("unexpected path in pre-signed URL")
    try:
        params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise TokenError("malformed query parameter") from None
    lower: dict[str, str] = {}
    for key, values in params.items():
        if key.lower() not in ALLOWED_PARAMETERS:
            raise TokenError(f"non-whitelisted query parameter {key!r}")
        if len(values) != 1:
            raise TokenError("query parameter with multiple values not supported")
        lower[key.lower()] = values[0]
    if lower.get("action") != "GetCallerIdentity":
        raise TokenError("unexpected action parameter in pre-signed URL")
    if CLUSTER_ID_HEADER not in lower.get("x-amz-signedheaders", "").lower().split(";"):
        raise TokenError(f"client did not sign the {CLUSTER_ID_HEADER} header")
    try:
        expires = int(lower.get("x-amz-expires", ""))
    except ValueError:
        expires = -1
    if not 0 <= expires <= 900:
        raise TokenError("invalid X-Amz-Expires parameter in pre-signed URL")
    if not lower.get("x-amz-date"):
        raise TokenError("X-Amz-Date parameter must be present in pre-signed URL")
    try:
        date = datetime.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise TokenError("malformed X-Amz-Date parameter") from None
    if (now or datetime.now(UTC)) > date + PRESIGNED_URL_EXPIRATION:
        raise TokenError("X-Amz-Date parameter is expired (15 minute expiration)")
    return PresignedCall(
        host=parts.netloc,
        query={k: v[0] for k, v in params.items()},
        access_key_id=lower.get("x-amz-credential", "").split("/")[0],
        date=date,
    )


class StsStandIn:
    """Real STS's part, played by the moto server: the signature check (moto skips it) needs
    the caller's secret key, which moto's /moto-api/data.json lists; then the presigned GET."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url.rstrip("/")
        self._secrets: dict[str, str] = {}  # access key id -> secret, read from moto on a miss

    def caller_arn(self, call: PresignedCall, cluster: str) -> str:
        self._check_signature(call, cluster)
        credential = call.query.get("X-Amz-Credential", "")
        request = urllib.request.Request(
            f"{self.moto_url}/?{urlencode(call.query)}",
            headers={
                # moto picks the service from the Authorization header, not from the URL.
                "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
                "SignedHeaders=host, Signature=x",
                CLUSTER_ID_HEADER: cluster,
                "Accept": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        arn = ET.fromstring(body).find(".//{*}Arn")
        if arn is None or not arn.text:
            raise TokenError("STS answered without an ARN")
        return arn.text

    def _check_signature(self, call: PresignedCall, cluster: str) -> None:
        query = {k: v for k, v in call.query.items() if k != "X-Amz-Signature"}
        need = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Date")
        if any(n not in query for n in need) or query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise TokenError("not a SigV4 presigned URL")
        signed = query["X-Amz-SignedHeaders"].split(";")
        if not set(signed) <= {"host", CLUSTER_ID_HEADER} or "host" not in signed:
            raise TokenError("signed headers other than host and x-k8s-aws-id")
        secret = self._secret_key(call.access_key_id)
        expected = presigned_signature(
            secret_key=secret,
            host=call.host,
            path="/",
            query=query,
            header_values={CLUSTER_ID_HEADER: cluster},
        )
        if not hmac.compare_digest(expected, call.query.get("X-Amz-Signature", "")):
            raise TokenError("SignatureDoesNotMatch (another cluster's token?)")

    def _secret_key(self, access_key_id: str) -> str:
        """moto's dump holds every resource of the session (thousands of volumes in a full test
        run): read it only for a key not seen before, with time to spare."""
        if access_key_id not in self._secrets:
            with urllib.request.urlopen(f"{self.moto_url}/moto-api/data.json", timeout=60) as rsp:
                data = json.loads(rsp.read())
            sts, iam = data.get("sts", {}), data.get("iam", {})
            for key in sts.get("AssumedRole", []) + iam.get("AccessKey", []):
                if key.get("access_key_id") and key.get("secret_access_key"):
                    self._secrets[str(key["access_key_id"])] = str(key["secret_access_key"])
        try:
            return self._secrets[access_key_id]
        except KeyError:
            raise TokenError("InvalidClientTokenId: unknown access key") from None


def canonical_arn(arn: str) -> str:
    """An assumed-role session ARN becomes its role's ARN, as EKS maps it (paths are lost)."""
    match = _ASSUMED_ROLE.fullmatch(arn)
    if match:
        partition, account, role, _session = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return arn


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...]
    arn: str
    access_key_id: str


@dataclass
class AccessEntries:
    """{principal ARN: (username, groups)}; thread-safe, changed by tests at run time."""

    _table: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, principal_arn: str, username: str, groups: list[str] | tuple[str, ...]) -> None:
        with self._lock:
            self._table[principal_arn] = (username, tuple(groups))

    def remove(self, principal_arn: str) -> None:
        with self._lock:
            self._table.pop(principal_arn, None)

    def lookup(self, arn: str) -> tuple[str, tuple[str, ...]] | None:
        with self._lock:
            return self._table.get(canonical_arn(arn))


@dataclass
class EksAuthenticator:
    """Token -> Identity, or TokenError."""

    cluster: str
    sts: StsStandIn
    entries: AccessEntries

    def authenticate(self, token: str) -> Identity:
        call = verify(token)
        arn = self.sts.caller_arn(call, self.cluster)
        entry = self.entries.lookup(arn)
        if entry is None:
            raise TokenError(f"no access entry for {canonical_arn(arn)}")
        username, groups = entry
        return Identity(username, groups, arn, call.access_key_id)
