"""End to end: safe adoption. One volume is never two PVs, a volume that belongs to someone
else is refused, and every failure ends as an `error:` status on the volume while the handler
returns (Lambda retries only what a retry can fix).

The path is the Lambda's own, as in test_registration_e2e.py: volumes in moto, CloudTrail
events routed by the synthesized rule patterns, `registrar.handler.lambda_handler`, the
registrar's IAM role and k8s/rbac.yaml on the real kube-apiserver. Settings come from the
`REGISTRAR_*` environment, read by `Settings.from_env()` as the function reads them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from botocore.credentials import Credentials

from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.harshness import settle
from devcluster.standins.identity import assume_role, create_role
from registrar.adapters.kube import KubeGateway
from registrar.core.settings import Settings
from tests.e2e.conftest import (
    CSI_CLUSTER,
    REGION,
    REPO,
    STATUS,
    absent,
    create_volume,
    created,
    kubectl,
    kubectl_apply,
    only_outcome,
    settled,
    tagged,
    unique,
    volume_tags,
    wait_phase,
)
from tests.e2e.deployed import DeployedFunction
from tests.support import eventfactory as ef

Deploy = Callable[..., "DeployedFunction"]

AUTO_MODE_DRIVER = "ebs.csi.eks.amazonaws.com"
# EKS Auto Mode's AmazonEKSBlockStoragePolicy(V2) allows AttachVolume and DetachVolume only
# on volumes whose `eks:eks-cluster-name` tag is the cluster's name (AWS managed policy
# reference, AmazonEKSBlockStoragePolicyV2).
AUTO_MODE_CLUSTER_TAG = "eks:eks-cluster-name"
# The tags the EBS CSI driver (kubernetes-sigs/aws-ebs-csi-driver, pkg/cloud/cloud.go and
# pkg/driver/constants.go) puts on a volume it provisions: `CSIVolumeName` (the PV's name)
# always, the `kubernetes.io/created-for/*` ones when the provisioner sidecar runs with
# --extra-create-metadata, and `ebs.csi.aws.com/cluster=true` (docs/tagging.md).
CSI_VOLUME_NAME = "CSIVolumeName"
CREATED_FOR_PV = "kubernetes.io/created-for/pv/name"
CREATED_FOR_PVC = "kubernetes.io/created-for/pvc/name"
CREATED_FOR_NAMESPACE = "kubernetes.io/created-for/pvc/namespace"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm() -> dict[tuple[str, tuple[tuple[str, str], ...]], DeployedFunction]:
    """Functions already deployed in this module, by identity and settings (warm Lambdas)."""
    return {}


@pytest.fixture
def deploy(
    rbac_applied: ControlPlane,
    role_credentials: Credentials,
    warm: dict[tuple[str, tuple[tuple[str, str], ...]], DeployedFunction],
    monkeypatch: pytest.MonkeyPatch,
) -> Deploy:
    """deploy(credentials=None, **REGISTRAR_*) -> the function whose settings are only these
    variables plus REGISTRAR_DEFAULT_CLUSTER (the plane's), read by `Settings.from_env()`,
    signed with the registrar's role (or `credentials`)."""

    def build(credentials: Credentials | None = None, **env: str) -> DeployedFunction:
        credentials = credentials or role_credentials
        for name in [n for n in os.environ if n.startswith("REGISTRAR_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("REGISTRAR_DEFAULT_CLUSTER", rbac_applied.cluster)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        deployment = (credentials.access_key, tuple(sorted(env.items())))
        if deployment not in warm:
            warm[deployment] = DeployedFunction.build(
                rbac_applied, credentials, Settings.from_env()
            )
        return warm[deployment]

    return build


@pytest.fixture
def function(deploy: Deploy) -> DeployedFunction:
    """The function with the default settings."""
    return deploy()


# --- helpers --------------------------------------------------------------------------------


def pvs_using(admin: KubeGateway, volume_id: str) -> list[str]:
    """Every PV in the cluster (ours or not, any driver) whose CSI volume handle is this volume."""
    return sorted(
        pv["metadata"]["name"]
        for pv in admin.list("PersistentVolume", "")
        if (pv["spec"].get("csi") or {}).get("volumeHandle") == volume_id
    )


def cluster_objects(admin: KubeGateway) -> set[str]:
    """Every PV and PVC in the cluster, as `pv/<name>` and `pvc/<namespace>/<name>`."""
    pvs = {f"pv/{pv['metadata']['name']}" for pv in admin.list("PersistentVolume", "")}
    pvcs = {
        f"pvc/{c['metadata']['namespace']}/{c['metadata']['name']}"
        for c in admin.list("PersistentVolumeClaim", "")
    }
    return pvs | pvcs


def registered(plane: ControlPlane, pv: str, namespace: str, claim: str) -> str:
    return f"registered {plane.cluster}/{pv} -> {namespace}/{claim}"


def create_namespace(plane: ControlPlane, name: str, labels: dict[str, str] | None = None) -> None:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    kubectl_apply(plane, [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}])


def hand_written_pv(name: str, volume_id: str, driver: str) -> dict[str, Any]:
    """A PV someone wrote by hand for an EBS volume: no managed-by label of ours."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"team": "someone-else"}},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "manual",
            "csi": {"driver": driver, "volumeHandle": volume_id, "fsType": "ext4"},
        },
    }


def unregistered(ec2: Any, admin: KubeGateway, volume_id: str, pv: str) -> None:
    """Nothing of the registration happened: no PV by that name, no CSI cluster tag."""
    assert absent(admin, "PersistentVolume", pv)
    assert CSI_CLUSTER not in volume_tags(ec2, volume_id)


def settled_with_error(
    ec2: Any, admin: KubeGateway, outcome: dict[str, Any], volume_id: str, claim: str
) -> None:
    """The claim was refused for good: the volume says so, naming its namespace, and carries no
    CSI cluster tag; no claim exists."""
    namespace, name = claim.split("/")
    assert outcome["result"] not in ("registered", "unchanged"), outcome
    tags = volume_tags(ec2, volume_id)
    assert tags[STATUS].startswith("error: ") and namespace in tags[STATUS], tags[STATUS]
    assert CSI_CLUSTER not in tags
    assert absent(admin, "PersistentVolumeClaim", name, namespace)


# --- one volume, one PV ---------------------------------------------------------------------


def test_renaming_k8s_pv_of_a_registered_volume_never_makes_a_second_pv(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
) -> None:
    old, new, claim = unique("e2e-old"), unique("e2e-new"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": old, "k8s-pvc": claim})
    volume_id = volume["VolumeId"]
    assert only_outcome(function(event))["result"] == "registered"
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"

    rename = tagged(ec2, route, volume_id, {"k8s-pv": new})
    only_outcome(function(rename))

    assert absent(admin, "PersistentVolume", new)
    assert pvs_using(admin, volume_id) == [old]
    assert admin.get("PersistentVolume", old)["spec"]["claimRef"]["name"] == claim
    status = volume_tags(ec2, volume_id)[STATUS]
    prefix = f"error: k8s-pv: already registered as PV {old}; "
    assert status.startswith(prefix) and len(status) > len(prefix), status

    # A sweep reports the rename as drift, and creates no second PV either.
    rows = [row for row in function.sweep_rows() if row.volume_id == volume_id]
    assert [row.action for row in rows] == ["drift"], rows
    function(ef.scheduled(region=REGION))
    assert absent(admin, "PersistentVolume", new)
    assert pvs_using(admin, volume_id) == [old]
    assert volume_tags(ec2, volume_id)[STATUS].startswith(prefix)


@pytest.mark.parametrize("driver", ["ebs.csi.aws.com", AUTO_MODE_DRIVER])
def test_volume_used_by_a_hand_written_pv_is_refused_and_nothing_is_written(
    driver: str,
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
) -> None:
    theirs, mine, claim = unique("e2e-hand"), unique("e2e-mine"), unique("e2e-claim")
    volume_id = create_volume(ec2, {"Name": "data"})["VolumeId"]
    admin.create(hand_written_pv(theirs, volume_id, driver))
    before = settled(admin, theirs)
    objects = cluster_objects(admin)
    event = tagged(ec2, route, volume_id, {"k8s-pv": mine, "k8s-pvc": claim})
    function.kube_calls.clear()

    outcome = only_outcome(function(event))

    assert volume_tags(ec2, volume_id)[STATUS] == f"error: k8s-pv: volume is used by PV {theirs}"
    assert outcome["result"] not in ("registered", "unchanged", "failed"), outcome
    assert cluster_objects(admin) == objects
    after = admin.get("PersistentVolume", theirs)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert CSI_CLUSTER not in volume_tags(ec2, volume_id)
    # Only the API server knows the hand-written PV: the check asked it.
    assert function.kube_calls
    # The hourly sweep refuses it too, once EC2 lists the volume.
    settle()
    function(ef.scheduled(region=REGION))
    assert pvs_using(admin, volume_id) == [theirs]
    assert absent(admin, "PersistentVolumeClaim", claim, "default")
    assert volume_tags(ec2, volume_id)[STATUS] == f"error: k8s-pv: volume is used by PV {theirs}"


@pytest.mark.parametrize(
    "extra_create_metadata", [True, False], ids=["created-for-tags", "volume-name-only"]
)
def test_volume_provisioned_by_the_csi_driver_is_refused_before_any_kubernetes_call(
    extra_create_metadata: bool,
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
) -> None:
    owner_pv = f"pvc-{uuid.uuid4()}"
    driver_tags = {CSI_VOLUME_NAME: owner_pv, CSI_CLUSTER: "true"}
    if extra_create_metadata:
        driver_tags |= {
            CREATED_FOR_PV: owner_pv,
            CREATED_FOR_PVC: "data-db-0",
            CREATED_FOR_NAMESPACE: "team-a",
        }
    volume_id = create_volume(ec2, driver_tags)["VolumeId"]
    # The PV the driver's provisioner made for it, pre-bound to its owner's claim.
    provisioned = hand_written_pv(owner_pv, volume_id, "ebs.csi.aws.com")
    provisioned["metadata"] = {
        "name": owner_pv,
        "annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"},
    }
    provisioned["spec"]["storageClassName"] = "gp3"
    provisioned["spec"]["claimRef"] = {"namespace": "team-a", "name": "data-db-0"}
    admin.create(provisioned)
    objects = cluster_objects(admin)
    mine, claim = unique("e2e-steal"), unique("e2e-loot")
    event = tagged(ec2, route, volume_id, {"k8s-pv": mine, "k8s-pvc": f"default/{claim}"})
    function.kube_calls.clear()

    outcome = only_outcome(function(event))

    status = volume_tags(ec2, volume_id)[STATUS]
    assert status.startswith("error: ") and owner_pv in status, status
    assert outcome["result"] not in ("registered", "unchanged", "failed"), outcome
    assert function.kube_calls == []
    assert absent(admin, "PersistentVolume", mine)
    assert absent(admin, "PersistentVolumeClaim", claim, "default")
    assert cluster_objects(admin) == objects
    # The hourly sweep refuses it too, once EC2 lists the volume.
    settle()
    function(ef.scheduled(region=REGION))
    assert pvs_using(admin, volume_id) == [owner_pv]
    assert absent(admin, "PersistentVolumeClaim", claim, "default")
    assert volume_tags(ec2, volume_id)[STATUS] == status


# --- a claim's namespace: missing, forbidden, or a policy that rejects the claim --------------


def test_claim_in_a_missing_namespace_settles_then_registers_once_it_exists(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
    rbac_applied: ControlPlane,
) -> None:
    namespace, pv, claim = unique("e2e-typo"), unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"{namespace}/{claim}"})
    volume_id = volume["VolumeId"]

    only_outcome(function(event))  # returns: a retry cannot create a namespace

    tags = volume_tags(ec2, volume_id)
    assert tags[STATUS] == f'error: k8s-pvc: namespace "{namespace}" does not exist'
    assert CSI_CLUSTER not in tags
    assert absent(admin, "PersistentVolumeClaim", claim, namespace)

    create_namespace(rbac_applied, namespace)
    settle()  # until EC2 lists the volume: the sweep finds it only then
    function(ef.scheduled(region=REGION))

    assert wait_phase(admin, "PersistentVolumeClaim", claim, namespace) == "Bound"
    assert admin.get("PersistentVolume", pv)["spec"]["csi"]["volumeHandle"] == volume_id
    tags = volume_tags(ec2, volume_id)
    assert tags[STATUS] == registered(rbac_applied, pv, namespace, claim)
    assert tags[CSI_CLUSTER] == "true"


def test_sweep_registers_every_other_volume_past_a_missing_namespace(
    ec2: Any, function: DeployedFunction, admin: KubeGateway, rbac_applied: ControlPlane
) -> None:
    namespace = unique("e2e-typo")
    # Created first, so DescribeVolumes lists it before the others.
    failing = create_volume(ec2, {"k8s-pv": unique("e2e-pv"), "k8s-pvc": f"{namespace}/data"})
    others = {unique("e2e-pv"): unique("e2e-claim") for _ in range(2)}
    ids = {
        pv: create_volume(ec2, {"k8s-pv": pv, "k8s-pvc": claim})["VolumeId"]
        for pv, claim in others.items()
    }
    settle()  # until EC2 lists them

    outcomes = function(ef.scheduled(region=REGION))["outcomes"]

    assert [o["result"] for o in outcomes] == ["reconciled"], outcomes
    for pv, claim in others.items():
        assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
        assert volume_tags(ec2, ids[pv])[STATUS] == registered(rbac_applied, pv, "default", claim)
    expected = f'error: k8s-pvc: namespace "{namespace}" does not exist'
    assert volume_tags(ec2, failing["VolumeId"])[STATUS] == expected


RBAC = "rbac.authorization.k8s.io"


def narrow_rbac(name: str, granted: str) -> list[dict[str, Any]]:
    """For the group `name`: k8s/rbac.yaml's ClusterRole without its persistentvolumeclaims
    rule, bound cluster-wide, and the whole ClusterRole bound in the namespace `granted` only
    (so a change to rbac.yaml carries over, except for the claims)."""
    docs = yaml.safe_load_all((REPO / "k8s" / "rbac.yaml").read_text())
    full = next(d for d in docs if d and d["kind"] == "ClusterRole")
    rules = []
    for rule in full["rules"]:
        resources = [r for r in rule["resources"] if r != "persistentvolumeclaims"]
        if resources:
            rules.append({**rule, "resources": resources})
    subjects = [{"apiGroup": RBAC, "kind": "Group", "name": name}]
    version = f"{RBAC}/v1"

    def role_ref(role: str) -> dict[str, str]:
        return {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}

    return [
        {"apiVersion": version, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules},
        {
            "apiVersion": version,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": role_ref(name),
            "subjects": subjects,
        },
        {
            "apiVersion": version,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": granted},
            "roleRef": role_ref(full["metadata"]["name"]),
            "subjects": subjects,
        },
    ]


def can_create_claims(plane: ControlPlane, group: str, namespace: str) -> bool:
    answer = kubectl(
        plane, "auth", "can-i", "create", "persistentvolumeclaims", "-n", namespace,
        f"--as={group}", f"--as-group={group}",
    )
    return answer.stdout.strip() == "yes"


@pytest.fixture
def narrow_registrar(rbac_applied: ControlPlane) -> Iterator[tuple[Credentials, str, str]]:
    """Another IAM role of the registrar, whose group may create claims in one namespace only
    (`narrow_rbac`). Yields (its credentials, the granted namespace, another namespace)."""
    name = unique("e2e-narrow")
    granted, other = f"{name}-granted", f"{name}-other"
    role = create_role(REGION, prefix="registrar-narrow")
    rbac_applied.add_access_entry(role, name, [name])
    for namespace in (granted, other):
        create_namespace(rbac_applied, namespace)
    kubectl_apply(rbac_applied, narrow_rbac(name, granted))
    deadline = time.monotonic() + 15
    while not can_create_claims(rbac_applied, name, granted):  # RBAC caches catch up
        assert time.monotonic() < deadline, "the RoleBinding never took effect"
        time.sleep(0.2)
    assert not can_create_claims(rbac_applied, name, other)
    yield assume_role(role, REGION), granted, other
    rbac_applied.remove_access_entry(role)


def test_claim_the_registrar_may_not_create_settles_the_volume(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    deploy: Deploy,
    admin: KubeGateway,
    narrow_registrar: tuple[Credentials, str, str],
) -> None:
    credentials, granted, other = narrow_registrar
    function = deploy(credentials)
    # The narrow identity registers in its namespace: what follows is about the namespace only.
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    _, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"{granted}/{claim}"})
    assert only_outcome(function(event))["result"] == "registered"
    assert wait_phase(admin, "PersistentVolumeClaim", claim, granted) == "Bound"

    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"{other}/{claim}"})

    outcome = only_outcome(function(event))  # HTTP 403: returns, no retry can fix it

    settled_with_error(ec2, admin, outcome, volume["VolumeId"], f"{other}/{claim}")


@pytest.fixture
def claims_need_a_team_label(rbac_applied: ControlPlane) -> Iterator[str]:
    """A namespace where a ValidatingAdmissionPolicy rejects every claim without a `team`
    label, as a cluster's own policy may; yields the namespace. Its reason Invalid makes the
    answer HTTP 422 (k8s.io/apiserver, pkg/admission/plugin/policy/validating/
    policy_decision.go, reasonToCode), though the message reads "is forbidden: …"."""
    name = unique("e2e-policy")
    admission = "admissionregistration.k8s.io/v1"
    kubectl_apply(
        rbac_applied,
        [
            {
                "apiVersion": admission,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE"],
                                "resources": ["persistentvolumeclaims"],
                            }
                        ]
                    },
                    "validations": [
                        {
                            "expression": "has(object.metadata.labels) && "
                            "'team' in object.metadata.labels",
                            "message": "every claim needs a team label",
                            "reason": "Invalid",
                        }
                    ],
                },
            },
            {
                "apiVersion": admission,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {"e2e-policy": name}}
                    },
                },
            },
        ],
    )
    create_namespace(rbac_applied, name, {"e2e-policy": name})
    probe = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "probe", "namespace": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    deadline = time.monotonic() + 15
    while True:  # the API server loads a new policy asynchronously
        dry_run = kubectl(
            rbac_applied, "create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe)
        )
        if "every claim needs a team label" in dry_run.stderr:
            break
        assert time.monotonic() < deadline, ("the policy never took effect", dry_run.stderr)
        time.sleep(0.2)
    yield name
    for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
        kubectl(rbac_applied, "delete", kind, name, "--ignore-not-found")


def test_claim_the_api_server_rejects_settles_the_volume(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
    claims_need_a_team_label: str,
) -> None:
    namespace = claims_need_a_team_label
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": f"{namespace}/{claim}"})

    outcome = only_outcome(function(event))  # HTTP 422: returns, no retry can fix it

    settled_with_error(ec2, admin, outcome, volume["VolumeId"], f"{namespace}/{claim}")


# --- input the EBS CSI driver cannot serve, or the deployment does not allow -----------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("k8s-fstype", "btrfs"), ("k8s-volume-mode", "Raw"), ("k8s-pvc", "a/b/c")],
)
def test_invalid_tag_value_never_gets_the_csi_cluster_tag(
    key: str,
    value: str,
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
) -> None:
    pv = unique("e2e-pv")
    volume, event = created(ec2, route, {"k8s-pv": pv, key: value})

    outcome = only_outcome(function(event))

    assert outcome["result"] == "invalid", outcome
    assert volume_tags(ec2, volume["VolumeId"])[STATUS].startswith(f"error: {key}: ")
    unregistered(ec2, admin, volume["VolumeId"], pv)


# The driver's controller accepts SINGLE_NODE_WRITER, and MULTI_NODE_MULTI_WRITER for a block
# device only (kubernetes-sigs/aws-ebs-csi-driver, pkg/driver/controller.go,
# isValidCapability): a ReadOnlyMany PV would bind and then never attach. `Delete` is refused
# unless REGISTRAR_ALLOWED_RECLAIM_POLICIES allows it (the default allows `Retain` only).
@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("k8s-access-mode", "ReadOnlyMany", "ReadWriteOnce"),  # the modes the driver supports
        ("k8s-reclaim-policy", "Delete", "allowed: Retain"),
    ],
)
def test_what_the_driver_or_the_deployment_does_not_allow_is_refused(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    function: DeployedFunction,
    admin: KubeGateway,
    key: str,
    value: str,
    says: str,
) -> None:
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": claim, key: value})

    outcome = only_outcome(function(event))

    assert outcome["result"] == "invalid", outcome
    status = volume_tags(ec2, volume["VolumeId"])[STATUS]
    assert status.startswith(f"error: {key}: ") and says in status, status
    unregistered(ec2, admin, volume["VolumeId"], pv)
    assert absent(admin, "PersistentVolumeClaim", claim, "default")


def test_reclaim_policy_delete_registers_when_the_deployment_allows_it(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    deploy: Deploy,
    admin: KubeGateway,
    rbac_applied: ControlPlane,
) -> None:
    function = deploy(REGISTRAR_ALLOWED_RECLAIM_POLICIES="Retain,Delete")
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    tags = {"k8s-pv": pv, "k8s-pvc": claim, "k8s-reclaim-policy": "Delete"}
    volume, event = created(ec2, route, tags)

    outcome = only_outcome(function(event))

    assert outcome["result"] == "registered", outcome
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
    assert admin.get("PersistentVolume", pv)["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    status = volume_tags(ec2, volume["VolumeId"])[STATUS]
    assert status == registered(rbac_applied, pv, "default", claim)


@pytest.mark.parametrize("driver", ["ebs.csi.aws.com", AUTO_MODE_DRIVER])
def test_only_the_auto_mode_driver_tags_the_volume_with_its_eks_cluster_name(
    driver: str,
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    deploy: Deploy,
    admin: KubeGateway,
    rbac_applied: ControlPlane,
) -> None:
    function = deploy(REGISTRAR_CSI_DRIVER=driver)
    pv, claim = unique("e2e-pv"), unique("e2e-claim")
    volume, event = created(ec2, route, {"k8s-pv": pv, "k8s-pvc": claim})

    outcome = only_outcome(function(event))

    assert outcome["result"] == "registered", outcome
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
    assert admin.get("PersistentVolume", pv)["spec"]["csi"]["driver"] == driver
    tags = volume_tags(ec2, volume["VolumeId"])
    assert tags[STATUS] == registered(rbac_applied, pv, "default", claim)
    if driver == AUTO_MODE_DRIVER:
        assert tags[AUTO_MODE_CLUSTER_TAG] == rbac_applied.cluster
    else:
        assert AUTO_MODE_CLUSTER_TAG not in tags


# --- who may set each input tag (REGISTRAR_ALLOWED_PRINCIPALS) ------------------------------

ADMIN_ROLE = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer
STRANGER = "arn:aws:iam::111122223333:user/eve"


def as_caller(event: dict[str, Any], arn: str) -> dict[str, Any]:
    """The same CloudTrail event, made by an IAM user instead of the samples' admin role."""
    event["detail"]["userIdentity"] = {"type": "IAMUser", "arn": arn, "accountId": "111122223333"}
    return event


def test_a_stranger_changing_the_claim_of_an_admins_volume_is_refused(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    deploy: Deploy,
    admin: KubeGateway,
) -> None:
    function = deploy(REGISTRAR_ALLOWED_PRINCIPALS=ADMIN_ROLE)
    pv = unique("e2e-guarded")
    volume, event = created(ec2, route, {"k8s-pv": pv})
    assert only_outcome(function(event))["result"] == "registered"  # the admin's own tagging

    other = unique("e2e-stolen")
    change = tagged(ec2, route, volume["VolumeId"], {"k8s-pvc": f"team-b/{other}"})
    outcome = only_outcome(function(as_caller(change, STRANGER)))

    assert outcome["result"] == "invalid", outcome
    status = volume_tags(ec2, volume["VolumeId"])[STATUS]
    assert status == f"error: principal: '{STRANGER}' may not set k8s-pvc", status
    assert absent(admin, "PersistentVolumeClaim", other, "team-b")


def test_an_event_naming_no_caller_asks_cloudtrail_who_set_each_tag(
    ec2: Any,
    route: Callable[[dict[str, Any], str], None],
    deploy: Deploy,
    admin: KubeGateway,
    trail: CloudTrailStandIn,
) -> None:
    function = deploy(
        REGISTRAR_ALLOWED_PRINCIPALS=ADMIN_ROLE, REGISTRAR_UNVERIFIED_EVENTS="cloudtrail"
    )
    pv, claim = unique("e2e-looked-up"), unique("e2e-claim")
    volume = create_volume(ec2, {"k8s-pv": pv, "k8s-pvc": claim})
    volume_id = volume["VolumeId"]
    by_admin = ef.create_tags([volume_id], {"k8s-pv": pv}, region=REGION)["detail"]
    claim_tags = ef.create_tags([volume_id], {"k8s-pvc": claim}, region=REGION)
    by_stranger = as_caller(claim_tags, STRANGER)["detail"]
    for record in (by_admin, by_stranger):  # oldest first, delivered already
        trail.record(record, lag=0)
    notification = ef.ebs_notification(volume_id, region=REGION)  # EBS names no caller
    route(notification, "EbsVolumeNotification")

    outcome = only_outcome(function(notification))

    assert outcome["result"] == "invalid", outcome
    status = volume_tags(ec2, volume_id)[STATUS]
    assert status == f"error: principal: '{STRANGER}' may not set k8s-pvc", status
    assert absent(admin, "PersistentVolume", pv)
    by_admin_too = ef.create_tags([volume_id], {"k8s-pvc": claim}, region=REGION)["detail"]
    trail.record(by_admin_too, lag=0)  # the admin set it last
    assert only_outcome(function(notification))["result"] == "registered"
    assert wait_phase(admin, "PersistentVolumeClaim", claim, "default") == "Bound"
