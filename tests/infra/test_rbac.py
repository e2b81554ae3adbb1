"""k8s/rbac.yaml and k8s/admission-policy.yaml: valid against the Kubernetes schemas, the output
of render/manifests.py for the defaults, and exactly the verbs the registrar sends.
Their effect on a real API server: tests/e2e/test_admission_policy.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from render import manifests as m

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
USED = {"get", "list", "create", "patch", "delete"}
SUBJECTS = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ebs-pv-registrar"}]


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def rights(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Verbs by resource; only storage classes are outside the core group."""
    for rule in rules:
        group = ["storage.k8s.io"] if rule["resources"] == ["storageclasses"] else [""]
        assert rule["apiGroups"] == group, rule
    return {r: set(rule["verbs"]) for rule in rules for r in rule["resources"]}


# Read only (issue 22): whether a grown claim's class expands; which instances are nodes.
READS = {"storageclasses": {"get"}, "nodes": {"list"}}


def test_shipped_files_are_the_rendered_defaults() -> None:
    """Edit render/manifests.py, then `scripts/render-manifests --out-dir k8s`."""
    for name, text in m.render().items():
        assert (K8S / name).read_text() == text, f"k8s/{name} is stale"


@pytest.mark.parametrize(
    "allowed", [m.DEFAULT_ALLOWED, ("team-a", "team-b", "kube-system")], ids=["cluster", "ns"]
)
def test_rendered_manifests_are_valid(allowed: tuple[str, ...]) -> None:
    version = kubernetes_validate.latest_version()
    for text in m.render(allowed, m.DEFAULT_DENIED).values():
        for doc in documents(text):
            kubernetes_validate.validate(doc, version, strict=True)


def test_verbs_are_the_ones_the_gateway_sends() -> None:
    """Every verb registrar/adapters/kube.py passes to the transport, and nothing more."""
    source = (REPO / "lambdas" / "registrar" / "adapters" / "kube.py").read_text()
    call = r'self\._transport\.call\(\s*"[A-Z]+",.*?"(\w+)",\s*(?:res\.plural|"\w+")'
    sent = set(re.findall(call, source, re.S))
    assert sent == USED
    assert set(m.PV_VERBS) == set(m.CLAIM_VERBS) == USED


def test_cluster_mode_rbac() -> None:
    role, binding = documents((K8S / "rbac.yaml").read_text())
    assert rights(role["rules"]) == {
        "persistentvolumes": USED,
        "persistentvolumeclaims": USED,
        "events": {"create"},
        **READS,
    }
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == SUBJECTS


def test_namespaced_mode_rbac_has_a_role_per_allowed_namespace() -> None:
    docs = m.rbac(("team-b", "team-a", "kube-system"), m.DEFAULT_DENIED)
    cluster_role, cluster_binding, *namespaced = docs
    # PVs are cluster-scoped; the sweep lists claims across namespaces by label
    assert rights(cluster_role["rules"]) == {
        "persistentvolumes": USED,
        "persistentvolumeclaims": {"list"},
        **READS,
    }
    assert cluster_binding["kind"] == "ClusterRoleBinding"
    roles = {d["metadata"]["namespace"]: d for d in namespaced if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"]: d for d in namespaced if d["kind"] == "RoleBinding"}
    assert sorted(roles) == sorted(bindings) == ["default", "team-a", "team-b"]  # no kube-system
    for namespace in ("team-a", "team-b"):
        assert rights(roles[namespace]["rules"]) == {
            "persistentvolumeclaims": {"get", "create", "patch", "delete"},
            "events": {"create"},
        }
    # events about PVs (cluster-scoped) go to `default`: only that there
    assert rights(roles["default"]["rules"]) == {"events": {"create"}}
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ebs-pv-registrar"
        }
        assert binding["subjects"] == SUBJECTS


def test_namespaced_mode_with_default_allowed_has_one_full_role_there() -> None:
    docs = m.rbac(("default",), ())
    roles = [d for d in docs if d["kind"] == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == ["default"]
    claim_verbs = rights(roles[0]["rules"])["persistentvolumeclaims"]
    assert claim_verbs == {"get", "create", "patch", "delete"}


def variables(policy: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in policy["spec"]["variables"]}


def test_policy_matches_the_group_and_judges_old_and_new_objects() -> None:
    policy, binding = documents((K8S / "admission-policy.yaml").read_text())
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert "paramKind" not in spec  # see the module docstring: no parameter object
    (condition,) = spec["matchConditions"]
    assert '"ebs-pv-registrar" in request.userInfo.groups' in condition["expression"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]
    assert {"persistentvolumes", "persistentvolumeclaims"} <= set(rule["resources"])
    names = variables(policy)
    assert names["denied"] == '["kube-node-lease", "kube-public", "kube-system"]'
    assert "oldObject.metadata.labels" in names["oldOurs"]
    assert all(v["reason"] == "Forbidden" for v in spec["validations"])
    assert binding["spec"] == {"policyName": "ebs-pv-registrar", "validationActions": ["Deny"]}


def test_policy_with_a_finite_list_requires_the_allowed_namespaces() -> None:
    policy, _ = m.policy(("team-a", "team-b"), ("kube-system",))
    assert variables(policy)["allowed"] == '["team-a", "team-b"]'
    assert variables(policy)["denied"] == '["kube-system"]'
    namespace_rules = [v["expression"] for v in policy["spec"]["validations"]
                       if "in variables.denied" in v["expression"]]
    assert len(namespace_rules) == 2
    assert all("in variables.allowed" in rule for rule in namespace_rules)
    cluster_policy, _ = m.policy(m.DEFAULT_ALLOWED, m.DEFAULT_DENIED)
    assert not any("variables.allowed" in v["expression"]
                   for v in cluster_policy["spec"]["validations"])


def test_cli_writes_both_files_in_apply_order(tmp_path: Path, capsys: Any) -> None:
    assert m.main(["--allowed-namespaces", "team-a, team-b", "--out-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / n) for n in m.APPLY_ORDER]
    assert m.APPLY_ORDER == ("admission-policy.yaml", "rbac.yaml")
    rbac = (tmp_path / "rbac.yaml").read_text()
    assert "allowedNamespaces=team-a,team-b" in rbac
    assert "kind: RoleBinding" in rbac
    assert m.main([]) == 0
    streamed = capsys.readouterr().out
    assert streamed.index("ValidatingAdmissionPolicy") < streamed.index("ClusterRole")


def test_render_manifests_script_prints_both_in_apply_order() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "render-manifests"), "--allowed-namespaces", "team-a"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    kinds = [d["kind"] for d in documents(result.stdout)]
    assert kinds[:2] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    assert kinds.count("Role") == 2  # team-a, and default for PV events
