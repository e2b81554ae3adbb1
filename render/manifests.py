"""The registrar's Kubernetes access model, rendered for one deployment's namespace lists.

Two files, applied by an administrator in this order (see docs/deploy.md):

1. `admission-policy.yaml`: a ValidatingAdmissionPolicy and its binding (admissionregistration
   v1, GA in Kubernetes 1.30) that confine the group `ebs-pv-registrar` to objects labelled
   `app.kubernetes.io/managed-by=ebs-pv-registrar` and to claims in the permitted namespaces;
2. `rbac.yaml`: the verbs the registrar uses (get, list, create, patch, delete; never watch).
   With `*` among the allowed namespaces, one ClusterRole; with a finite list, a ClusterRole
   for PersistentVolumes (cluster-scoped) and for listing claims (the sweep lists them across
   namespaces by label), plus a Role and RoleBinding per namespace for writing claims and Events.

The namespace lists are written into the policy's CEL rather than read from a parameter object:
kube-apiserver collects a binding's parameters before it evaluates the policy's matchConditions
(k8s.io/apiserver, pkg/admission/plugin/policy/validating/dispatcher.go), so a missing or
misnamed parameter ConfigMap with parameterNotFoundAction=Deny would refuse every PV and PVC
write in the cluster, the PV controller's included. Rendering keeps the lists in step instead:
the same values as the CDK context keys allowedNamespaces/deniedNamespaces.

`python -m render.manifests --help` (or scripts/render-manifests) prints or writes them; the
files in k8s/ are this module's output for the defaults (tests/infra/test_rbac.py checks it).
Independent of the CDK and of `registrar`: only PyYAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

GROUP = "ebs-pv-registrar"
NAME = "ebs-pv-registrar"
MANAGED_BY = "app.kubernetes.io/managed-by"
DEFAULT_ALLOWED = ("*",)
DEFAULT_DENIED = ("kube-system", "kube-public", "kube-node-lease")
# Events about a cluster-scoped PersistentVolume go to this namespace (registrar.adapters.kube).
PV_EVENT_NAMESPACE = "default"
RBAC_FILE = "rbac.yaml"
POLICY_FILE = "admission-policy.yaml"
# Applied first: the group never holds its rights without the policy in force.
APPLY_ORDER = (POLICY_FILE, RBAC_FILE)

LABELS = {"app.kubernetes.io/name": NAME}
PV_VERBS = ["get", "list", "create", "patch", "delete"]
CLAIM_VERBS = ["get", "list", "create", "patch", "delete"]
NAMESPACED_CLAIM_VERBS = ["get", "create", "patch", "delete"]


def csv(value: str) -> tuple[str, ...]:
    """`a, b,,c` -> ('a', 'b', 'c'): how the registrar reads REGISTRAR_*_NAMESPACES."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def is_finite(allowed: Sequence[str]) -> bool:
    return "*" not in allowed


def claim_namespaces(allowed: Sequence[str], denied: Sequence[str]) -> list[str]:
    """The namespaces a claim may go to, when the allowed list is finite."""
    return sorted({n for n in allowed if n not in denied})


# --- admission policy ---------------------------------------------------------------------


def _cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in sorted(set(values))) + "]"


def _permitted(namespace: str, allowed: Sequence[str], denied: Sequence[str]) -> str:
    """CEL: `namespace` may hold a claim (Settings.namespace_allowed's rule)."""
    rule = f"!({namespace} in variables.denied)"
    if is_finite(allowed):
        rule += f" && {namespace} in variables.allowed"
    return rule


def _claim_ref_namespace(name: str) -> str:
    """CEL: the namespace of a PV's claimRef in `name` (object or oldObject), or ''."""
    ref = f"dyn({name}).spec.claimRef"
    return (f"{name} != null && !variables.isClaim && has({ref}) && has({ref}.namespace) "
            f"? {ref}.namespace : ''")


def _labelled(name: str) -> str:
    """CEL: `name` (object or oldObject) is there and carries our label. `object` is null for
    DELETE, `oldObject` for CREATE (k8s.io/api admissionregistration/v1 types.go)."""
    labels, key = f"{name}.metadata.labels", json.dumps(MANAGED_BY)
    return (f"{name} != null && has({labels}) && {key} in {labels} "
            f"&& {labels}[{key}] == {json.dumps(GROUP)}")


def policy(allowed: Sequence[str], denied: Sequence[str]) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding."""
    variables = [
        {"name": "denied", "expression": _cel_list(denied)},
        {"name": "allowed", "expression": _cel_list(allowed)},
        {"name": "newOurs", "expression": _labelled("object")},
        {"name": "oldOurs", "expression": _labelled("oldObject")},
        {"name": "isClaim", "expression": "request.resource.resource == 'persistentvolumeclaims'"},
        # dyn(): claimRef is a PV field; typed against the PVC schema it would be a warning
        {"name": "claimRefNamespace", "expression": _claim_ref_namespace("object")},
        {"name": "oldClaimRefNamespace", "expression": _claim_ref_namespace("oldObject")},
    ]
    validations = [
        {
            "expression": "request.operation != 'CREATE' || variables.newOurs",
            "message": f"{GROUP} may only create objects labelled {MANAGED_BY}={GROUP}",
        },
        {
            "expression": "request.operation == 'CREATE' || variables.oldOurs",
            "message": f"{GROUP} may only change or delete objects labelled {MANAGED_BY}={GROUP}",
        },
        {
            "expression": "request.operation != 'UPDATE' || variables.newOurs",
            "message": f"{GROUP} may not remove the label {MANAGED_BY}={GROUP}",
        },
        {
            "expression": "!variables.isClaim || request.operation != 'CREATE' || "
            + _permitted("request.namespace", allowed, denied),
            "message": f"{GROUP} may not create claims in this namespace",
        },
        {
            # A PV's claimRef pre-binds it to a claim: only to a claim where ours may live.
            "expression": "variables.claimRefNamespace == '' || "
            "variables.claimRefNamespace == variables.oldClaimRefNamespace || "
            + _permitted("variables.claimRefNamespace", allowed, denied),
            "message": f"{GROUP} may not bind a volume to a claim in this namespace",
        },
    ]
    for validation in validations:
        validation["reason"] = "Forbidden"  # 403, like RBAC; the default would be 422 Invalid
    definition = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": NAME, "labels": LABELS},
        "spec": {
            # Fail: an expression error refuses the registrar's request. Other users only meet
            # the match condition, which guards its one field access and so cannot fail.
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": [
                            "persistentvolumes",
                            "persistentvolumes/status",
                            "persistentvolumeclaims",
                            "persistentvolumeclaims/status",
                        ],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": "registrar-group",
                    "expression": f"has(request.userInfo.groups) && "
                    f"{json.dumps(GROUP)} in request.userInfo.groups",
                }
            ],
            "variables": variables,
            "validations": validations,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": NAME, "labels": LABELS},
        "spec": {"policyName": NAME, "validationActions": ["Deny"]},
    }
    return [definition, binding]


# --- RBAC ---------------------------------------------------------------------------------


def _rule(resource: str, verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": [resource], "verbs": verbs}


def _subjects() -> list[dict[str, str]]:
    return [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]


def _binding(kind: str, role_kind: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": NAME, "labels": LABELS}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": NAME},
        "subjects": _subjects(),
    }


def rbac(allowed: Sequence[str], denied: Sequence[str]) -> list[dict[str, Any]]:
    """ClusterRole + binding; with a finite allowed list, plus a Role + binding per namespace."""
    cluster_rules = [
        _rule("persistentvolumes", PV_VERBS),
        # Whether a grown claim's class allows expansion; which instances are the nodes.
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get"]},
        _rule("nodes", ["list"]),
    ]
    if is_finite(allowed):
        cluster_rules.append(_rule("persistentvolumeclaims", ["list"]))
    else:
        cluster_rules += [_rule("persistentvolumeclaims", CLAIM_VERBS), _rule("events", ["create"])]
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": LABELS},
            "rules": cluster_rules,
        },
        _binding("ClusterRoleBinding", "ClusterRole"),
    ]
    if not is_finite(allowed):
        return documents
    claims = claim_namespaces(allowed, denied)
    for namespace in sorted({*claims, PV_EVENT_NAMESPACE}):
        rules = [_rule("events", ["create"])]
        if namespace in claims:
            rules.insert(0, _rule("persistentvolumeclaims", NAMESPACED_CLAIM_VERBS))
        documents.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
                "rules": rules,
            }
        )
        documents.append(_binding("RoleBinding", "Role", namespace))
    return documents


# --- output -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Short lists of words inline (`verbs: [get, list]`), CEL expressions folded (`>-`)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, str) and len(item) < 40 for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = ">" if len(data) > 60 or "'" in data or '"' in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)

HEADERS = {
    POLICY_FILE: (
        "# Generated by render/manifests.py (scripts/render-manifests) for\n"
        "# allowedNamespaces={allowed} deniedNamespaces={denied}.\n"
        "# What the API server itself refuses the group ebs-pv-registrar, whatever its RBAC\n"
        "# allows: Kubernetes 1.30+ (admissionregistration.k8s.io/v1). Apply before rbac.yaml.\n"
    ),
    RBAC_FILE: (
        "# Generated by render/manifests.py (scripts/render-manifests) for\n"
        "# allowedNamespaces={allowed} deniedNamespaces={denied}.\n"
        "# Access model of ebs-pv-registrar. The Lambda's IAM role is mapped to the group\n"
        "# `ebs-pv-registrar` (EKS access entry with kubernetesGroups: [ebs-pv-registrar], or\n"
        "# aws-auth). The verbs are the ones the registrar sends; it never watches.\n"
    ),
}


def render(allowed: Sequence[str] = DEFAULT_ALLOWED,
           denied: Sequence[str] = DEFAULT_DENIED) -> dict[str, str]:
    """File name -> YAML text, for the given namespace lists."""
    documents = {POLICY_FILE: policy(allowed, denied), RBAC_FILE: rbac(allowed, denied)}
    header_values = {"allowed": ",".join(allowed), "denied": ",".join(denied)}
    return {
        name: HEADERS[name].format(**header_values)
        + yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=96)
        for name, docs in documents.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="render-manifests",
        description="Render the registrar's RBAC and admission policy for a deployment's "
        "namespace lists (the CDK context keys allowedNamespaces / deniedNamespaces).",
    )
    parser.add_argument("--allowed-namespaces", default=",".join(DEFAULT_ALLOWED))
    parser.add_argument("--denied-namespaces", default=",".join(DEFAULT_DENIED))
    parser.add_argument(
        "--out-dir", type=Path, help=f"write {' and '.join(APPLY_ORDER)} there (default: stdout)"
    )
    args = parser.parse_args(argv)
    allowed, denied = csv(args.allowed_namespaces), csv(args.denied_namespaces)
    if not allowed:
        parser.error("--allowed-namespaces is empty")
    files = render(allowed, denied)
    if args.out_dir is None:
        sys.stdout.write("---\n".join(files[name] for name in APPLY_ORDER))
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in APPLY_ORDER:
        (args.out_dir / name).write_text(files[name])
        print(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
