"""The test webhook's token checks (aws-iam-authenticator's Verify, then STS's signature)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import pytest
from botocore.credentials import Credentials

from devcluster.standins.eks_authn import (
    AccessEntries,
    EksAuthenticator,
    StsStandIn,
    TokenError,
    canonical_arn,
    verify,
)
from registrar.adapters.eks_token import get_token

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
CREDS = Credentials("AKIDEXAMPLE", "secret")


def token_at(when: datetime = NOW, cluster: str = "demo") -> str:
    return get_token(cluster, "us-east-1", CREDS, lambda: when).token


def rewrite(token: str, *, url: str | None = None, **query: str | None) -> str:
    """The token with its URL replaced, or some query parameters changed (None drops one)."""
    raw = base64.urlsafe_b64decode(token[11:] + "==").decode()
    if url is None:
        parts = urlsplit(raw)
        params = dict(parse_qsl(parts.query))
        for key, value in query.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        url = parts._replace(query=urlencode(params)).geturl()
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_a_fresh_token_passes_the_format_checks() -> None:
    call = verify(token_at(), now=NOW + timedelta(minutes=14))
    assert call.host == "sts.us-east-1.amazonaws.com"
    assert call.access_key_id == "AKIDEXAMPLE"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("k8s-aws-v1." + "A" * 5000, "too large"),
        ("Bearer abc", "prefix"),
        ("k8s-aws-v1.a=b", "base64url"),
        (rewrite(token_at(), url="http://sts.us-east-1.amazonaws.com/?Action=x"), "scheme"),
        (rewrite(token_at(), url="https://sts.evil.example.com/?Action=x"), "hostname"),
        (rewrite(token_at(), url="https://sts.us-east-1.amazonaws.com:8443/"), "hostname"),
        (rewrite(token_at(), url="https://sts.us-east-1.amazonaws.com/x?Action=x"), "path"),
        (rewrite(token_at(), Foo="bar"), "non-whitelisted"),
        (rewrite(token_at(), Action="AssumeRole"), "action"),
        (rewrite(token_at(), **{"X-Amz-SignedHeaders": "host"}), "x-k8s-aws-id"),
        (rewrite(token_at(), **{"X-Amz-Expires": "901"}), "X-Amz-Expires"),
        (rewrite(token_at(), **{"X-Amz-Expires": None}), "X-Amz-Expires"),
        (rewrite(token_at(), **{"X-Amz-Date": None}), "X-Amz-Date"),
        (token_at(NOW - timedelta(minutes=15, seconds=1)), "expired"),
    ],
)
def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        verify(token, now=NOW)


def test_repeated_query_parameter_is_refused() -> None:
    url = "https://sts.amazonaws.com/?Action=GetCallerIdentity&Action=GetCallerIdentity"
    with pytest.raises(TokenError, match="multiple values"):
        verify(rewrite(token_at(), url=url), now=NOW)


def test_assumed_role_arn_maps_to_its_role() -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/registrar/session-1"
    assert canonical_arn(arn) == "arn:aws:iam::123456789012:role/registrar"
    assert canonical_arn("arn:aws:iam::123456789012:user/bob") == (
        "arn:aws:iam::123456789012:user/bob"
    )


def test_sts_stand_in_checks_the_signature_and_cluster(moto_endpoint: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="authn-unit", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    c = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=role, RoleSessionName="unit"
    )["Credentials"]
    creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    entries = AccessEntries()
    entries.put(role, "registrar", ["ebs-pv-registrar"])
    authn = EksAuthenticator("demo", StsStandIn(moto_endpoint), entries)

    who = authn.authenticate(get_token("demo", "us-east-1", creds).token)
    assert who.arn == "arn:aws:sts::123456789012:assumed-role/authn-unit/unit"
    assert (who.username, who.groups) == ("registrar", ("ebs-pv-registrar",))

    with pytest.raises(TokenError, match="SignatureDoesNotMatch"):
        authn.authenticate(get_token("other", "us-east-1", creds).token)
    forged = Credentials(c["AccessKeyId"], "not-the-secret", c["SessionToken"])
    with pytest.raises(TokenError, match="SignatureDoesNotMatch"):
        authn.authenticate(get_token("demo", "us-east-1", forged).token)
    with pytest.raises(TokenError, match="unknown access key"):
        authn.authenticate(get_token("demo", "us-east-1", CREDS).token)
    entries.remove(role)
    with pytest.raises(TokenError, match="no access entry"):
        authn.authenticate(get_token("demo", "us-east-1", creds).token)
