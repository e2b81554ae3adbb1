"""k8s/rbac.yaml: valid against the Kubernetes schemas and exactly the rights the issue names."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

RBAC = Path(__file__).resolve().parents[2] / "k8s" / "rbac.yaml"
FULL = {"get", "list", "watch", "create", "patch", "delete"}


def test_rbac_is_valid_and_minimal() -> None:
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    role, binding = docs
    rights = {r: set(rule["verbs"]) for rule in role["rules"] for r in rule["resources"]}
    assert rights == {
        "persistentvolumes": FULL,
        "persistentvolumeclaims": FULL,
        "events": {"create"},
    }
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ebs-pv-registrar"}
    ]
