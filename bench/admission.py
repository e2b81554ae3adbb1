"""What k8s/admission-policy.yaml costs per request, on the real control plane.

N dry-run creates, N creates, then N deletes of labelled PVs as the registrar's identity
(impersonated by the admin over one keep-alive HTTPS connection) with only k8s/rbac.yaml, and
with the policy bound. Rounds alternate off-on and on-off (the binding is deleted and
re-created, each time waited for until the API server enforces it or stops enforcing it), so
machine load hits both alike. A third series: the administrator with the policy bound (not in
the group: only the policy's matchConditions run).

Usage: .venv/bin/python -m bench.admission [--requests 300] [--rounds 6]
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

from devcluster.standins import access
from devcluster.standins.certs import make_tls
from devcluster.standins.controlplane import ControlPlane, build_binary

REPO = Path(__file__).resolve().parent.parent

KUBECTL = Path(sys.executable).parent / "kubectl"
GROUP = "ebs-pv-registrar"
PVS = "/api/v1/persistentvolumes"
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


def series(client: Client, n: int) -> dict[str, float]:
    """Median seconds per request: n dry-run creates (admission runs in full, nothing is
    stored: the policy's share is largest there), n creates, n deletes of labelled PVs."""
    names = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    times: dict[str, list[float]] = {"dry-run create": [], "create": [], "delete": []}
    for name in names:
        status, seconds = client.send("POST", f"{PVS}?dryRun=All", volume(name))
        assert status == 201, status
        times["dry-run create"].append(seconds)
    for name in names:
        status, seconds = client.send("POST", PVS, volume(name))
        assert status == 201, status
        times["create"].append(seconds)
    for name in names:
        status, seconds = client.send("DELETE", f"{PVS}/{name}")
        assert status == 200, status
        times["delete"].append(seconds)
    return {kind: statistics.median(values) for kind, values in times.items()}


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir, make_tls(workdir), "http://127.0.0.1:9")  # no EKS tokens
        plane.start(build_binary())
        try:
            access.apply(plane, KUBECTL)
            registrar, administrator = Client(plane, True), Client(plane, False)
            series(registrar, 50)  # warm-up
            rounds: dict[str, list[dict[str, float]]] = {
                "registrar, rbac only": [],
                "registrar, policy bound": [],
                "admin, policy bound": [],
            }
            for number in range(args.rounds):  # off-on, then on-off: drift hits both alike
                for on in (False, True) if number % 2 == 0 else (True, False):
                    bind(plane, on)
                    if on:
                        rounds["registrar, policy bound"].append(series(registrar, args.requests))
                        rounds["admin, policy bound"].append(series(administrator, args.requests))
                    else:
                        rounds["registrar, rbac only"].append(series(registrar, args.requests))
        finally:
            plane.stop()
    report(rounds, args.requests)
    return 0


def report(rounds: dict[str, list[dict[str, float]]], requests: int) -> None:
    """Per kind of request: the median over rounds of each round's median, in microseconds,
    and its ratio to the registrar without the policy."""
    kinds = list(next(iter(rounds.values()))[0])
    table = {key: {k: statistics.median(r[k] for r in runs) * 1e6 for k in kinds}
             for key, runs in rounds.items()}
    base = table["registrar, rbac only"]
    count = len(next(iter(rounds.values())))
    print(f"{count} rounds x {requests} requests of each kind per series; median us per request "
          "(ratio to the registrar without the policy)")
    print(f"{'series':<26}" + "".join(f"{k:>16} {'ratio':>6}" for k in kinds))
    for key, row in table.items():
        print(f"{key:<26}" + "".join(f"{row[k]:16.0f} {row[k] / base[k]:6.2f}" for k in kinds))
    spread = {k: [r[k] * 1e6 for r in rounds["registrar, rbac only"]] for k in kinds}
    print("round-to-round range without the policy (us): "
          + ", ".join(f"{k} {min(v):.0f}-{max(v):.0f}" for k, v in spread.items()))


if __name__ == "__main__":
    sys.exit(main())
