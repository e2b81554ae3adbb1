"""The local control plane (etcd + kube-apiserver + PV binder + kube-scheduler and the
Deployment controllers, built from tests/controlplane/ by build.sh): finds or builds the
binary, writes its configuration, starts it in its own process group beside the EKS token
webhook, and stops everything."""


from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devcluster.standins.certs import ServerTls
from devcluster.standins.eks_authn import AccessEntries, EksAuthenticator, StsStandIn
from devcluster.standins.webhook import Review, TokenReviewServer
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import TokenProvider

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "controlplane" / "build.sh"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


class ControlPlaneError(RuntimeError):
    pass


def build_binary() -> Path:
    """Runs build.sh (instant on a cache hit); its progress goes to our stderr."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LIBC = ctypes.CDLL(None)  # loaded here: the child of a fork must not dlopen


def die_with_parent() -> None:
    """In the child: SIGKILL when the parent process dies, even by SIGKILL (Linux)."""
    _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kubeconfig(server: str, ca_pem: bytes, token: str | None) -> str:
    user = {"token": token} if token else {}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        },
        indent=2,
    )


class ControlPlane:
    """etcd, kube-apiserver, PV binder, kube-scheduler and the Deployment controllers on
    loopback with TLS, RBAC and EKS token auth. No nodes until devcluster.standins.nodes adds
    them."""

    def __init__(
        self, workdir: Path, tls: ServerTls, moto_url: str, cluster: str = "registrar-e2e"
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.cluster = cluster
        self.ca_pem = tls.ca_pem
        self.admin_token = secrets.token_urlsafe(24)
        self.entries = AccessEntries()
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin_kubeconfig = workdir / "admin.kubeconfig"
        self.log_file = workdir / "controlplane.log"
        self._webhook = TokenReviewServer(
            EksAuthenticator(cluster, StsStandIn(moto_url), self.entries), tls
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    @property
    def pid(self) -> int | None:
        """The control plane process, while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def reviews(self) -> list[Review]:
        """The webhook's decisions so far, oldest first."""
        return self._webhook.reviews

    def add_access_entry(self, principal_arn: str, username: str, groups: Sequence[str]) -> None:
        """Like an EKS access entry: tokens of this IAM role (or user) authenticate as
        `username` in `groups`. Replaces an existing entry for the same ARN."""
        self.entries.put(principal_arn, username, tuple(groups))

    def remove_access_entry(self, principal_arn: str) -> None:
        self.entries.remove(principal_arn)

    def gateway(self, token_provider: TokenProvider) -> KubeGateway:
        """Our KubeGateway against this API server (close it after use)."""
        return KubeGateway(self.url, self.ca_pem, token_provider)

    def admin_gateway(self) -> KubeGateway:
        return self.gateway(lambda _force: self.admin_token)

    def start(self, binary: Path) -> None:
        args = self._write_config(binary)
        started = time.monotonic()
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() signals all of it
                preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads run Python code here)
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop the control plane's process group, then the webhook."""
        proc, self._proc = self._proc, None
        try:
            stop_group(proc)
        finally:
            self._webhook.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        useful = [line for line in text.splitlines() if "addrConn.createTransport" not in line]
        return "\n".join(useful[-lines:])

    def admin_request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API call with the admin credential; its JSON answer. HTTPError on a 4xx/5xx."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer

    # --- internals ------------------------------------------------------------------------

    def _write_config(self, binary: Path) -> Sequence[str]:
        work = self.workdir
        controller_token = secrets.token_urlsafe(24)
        (work / "tokens.csv").write_text(
            f'{self.admin_token},kubernetes-admin,uid-admin,"system:masters"\n'
            f"{controller_token},system:controller:persistent-volume-binder,uid-pv-binder,"
            '"system:masters"\n'
        )
        sa_key = ec.generate_private_key(ec.SECP256R1())
        (work / "sa.key").write_bytes(
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (work / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (work / "webhook.kubeconfig").write_text(_kubeconfig(self._webhook.url, self.ca_pem, None))
        (work / "controller.kubeconfig").write_text(
            _kubeconfig(self.url, self.ca_pem, controller_token)
        )
        self.admin_kubeconfig.write_text(_kubeconfig(self.url, self.ca_pem, self.admin_token))
        etcd_client, etcd_peer = free_port(), free_port()
        return [
            str(binary),
            f"-etcd-dir={work / 'etcd'}",
            f"-etcd-client-url=http://127.0.0.1:{etcd_client}",
            f"-etcd-peer-url=http://127.0.0.1:{etcd_peer}",
            f"-controller-kubeconfig={work / 'controller.kubeconfig'}",
            "--",
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={work / 'certs'}",
            f"--tls-cert-file={self.tls.cert_file}",
            f"--tls-private-key-file={self.tls.key_file}",
            "--authorization-mode=RBAC",
            f"--token-auth-file={work / 'tokens.csv'}",
            f"--authentication-token-webhook-config-file={work / 'webhook.kubeconfig'}",
            "--authentication-token-webhook-version=v1",
            "--authentication-token-webhook-cache-ttl=0s",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={work / 'sa.pub'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--endpoint-reconciler-type=none",  # it refuses a loopback advertise address
        ]

    def _get(self, path: str) -> int:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def _wait_ready(self, started: float) -> None:
        """Ready: /readyz answers 200 and the `default` namespace exists."""
        assert self._proc is not None
        for path in ("/readyz", "/api/v1/namespaces/default"):
            while self._get(path) != 200:
                if self._proc.poll() is not None:
                    raise ControlPlaneError(
                        f"control plane exited with {self._proc.returncode}:\n{self.log_tail()}"
                    )
                if time.monotonic() - started > START_TIMEOUT:
                    raise ControlPlaneError(
                        f"control plane not ready after {START_TIMEOUT:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.2)


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM a process started with start_new_session, SIGKILL its group after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
