"""The pure planner: every rule, every default, every invalid case of the README's Tags."""

from __future__ import annotations

from typing import Any

import pytest

from registrar.core.errors import InvalidInputError, SettingsError
from registrar.core.events import Ignored
from registrar.core.planner import Plan, plan_volume, registered_status
from registrar.core.settings import Settings
from registrar.core.status import error_status, status_text
from tests.support.helpers import assert_valid_manifest, facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod", "staging"))


def plan(tags: dict[str, str], settings: Settings = SETTINGS, **overrides: Any) -> Plan:
    result = plan_volume(facts(tags=tags, **overrides), settings)
    assert isinstance(result, Plan), result
    for item in result.items:
        assert_valid_manifest(item)
    return result


def test_tutorial_scenario_renders_the_hand_written_pv_and_pvc() -> None:
    result = plan(
        {"k8s-pv": "ebs-test-volume", "k8s-pvc": "ebs-test-volume-pvc"},
        Settings(),
        volume_id="vol-0abcd1234ef567890",
        size_gib=10,
        availability_zone="ap-northeast-1a",
    )
    assert result.pv == {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": "ebs-test-volume",
            "labels": {"app.kubernetes.io/managed-by": "ebs-pv-registrar"},
            "annotations": {"ebs-pv-registrar/volume-id": "vol-0abcd1234ef567890"},
        },
        "spec": {
            "capacity": {"storage": "10Gi"},
            "csi": {
                "driver": "ebs.csi.aws.com",
                "volumeHandle": "vol-0abcd1234ef567890",
                "fsType": "ext4",
            },
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["ap-northeast-1a"],
                                }
                            ]
                        }
                    ]
                }
            },
            "claimRef": {"namespace": "default", "name": "ebs-test-volume-pvc"},
        },
    }
    assert result.pvc == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "ebs-test-volume-pvc",
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "ebs-pv-registrar"},
        },
        "spec": {
            "volumeName": "ebs-test-volume",
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "storageClassName": "",
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }


def test_defaults() -> None:
    result = plan({"k8s-pv": "data"})
    spec = result.pv["spec"]
    assert result.cluster == "prod"
    assert result.pv["metadata"]["annotations"]["ebs-pv-registrar/cluster"] == "prod"
    assert spec["csi"]["fsType"] == "ext4"
    assert spec["volumeMode"] == "Filesystem"
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["storageClassName"] == ""
    assert result.claim == ("default", "data")


def test_empty_pv_tag_names_the_pv_after_the_volume() -> None:
    result = plan({"k8s-pv": ""})
    assert result.pv_name == "vol-0123456789abcdef0"
    assert result.claim == ("default", "vol-0123456789abcdef0")


@pytest.mark.parametrize(
    ("value", "claim"),
    [
        ("shop/orders", ("shop", "orders")),
        ("orders", ("apps", "orders")),
        ("", ("apps", "data")),
        ("none", None),
    ],
)
def test_claim_tag(value: str, claim: tuple[str, str] | None) -> None:
    settings = Settings(default_namespace="apps")
    result = plan({"k8s-pv": "data", "k8s-pvc": value}, settings)
    assert result.claim == claim
    if claim is None:
        assert result.pvc is None
        assert "claimRef" not in result.pv["spec"]
    else:
        assert result.pv["spec"]["claimRef"] == {"namespace": claim[0], "name": claim[1]}
        assert result.pvc is not None
        assert result.pvc["spec"]["volumeName"] == "data"


@pytest.mark.parametrize(
    ("tags", "path", "expected"),
    [
        ({"k8s-fstype": "xfs"}, ("csi", "fsType"), "xfs"),
        ({"k8s-fstype": "ext3"}, ("csi", "fsType"), "ext3"),
        ({"k8s-volume-mode": "Block"}, ("volumeMode",), "Block"),
        ({"k8s-access-mode": "ReadWriteOncePod"}, ("accessModes",), ["ReadWriteOncePod"]),
        ({"k8s-reclaim-policy": "Retain"}, ("persistentVolumeReclaimPolicy",), "Retain"),
        ({"k8s-storage-class": "gp3-static"}, ("storageClassName",), "gp3-static"),
        ({"k8s-cluster": "staging"}, (), None),
    ],
)
def test_optional_tags(tags: dict[str, str], path: tuple[str, ...], expected: Any) -> None:
    result = plan({"k8s-pv": "data", **tags})
    if not path:
        assert result.cluster == "staging"
        return
    value: Any = result.pv["spec"]
    for key in path:
        value = value[key]
    assert value == expected
    assert result.pvc is not None
    pvc_spec = result.pvc["spec"]
    assert pvc_spec["accessModes"] == result.pv["spec"]["accessModes"]
    assert pvc_spec["volumeMode"] == result.pv["spec"]["volumeMode"]
    assert pvc_spec["storageClassName"] == result.pv["spec"]["storageClassName"]


def test_block_mode_has_no_fs_type() -> None:
    result = plan({"k8s-pv": "raw", "k8s-volume-mode": "Block"})
    assert "fsType" not in result.pv["spec"]["csi"]


def test_read_write_many_on_multi_attach_io2_block() -> None:
    tags = {"k8s-pv": "shared", "k8s-volume-mode": "Block", "k8s-access-mode": "ReadWriteMany"}
    result = plan(tags, volume_type="io2", multi_attach=True)
    assert result.pv["spec"]["accessModes"] == ["ReadWriteMany"]


def test_settings_shape_the_objects() -> None:
    settings = Settings(csi_driver="ebs.csi.eks.amazonaws.com", zone_label="example.com/zone")
    result = plan({"k8s-pv": "data"}, settings)
    assert result.pv["spec"]["csi"]["driver"] == "ebs.csi.eks.amazonaws.com"
    term = result.pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["key"] == "example.com/zone"
    assert result.cluster is None
    assert "ebs-pv-registrar/cluster" not in result.pv["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("tags", "field", "rule"),
    [
        ({"k8s-pv": "Data"}, "k8s-pv", "DNS-1123 subdomain"),
        ({"k8s-pv": "data_1"}, "k8s-pv", "DNS-1123 subdomain"),
        ({"k8s-pv": "-data"}, "k8s-pv", "DNS-1123 subdomain"),
        ({"k8s-pv": "data\n"}, "k8s-pv", "DNS-1123 subdomain"),
        ({"k8s-pv": "a" * 254}, "k8s-pv", "at most 253"),
        ({"k8s-pv": "../etc"}, "k8s-pv", "DNS-1123 subdomain"),
        ({"k8s-pvc": "a/b/c"}, "k8s-pvc", "'namespace/name' or 'name'"),
        ({"k8s-pvc": "Shop/orders"}, "k8s-pvc", "namespace must be a DNS-1123 label"),
        ({"k8s-pvc": "sh.op/orders"}, "k8s-pvc", "namespace must be a DNS-1123 label"),
        ({"k8s-pvc": ("n" * 64) + "/orders"}, "k8s-pvc", "at most 63"),
        ({"k8s-pvc": "shop/Orders"}, "k8s-pvc", "name must be a DNS-1123 subdomain"),
        ({"k8s-pvc": "shop/"}, "k8s-pvc", "name must be a DNS-1123 subdomain"),
        ({"k8s-pvc": "/orders"}, "k8s-pvc", "namespace must be a DNS-1123 label"),
        ({"k8s-pvc": "kube-system/x"}, "k8s-pvc", "not allowed"),
        ({"k8s-pvc": "kube-public/x"}, "k8s-pvc", "not allowed"),
        ({"k8s-pvc": "kube-node-lease/x"}, "k8s-pvc", "not allowed"),
        ({"k8s-cluster": "dev"}, "k8s-cluster", "not allowed"),
        ({"k8s-cluster": "bad name"}, "k8s-cluster", "EKS cluster name"),
        ({"k8s-fstype": "btrfs"}, "k8s-fstype", "one of ext4, xfs, ext3"),
        ({"k8s-fstype": "xfs", "k8s-volume-mode": "Block"}, "k8s-fstype", "only with"),
        ({"k8s-volume-mode": "filesystem"}, "k8s-volume-mode", "one of Filesystem, Block"),
        ({"k8s-access-mode": "RWO"}, "k8s-access-mode", "supports ReadWriteOnce"),
        (
            {"k8s-access-mode": "ReadOnlyMany"},
            "k8s-access-mode",
            "the EBS CSI driver supports ReadWriteOnce, ReadWriteOncePod, ReadWriteMany",
        ),
        ({"k8s-reclaim-policy": "Delete"}, "k8s-reclaim-policy", "not allowed by this deployment"),
        ({"CSIVolumeName": "pvc-1234"}, "k8s-pv", "provisioned by the EBS CSI driver for PV"),
        (
            {"kubernetes.io/created-for/pvc/namespace": "team-a"},
            "k8s-pv",
            "provisioned by the EBS CSI driver",
        ),
        ({"k8s-access-mode": "ReadWriteMany"}, "k8s-access-mode", "multi-attach io1/io2"),
        (
            {"k8s-access-mode": "ReadWriteMany", "k8s-volume-mode": "Block"},
            "k8s-access-mode",
            "multi-attach io1/io2",
        ),
        ({"k8s-reclaim-policy": "Recycle"}, "k8s-reclaim-policy", "one of Retain, Delete"),
        ({"k8s-storage-class": "GP3"}, "k8s-storage-class", "DNS-1123 subdomain or empty"),
    ],
)
def test_invalid_tags(tags: dict[str, str], field: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        plan_volume(facts(tags={"k8s-pv": "data", **tags}), SETTINGS)
    assert caught.value.field == field
    assert rule in caught.value.rule
    assert "\n" not in str(caught.value)


def test_read_write_many_needs_multi_attach_even_on_io2() -> None:
    tags = {"k8s-pv": "x", "k8s-volume-mode": "Block", "k8s-access-mode": "ReadWriteMany"}
    with pytest.raises(InvalidInputError):
        plan_volume(facts(tags=tags, volume_type="io2", multi_attach=False), SETTINGS)
    with pytest.raises(InvalidInputError):
        plan_volume(facts(tags=tags, volume_type="gp3", multi_attach=True), SETTINGS)


@pytest.mark.parametrize(
    ("settings", "namespace", "allowed"),
    [
        (Settings(allowed_namespaces=("apps",)), "apps", True),
        (Settings(allowed_namespaces=("apps",)), "shop", False),
        (Settings(allowed_namespaces=("*",), denied_namespaces=("shop",)), "shop", False),
        (Settings(allowed_namespaces=("kube-system",)), "kube-system", False),
        (Settings(denied_namespaces=()), "kube-system", True),
    ],
)
def test_namespace_lists(settings: Settings, namespace: str, allowed: bool) -> None:
    tags = {"k8s-pv": "data", "k8s-pvc": f"{namespace}/claim"}
    if allowed:
        assert plan(tags, settings).claim == (namespace, "claim")
    else:
        with pytest.raises(InvalidInputError, match="not allowed"):
            plan_volume(facts(tags=tags), settings)


def test_volume_without_pv_tag_is_ignored() -> None:
    result = plan_volume(facts(tags={"Name": "x"}), SETTINGS)
    assert isinstance(result, Ignored)
    assert "no k8s-pv tag" in result.reason


@pytest.mark.parametrize("state", ["deleting", "deleted", "error"])
def test_gone_volume_is_ignored(state: str) -> None:
    assert isinstance(plan_volume(facts(state=state), SETTINGS), Ignored)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"size_gib": 0}, "volume size"), ({"availability_zone": ""}, "volume availability zone")],
)
def test_incomplete_facts_are_invalid(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        plan_volume(facts(**overrides), SETTINGS)
    assert caught.value.field == field


def test_status_lines() -> None:
    result = plan({"k8s-pv": "data", "k8s-pvc": "shop/orders"})
    assert registered_status(result) == "registered prod/data -> shop/orders"
    assert registered_status(plan({"k8s-pv": "data", "k8s-pvc": "none"})) == "registered prod/data"
    long = error_status("k8s-pv: " + "x" * 500 + "\nsecond line")
    assert len(long) == 256 and "\n" not in long and long.startswith("error: k8s-pv: ")
    assert status_text("a\x00b\tc") == "a b c"


def test_planner_is_deterministic() -> None:
    tags = {"k8s-pv": "data", "k8s-pvc": "shop/orders", "k8s-fstype": "xfs"}
    assert plan(tags) == plan(dict(reversed(list(tags.items()))))


def test_a_volume_registered_in_a_cluster_not_managed_here_is_refused() -> None:
    tags = {"k8s-pv": "data", "k8s-pv-status": "registered elsewhere/data -> default/data"}
    with pytest.raises(InvalidInputError) as caught:
        plan_volume(facts(tags=tags), SETTINGS)
    assert caught.value.field == "k8s-cluster"
    assert "already registered in cluster 'elsewhere'" in caught.value.rule
    # From a cluster this deployment manages it moves (core/decision.py: the handoff).
    managed = {"k8s-pv": "data", "k8s-pv-status": "registered staging/data -> default/data"}
    assert isinstance(plan_volume(facts(tags=managed), SETTINGS), Plan)
    same = {"k8s-pv": "data", "k8s-pv-status": "registered prod/data -> default/data"}
    assert isinstance(plan_volume(facts(tags=same), SETTINGS), Plan)
    failed = {"k8s-pv": "data", "k8s-pv-status": "error: k8s-pvc: bad"}
    assert isinstance(plan_volume(facts(tags=failed), SETTINGS), Plan)


def test_delete_reclaim_policy_when_the_deployment_allows_it() -> None:
    settings = Settings(default_cluster="prod", allowed_reclaim_policies=("Retain", "Delete"))
    result = plan({"k8s-pv": "data", "k8s-reclaim-policy": "Delete"}, settings)
    assert result.pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


def test_read_only_many_lists_the_supported_modes() -> None:
    with pytest.raises(InvalidInputError) as caught:
        plan_volume(facts(tags={"k8s-pv": "data", "k8s-access-mode": "ReadOnlyMany"}), SETTINGS)
    assert str(caught.value) == (
        "k8s-access-mode: the EBS CSI driver supports ReadWriteOnce, ReadWriteOncePod, "
        "ReadWriteMany (ReadWriteMany: Block on multi-attach io1/io2), got 'ReadOnlyMany'"
    )


def test_csi_provisioned_volume_names_its_pv_and_claim() -> None:
    tags = {
        "k8s-pv": "stolen",
        "CSIVolumeName": "pvc-0b7a",
        "kubernetes.io/created-for/pv/name": "pvc-0b7a",
        "kubernetes.io/created-for/pvc/name": "db",
        "kubernetes.io/created-for/pvc/namespace": "team-a",
    }
    with pytest.raises(InvalidInputError) as caught:
        plan_volume(facts(tags=tags), SETTINGS)
    assert str(caught.value) == (
        "k8s-pv: volume was provisioned by the EBS CSI driver for PV 'pvc-0b7a' "
        "(claim 'team-a/db'); it is not registered again"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("Retain",)),
        ("", ("Retain",)),
        ("Retain,Delete", ("Retain", "Delete")),
        (" Delete ", ("Delete",)),
    ],
)
def test_allowed_reclaim_policies_setting(value: str | None, expected: tuple[str, ...]) -> None:
    env = {} if value is None else {"REGISTRAR_ALLOWED_RECLAIM_POLICIES": value}
    assert Settings.from_env(env).allowed_reclaim_policies == expected


def test_allowed_reclaim_policies_setting_rejects_recycle() -> None:
    with pytest.raises(SettingsError, match="REGISTRAR_ALLOWED_RECLAIM_POLICIES"):
        Settings.from_env({"REGISTRAR_ALLOWED_RECLAIM_POLICIES": "Retain,Recycle"})
