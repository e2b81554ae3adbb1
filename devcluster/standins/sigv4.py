"""SigV4 presigned-URL signatures, computed independently of botocore: what STS checks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

# A presigned GET has no body: the payload hash is that of b"" (UNSIGNED-PAYLOAD is S3's).
EMPTY_PAYLOAD_HASH = hashlib.sha256(b"").hexdigest()


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def presigned_signature(
    *,
    secret_key: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    header_values: Mapping[str, str],
) -> str:
    """The X-Amz-Signature a presigned GET must carry. `query` holds every parameter except
    X-Amz-Signature; `header_values` gives each signed header but host (lowercase names)."""
    signed = query["X-Amz-SignedHeaders"].split(";")
    headers = {"host": host, **header_values}
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    canonical_request = "\n".join(
        ["GET", path, canonical_query, canonical_headers, ";".join(signed), EMPTY_PAYLOAD_HASH]
    )
    scope = query["X-Amz-Credential"].split("/", 1)[1]  # date/region/service/aws4_request
    string_to_sign = "\n".join(
        [
            query["X-Amz-Algorithm"],
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in scope.split("/"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
