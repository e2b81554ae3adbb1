"""The EKS token equals `aws eks get-token`'s, byte for byte, in every partition."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator
from botocore.credentials import Credentials

from registrar.adapters.eks import RefreshingToken
from registrar.adapters.eks_token import (
    V1_API,
    EksToken,
    exec_credential,
    exec_credential_text,
    get_token,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FROZEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+=")
HOSTS = {
    "us-east-1": "sts.us-east-1.amazonaws.com",
    "cn-north-1": "sts.cn-north-1.amazonaws.com.cn",
    "us-gov-west-1": "sts.us-gov-west-1.amazonaws.com",
}
needs_faketime = pytest.mark.skipif(
    shutil.which("faketime") is None, reason="faketime missing: apt-get install faketime"
)


def decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def frozen_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBERNETES_EXEC"))}
    env.update(
        TZ="UTC",
        AWS_ACCESS_KEY_ID=CREDS.access_key,
        AWS_SECRET_ACCESS_KEY=CREDS.secret_key,
        AWS_SESSION_TOKEN=CREDS.token,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(REPO / "lambdas"),
    )
    env.update(extra)
    return env


def run_frozen(argv: list[str], env: dict[str, str]) -> bytes:
    stamp = FROZEN.strftime("%Y-%m-%d %H:%M:%S")
    result = subprocess.run(
        ["faketime", "-f", stamp, *argv], env=env, capture_output=True, check=True, timeout=60
    )
    return result.stdout


def assert_same_url(ours: str, theirs: str, region: str) -> None:
    a, b = urlsplit(ours), urlsplit(theirs)
    assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
    assert a.netloc == HOSTS[region]
    qa, qb = parse_qs(a.query, strict_parsing=True), parse_qs(b.query, strict_parsing=True)
    assert sorted(qa) == sorted(qb)
    for key in qa:
        assert qa[key] == qb[key], key
    assert qa["Action"] == ["GetCallerIdentity"]
    assert qa["X-Amz-Expires"] == ["60"]
    assert qa["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert qa["X-Amz-Date"] == ["20260102T030405Z"]
    assert qa["X-Amz-Credential"] == [f"AKIDEXAMPLE/20260102/{region}/sts/aws4_request"]
    assert qa["X-Amz-Security-Token"] == [CREDS.token]
    assert ours == theirs


@needs_faketime
@pytest.mark.parametrize("region", sorted(HOSTS))
def test_token_equals_aws_eks_get_token_under_faketime(region: str) -> None:
    env = frozen_env(KUBERNETES_EXEC_INFO="")
    out = run_frozen(
        [str(BIN / "aws"), "eks", "get-token", "--cluster-name", "demo", "--region", region], env
    )
    theirs = json.loads(out)
    ours = exec_credential(get_token("demo", region, CREDS, clock=lambda: FROZEN))
    assert_same_url(decode(ours["status"]["token"]), decode(theirs["status"]["token"]), region)
    assert exec_credential_text(ours).encode() == out


@needs_faketime
@pytest.mark.parametrize("exec_info", ["", json.dumps({"apiVersion": V1_API, "kind": "x"})])
def test_registrar_token_cli_prints_what_awscli_prints(exec_info: str) -> None:
    env = frozen_env(KUBERNETES_EXEC_INFO=exec_info, AWS_DEFAULT_REGION="cn-north-1")
    theirs = run_frozen([str(BIN / "aws"), "eks", "get-token", "--cluster-name", "c1"], env)
    ours = run_frozen(
        [sys.executable, "-m", "registrar", "token", "--cluster", "c1"],
        env,
    )
    assert ours == theirs
    assert json.loads(ours)["apiVersion"] == (
        V1_API if exec_info else json.loads(theirs)["apiVersion"]
    )


@pytest.mark.parametrize("region", sorted(HOSTS))
def test_token_equals_awscli_token_generator_in_process(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same comparison without faketime: awscli's own classes with botocore's clock pinned."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FROZEN.replace(tzinfo=None))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDS.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDS.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CREDS.token)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    sts = STSClientFactory(botocore.session.Session()).get_sts_client(region_name=region)
    theirs = TokenGenerator(sts).get_token("demo")
    ours = get_token("demo", region, CREDS, clock=lambda: FROZEN).token
    assert_same_url(decode(ours), decode(theirs), region)
    assert ours == theirs


def test_exec_credential_shape() -> None:
    token = get_token("demo", "us-east-1", CREDS, clock=lambda: FROZEN)
    credential = exec_credential(token)
    assert list(credential) == ["kind", "apiVersion", "spec", "status"]
    assert credential["kind"] == "ExecCredential"
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["spec"] == {}
    assert credential["status"] == {
        "expirationTimestamp": "2026-01-02T03:18:05Z",
        "token": token.token,
    }
    assert token.token not in repr(token)


def test_token_refresh_timing() -> None:
    token = EksToken(token="x", issued_at=FROZEN)
    assert not token.needs_refresh(FROZEN + dt.timedelta(minutes=12, seconds=59))
    assert token.needs_refresh(FROZEN + dt.timedelta(minutes=13))


def test_refreshing_token_mints_before_14_minutes_and_on_demand() -> None:
    now = [FROZEN]
    provider = RefreshingToken("demo", "us-east-1", lambda: CREDS, clock=lambda: now[0])
    first = provider(False)
    now[0] += dt.timedelta(minutes=5)
    assert provider(False) == first
    assert provider(True) != first  # forced (after a 401): new X-Amz-Date
    second = provider(False)
    now[0] += dt.timedelta(minutes=13, seconds=30)
    assert provider(False) != second
