"""The registrar's access model on the local control plane: k8s/admission-policy.yaml, then
k8s/rbac.yaml, applied with kubectl and the admin credential; then a wait until the API server
enforces the policy (it loads policies through an informer and type-checks them
asynchronously, so an applied policy is not yet a policy in force).

`request` sends one API request with the admin token, optionally impersonating the registrar
(`Impersonate-User`/`Impersonate-Group`, which system:masters may send), as the e2e tests and
the admission benchmark do.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devcluster.standins.controlplane import REPO, ControlPlane
from render.manifests import APPLY_ORDER, GROUP, MANAGED_BY

K8S = REPO / "k8s"
ENFORCE_TIMEOUT = 30.0


class AccessModelError(RuntimeError):
    pass


def request(
    plane: ControlPlane,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    as_user: str | None = None,
    as_group: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, decoded body) of one request with the admin token."""
    headers = {"Authorization": f"Bearer {plane.admin_token}", "Accept": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(plane.url + path, data=data, method=method, headers=headers)
    if as_user:
        req.add_header("Impersonate-User", as_user)
    if as_group:
        req.add_header("Impersonate-Group", as_group)
    context = ssl.create_default_context(cadata=plane.ca_pem.decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, (json.loads(raw) if raw else {})


def as_registrar(
    plane: ControlPlane, method: str, path: str, body: Mapping[str, Any] | None = None, **kw: Any
) -> tuple[int, dict[str, Any]]:
    return request(plane, method, path, body, as_user=GROUP, as_group=GROUP, **kw)


def labelled_claim(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY: GROUP}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "",
        },
    }


def policy_enforced(
    plane: ControlPlane, allowed_namespace: str = "default", refused_namespace: str = "kube-system"
) -> bool:
    """Dry runs as the registrar (admission runs, nothing is stored): an unlabelled PV refused
    by the policy, a claim of ours refused in `refused_namespace` and admitted in
    `allowed_namespace` (the rendered lists and RBAC both in force)."""
    unlabelled = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "probe"},
                  "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                           "hostPath": {"path": "/probe"}}}
    status, body = as_registrar(plane, "POST", "/api/v1/persistentvolumes?dryRun=All", unlabelled)
    if status != 403 or "may only create objects labelled" not in str(body.get("message")):
        return False
    path = "/api/v1/namespaces/{}/persistentvolumeclaims?dryRun=All"
    for namespace, expected in ((refused_namespace, 403), (allowed_namespace, 201)):
        status, _ = as_registrar(plane, "POST", path.format(namespace),
                                 labelled_claim("probe", namespace))
        if status != expected:
            return False
    return True


def kubectl(kubectl_path: Path, plane: ControlPlane, *args: str) -> str:
    result = subprocess.run(
        [str(kubectl_path), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AccessModelError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def apply(
    plane: ControlPlane,
    kubectl_path: Path,
    directory: Path = K8S,
    *,
    allowed_namespace: str = "default",
    refused_namespace: str = "kube-system",
    timeout: float = ENFORCE_TIMEOUT,
) -> float:
    """Apply the policy then the RBAC from `directory`; seconds until both were seen in force
    (probed with the two namespaces, see policy_enforced)."""
    for name in APPLY_ORDER:
        kubectl(kubectl_path, plane, "apply", "-f", str(directory / name))
    started = time.monotonic()
    while not policy_enforced(plane, allowed_namespace, refused_namespace):
        if time.monotonic() - started > timeout:
            raise AccessModelError(f"the admission policy is not enforced after {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - started
