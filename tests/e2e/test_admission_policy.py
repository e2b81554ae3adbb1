"""k8s/admission-policy.yaml on the real kube-apiserver: what a stolen credential of the group
`ebs-pv-registrar` can no longer do, what the registrar still does, and that nobody else is
affected (the administrator, the PV binder).

The registrar's identity is impersonated by the admin (Impersonate-User/-Group headers, or
kubectl --as/--as-group), as an attacker holding its credential would act. The requests are the
ones the issue tried: each one succeeded with k8s/rbac.yaml alone. Variables, matchConditions
and the null `object` of a DELETE: k8s.io/api admissionregistration/v1 types.go; the policy is
GA (admissionregistration.k8s.io/v1) since Kubernetes 1.30 and its admission plugin is on by
default (kubernetes pkg/kubeapiserver/options/plugins.go), so the control plane needs no flag.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devcluster.standins import access
from devcluster.standins.access import as_registrar, labelled_claim, request
from devcluster.standins.controlplane import REPO, ControlPlane
from render import manifests as k8s_manifests
from tests.e2e.conftest import KUBECTL, kubectl

GROUP = "ebs-pv-registrar"
LABEL = "app.kubernetes.io/managed-by"
PVS = "/api/v1/persistentvolumes"
MERGE = "application/merge-patch+json"
Send = Callable[..., tuple[int, dict[str, Any]]]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def claims(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"


def volume(name: str, *, labelled: bool, claim: tuple[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"},
    }
    if claim:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    labels = {LABEL: GROUP} if labelled else {"team": "storage"}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def claim(name: str, namespace: str, *, labelled: bool, volume_name: str = "") -> dict[str, Any]:
    body = labelled_claim(name, namespace)
    if not labelled:
        body["metadata"]["labels"] = {"team": "a"}
    if volume_name:
        body["spec"]["volumeName"] = volume_name
    return body


def admin(plane: ControlPlane, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    return request(plane, method, path, body, **kw)


def created(plane: ControlPlane, path: str, body: dict[str, Any]) -> str:
    status, answer = admin(plane, "POST", path, body)
    assert status == 201, answer
    return str(body["metadata"]["name"])


def refused_by_policy(result: tuple[int, dict[str, Any]], words: str) -> None:
    status, body = result
    assert status == 403, body
    message = str(body.get("message"))
    assert "ValidatingAdmissionPolicy 'ebs-pv-registrar'" in message, message
    assert words in message, message


@pytest.fixture(scope="module")
def plane(rbac_applied: ControlPlane) -> ControlPlane:
    for namespace in ("team-a", "team-b"):
        admin(rbac_applied, "POST", "/api/v1/namespaces",
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return rbac_applied


@pytest.fixture
def foreign_pv(plane: ControlPlane) -> str:
    """A hand-written PV, not the registrar's."""
    return created(plane, PVS, volume(unique("handwritten"), labelled=False))


@pytest.fixture
def foreign_claim(plane: ControlPlane) -> str:
    """Another team's claim in team-a."""
    return created(plane, claims("team-a"), claim(unique("team-a-data"), "team-a", labelled=False))


@pytest.fixture
def our_pv(plane: ControlPlane) -> str:
    status, body = as_registrar(plane, "POST", PVS, volume(unique("ours"), labelled=True))
    assert status == 201, body
    return str(body["metadata"]["name"])


# --- what the registrar's credential can no longer do ---------------------------------------


def test_registrar_cannot_delete_a_hand_written_pv(plane: ControlPlane, foreign_pv: str) -> None:
    refused_by_policy(as_registrar(plane, "DELETE", f"{PVS}/{foreign_pv}"), "change or delete")
    assert admin(plane, "GET", f"{PVS}/{foreign_pv}")[0] == 200


def test_registrar_cannot_delete_another_teams_claim(
    plane: ControlPlane, foreign_claim: str
) -> None:
    path = f"{claims('team-a')}/{foreign_claim}"
    refused_by_policy(as_registrar(plane, "DELETE", path), "change or delete")
    assert admin(plane, "GET", path)[0] == 200


def test_registrar_cannot_adopt_a_foreign_pv_by_labelling_it(
    plane: ControlPlane, foreign_pv: str
) -> None:
    patch = {"metadata": {"labels": {LABEL: GROUP}}}
    result = as_registrar(plane, "PATCH", f"{PVS}/{foreign_pv}", patch, content_type=MERGE)
    refused_by_policy(result, "change or delete")
    # the same with the real kubectl, as the issue tried it
    label = kubectl(plane, "label", "pv", foreign_pv, f"{LABEL}={GROUP}",
                    f"--as={GROUP}", f"--as-group={GROUP}")
    assert label.returncode != 0
    assert "denied request" in label.stderr or "forbidden" in label.stderr.lower(), label.stderr
    labels = admin(plane, "GET", f"{PVS}/{foreign_pv}")[1]["metadata"]["labels"]
    assert LABEL not in labels


def test_registrar_cannot_annotate_a_foreign_pv(plane: ControlPlane, foreign_pv: str) -> None:
    patch = {"metadata": {"annotations": {"ebs-pv-registrar/unmanaged": "volume-deleted"}}}
    result = as_registrar(plane, "PATCH", f"{PVS}/{foreign_pv}", patch, content_type=MERGE)
    refused_by_policy(result, "change or delete")


@pytest.mark.parametrize("labels", [{}, {"team": "storage"}, {LABEL: "someone-else"}])
def test_registrar_cannot_create_unlabelled_pvs(
    plane: ControlPlane, labels: dict[str, str]
) -> None:
    body = volume(unique("unlabelled"), labelled=False)
    body["metadata"]["labels"] = labels
    refused_by_policy(as_registrar(plane, "POST", PVS, body), "only create objects labelled")


def test_registrar_cannot_create_unlabelled_claims(plane: ControlPlane) -> None:
    body = claim(unique("unlabelled"), "team-a", labelled=False)
    refused_by_policy(as_registrar(plane, "POST", claims("team-a"), body), "only create")


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease"])
def test_registrar_cannot_create_claims_in_denied_namespaces(
    plane: ControlPlane, namespace: str
) -> None:
    body = claim(unique("sneaky"), namespace, labelled=True)
    refused_by_policy(as_registrar(plane, "POST", claims(namespace), body), "claims in this")


def test_registrar_cannot_bind_a_pv_to_a_claim_in_kube_system(plane: ControlPlane) -> None:
    body = volume(unique("prebound"), labelled=True, claim=("kube-system", "anything"))
    refused_by_policy(as_registrar(plane, "POST", PVS, body), "bind a volume")


def test_registrar_cannot_move_its_pvs_claim_ref_to_kube_system(
    plane: ControlPlane, our_pv: str
) -> None:
    patch = {"spec": {"claimRef": {"namespace": "kube-system", "name": "anything"}}}
    result = as_registrar(plane, "PATCH", f"{PVS}/{our_pv}", patch, content_type=MERGE)
    refused_by_policy(result, "bind a volume")


@pytest.mark.parametrize("value", [None, "someone-else"])
def test_registrar_cannot_strip_the_label_from_its_own_pv(
    plane: ControlPlane, our_pv: str, value: str | None
) -> None:
    patch = {"metadata": {"labels": {LABEL: value}}}
    result = as_registrar(plane, "PATCH", f"{PVS}/{our_pv}", patch, content_type=MERGE)
    refused_by_policy(result, "may not remove the label")
    labels = admin(plane, "GET", f"{PVS}/{our_pv}")[1]["metadata"]["labels"]
    assert labels[LABEL] == GROUP


def test_registrar_cannot_replace_objects_at_all(plane: ControlPlane, our_pv: str) -> None:
    """No `update` verb: it only merge-patches (were it granted, the policy judges UPDATE)."""
    current = admin(plane, "GET", f"{PVS}/{our_pv}")[1]
    status, body = as_registrar(plane, "PUT", f"{PVS}/{our_pv}", current)
    assert status == 403, body
    assert 'cannot update resource "persistentvolumes"' in str(body.get("message")), body


# --- the administrator: none of it refused --------------------------------------------------


def test_admin_does_everything_the_policy_refuses_the_registrar(plane: ControlPlane) -> None:
    pv_name = created(plane, PVS, volume(unique("admin-unlabelled"), labelled=False))
    patch = {"metadata": {"labels": {LABEL: GROUP}}}
    assert admin(plane, "PATCH", f"{PVS}/{pv_name}", patch, content_type=MERGE)[0] == 200
    unlabel: dict[str, Any] = {"metadata": {"labels": {LABEL: None}}}
    assert admin(plane, "PATCH", f"{PVS}/{pv_name}", unlabel, content_type=MERGE)[0] == 200
    assert admin(plane, "DELETE", f"{PVS}/{pv_name}")[0] == 200
    foreign = created(plane, claims("team-a"), claim(unique("c"), "team-a", labelled=False))
    assert admin(plane, "DELETE", f"{claims('team-a')}/{foreign}")[0] == 200
    system = created(plane, claims("kube-system"), claim(unique("c"), "kube-system", labelled=True))
    assert admin(plane, "DELETE", f"{claims('kube-system')}/{system}")[0] == 200
    prebound = volume(unique("admin-prebound"), labelled=True, claim=("kube-system", "x"))
    assert admin(plane, "DELETE", f"{PVS}/{created(plane, PVS, prebound)}")[0] == 200


def test_same_user_name_without_the_group_is_not_matched(plane: ControlPlane) -> None:
    """The policy keys on the group RBAC binds; a user named alike in system:masters is not
    the registrar (matchConditions decide before any validation runs)."""
    body = volume(unique("masters"), labelled=False)
    status, answer = request(plane, "POST", PVS, body, as_user=GROUP, as_group="system:masters")
    assert status == 201, answer


# --- what the registrar really does keeps working -------------------------------------------


def test_registrar_creates_annotates_reports_and_deletes_its_own_objects(
    plane: ControlPlane,
) -> None:
    pv_name, pvc_name = unique("ours"), unique("ours-claim")
    status, pv = as_registrar(
        plane, "POST", PVS, volume(pv_name, labelled=True, claim=("team-a", pvc_name))
    )
    assert status == 201, pv
    status, pvc = as_registrar(
        plane, "POST", claims("team-a"),
        claim(pvc_name, "team-a", labelled=True, volume_name=pv_name),
    )
    assert status == 201, pvc
    # the marks of applier.py and lifecycle.py: merge patches of one annotation
    for path in (f"{PVS}/{pv_name}", f"{claims('team-a')}/{pvc_name}"):
        for value in ("volume-deleted", None):
            patch = {"metadata": {"annotations": {"ebs-pv-registrar/unmanaged": value}}}
            status, body = as_registrar(plane, "PATCH", path, patch, content_type=MERGE)
            assert status == 200, body
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": unique(pv_name), "namespace": "default"},
        "involvedObject": {"kind": "PersistentVolume", "name": pv_name},
        "reason": "Registered",
        "message": "Registered",
        "type": "Normal",
    }
    status, body = as_registrar(plane, "POST", "/api/v1/namespaces/default/events", event)
    assert status == 201, body
    # the PV binder (not in the group) binds the pair under the policy
    assert wait_bound(plane, f"{claims('team-a')}/{pvc_name}")
    assert wait_bound(plane, f"{PVS}/{pv_name}")
    for path in (f"{claims('team-a')}/{pvc_name}", f"{PVS}/{pv_name}"):
        status, body = as_registrar(plane, "DELETE", path)
        assert status == 200, body


def test_registrar_create_of_an_existing_object_is_a_conflict_not_a_refusal(
    plane: ControlPlane, foreign_pv: str
) -> None:
    """applier.py creates, then reads on 409: a labelled create of a taken name passes the
    policy and meets the existing object in storage."""
    status, body = as_registrar(plane, "POST", PVS, volume(foreign_pv, labelled=True))
    assert status == 409, body


def wait_bound(plane: ControlPlane, path: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin(plane, "GET", path)[1].get("status", {}).get("phase") == "Bound":
            return True
        time.sleep(0.2)
    return False


def test_the_probe_of_docs_deploy_md_reports_the_policy(plane: ControlPlane) -> None:
    """docs/deploy.md's check, as written there (the JSON between its <<'JSON' lines)."""
    text = (REPO / "docs" / "deploy.md").read_text()
    command, document = text.split("kubectl create --dry-run=server", 1)[1].split("\n", 1)
    manifest = document.split("\nJSON\n", 1)[0]
    args = command.replace("-f - <<'JSON'", "").split()
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={plane.admin_kubeconfig}", "create", "--dry-run=server",
         *args, "-f", "-"],
        input=manifest, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "denied request: ebs-pv-registrar may only create objects labelled" in (
        result.stderr
    ), result.stderr


def test_no_watch_for_the_registrar(plane: ControlPlane) -> None:
    result = kubectl(plane, "auth", "can-i", "watch", "persistentvolumes",
                     f"--as={GROUP}", f"--as-group={GROUP}")
    assert result.stdout.strip() == "no"



# --- namespaced mode ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def namespaced(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The manifests rendered for allowedNamespaces=team-a applied; the defaults restored after."""
    out = tmp_path_factory.mktemp("namespaced")
    files = k8s_manifests.render(("team-a",), k8s_manifests.DEFAULT_DENIED)
    for name, text in files.items():
        (out / name).write_text(text)
    access.apply(plane, KUBECTL, out, allowed_namespace="team-a", refused_namespace="team-b")
    try:
        yield
    finally:
        for namespace in ("team-a", "default"):
            kubectl(plane, "delete", "rolebinding,role", GROUP, "-n", namespace)
        access.apply(plane, KUBECTL)


def test_namespaced_mode_allows_claims_only_in_the_listed_namespaces(
    namespaced: None, plane: ControlPlane
) -> None:
    name = unique("ns-mode")
    body = claim(name, "team-a", labelled=True)
    status, body = as_registrar(plane, "POST", claims("team-a"), body)
    assert status == 201, body
    status, body = as_registrar(plane, "DELETE", f"{claims('team-a')}/{name}")
    assert status == 200, body
    body = claim(name, "team-b", labelled=True)
    status, body = as_registrar(plane, "POST", claims("team-b"), body)
    assert status == 403, body  # no Role in team-b, and the policy's list lacks it
    message = str(body.get("message"))
    assert "cannot create resource" in message or "may not create claims" in message, body


def test_namespaced_mode_keeps_the_sweep_and_pv_events_working(
    namespaced: None, plane: ControlPlane, our_pv: str
) -> None:
    selector = f"?labelSelector={LABEL}%3D{GROUP}"
    assert as_registrar(plane, "GET", f"/api/v1/persistentvolumeclaims{selector}")[0] == 200
    assert as_registrar(plane, "GET", f"{PVS}{selector}")[0] == 200
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": unique(our_pv), "namespace": "default"},
        "involvedObject": {"kind": "PersistentVolume", "name": our_pv},
        "reason": "Registered",
        "message": "Registered",
    }
    status, body = as_registrar(plane, "POST", "/api/v1/namespaces/default/events", event)
    assert status == 201, body
    event["metadata"]["namespace"] = "team-b"
    assert as_registrar(plane, "POST", "/api/v1/namespaces/team-b/events", event)[0] == 403
    assert as_registrar(plane, "DELETE", f"{PVS}/{our_pv}")[0] == 200
