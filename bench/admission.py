"""What k8s/admission-policy.yaml costs per request, on the real control plane.

N creates (then N deletes) of labelled PVs as the registrar's identity (impersonated by the
admin over one keep-alive HTTPS connection) with only k8s/rbac.yaml, and with the policy bound;
rounds alternate (the binding is deleted and re-created, each time waited for until the API
server enforces it or stops enforcing it) so machine load hits both alike. A third series:
the administrator's creates with the policy bound (not in the group: only matchConditions run).

Usage: .venv/bin/python bench/admission.py [--requests 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "lambdas")]

from devcluster import access  # noqa: E402
from devcluster.certs import make_tls  # noqa: E402
from devcluster.controlplane import ControlPlane, build_binary  # noqa: E402

KUBECTL = Path(sys.executable).parent / "kubectl"
GROUP = "ebs-pv-registrar"
BINDING = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


class Client:
    """One keep-alive HTTPS connection: the timing is the API server's, not TLS handshakes."""

    def __init__(self, plane: ControlPlane, impersonate: bool) -> None:
        context = ssl.create_default_context(cadata=plane.ca_pem.decode())
        self.conn = http.client.HTTPSConnection("127.0.0.1", plane.port, context=context)
        self.headers = {"Authorization": f"Bearer {plane.admin_token}",
                        "Content-Type": "application/json", "Accept": "application/json"}
        if impersonate:
            self.headers |= {"Impersonate-User": GROUP, "Impersonate-Group": GROUP}

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, float]:
        data = None if body is None else json.dumps(body)
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started


def volume(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": GROUP}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"},
        },
    }


def series(client: Client, n: int) -> tuple[list[float], list[float]]:
    """Seconds per create and per delete of n PVs."""
    names = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    creates, deletes = [], []
    for name in names:
        status, seconds = client.send("POST", "/api/v1/persistentvolumes", volume(name))
        assert status == 201, status
        creates.append(seconds)
    for name in names:
        status, seconds = client.send("DELETE", f"/api/v1/persistentvolumes/{name}")
        assert status == 200, status
        deletes.append(seconds)
    return creates, deletes


def bind(plane: ControlPlane, on: bool) -> None:
    if on:
        access.kubectl(KUBECTL, plane, "apply", "-f", str(access.K8S / "admission-policy.yaml"))
    else:
        access.request(plane, "DELETE", f"{BINDING}/{GROUP}")
    deadline = time.monotonic() + 30
    while access.policy_enforced(plane) != on:
        if time.monotonic() > deadline:
            raise RuntimeError(f"policy enforcement did not become {on}")
        time.sleep(0.1)


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir, make_tls(workdir), "http://127.0.0.1:9")  # no EKS tokens
        plane.start(build_binary())
        try:
            access.apply(plane, KUBECTL)
            registrar, administrator = Client(plane, True), Client(plane, False)
            series(registrar, 20)  # warm-up
            results: dict[str, tuple[list[float], list[float]]] = {
                "registrar, rbac only": ([], []),
                "registrar, policy bound": ([], []),
                "admin, policy bound": ([], []),
            }
            for _ in range(args.rounds):
                bind(plane, False)
                for into, got in zip(results["registrar, rbac only"],
                                     series(registrar, args.requests), strict=True):
                    into.extend(got)
                bind(plane, True)
                for key, client in (("registrar, policy bound", registrar),
                                    ("admin, policy bound", administrator)):
                    for into, got in zip(results[key], series(client, args.requests),
                                         strict=True):
                        into.extend(got)
        finally:
            plane.stop()
    base_create, base_delete = (ms(v) for v in results["registrar, rbac only"])
    print(f"{args.rounds} rounds x {args.requests} PV creates + deletes per series; "
          "median ms per request (ratio to the registrar without the policy)")
    print(f"{'series':<26} {'create':>8} {'ratio':>6} {'delete':>8} {'ratio':>6}")
    for key, (creates, deletes) in results.items():
        create, delete = ms(creates), ms(deletes)
        print(f"{key:<26} {create:8.2f} {create / base_create:6.2f} "
              f"{delete:8.2f} {delete / base_delete:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
