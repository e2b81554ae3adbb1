"""k8s/storageclass-gp3.yaml on the real kube-apiserver: registered claims in an expandable
class can grow, others cannot, and a static PV in a class binds only to a claim of that class.

Two checks of kube-apiserver refuse a resize, in this order (validation runs before validating
admission):
- core validation (Kubernetes pkg/apis/core/validation, ValidatePersistentVolumeClaimUpdate): a
  claim's spec is immutable except resources.requests (and volumeAttributesClassName), and those
  only once the claim is bound;
- the PersistentVolumeClaimResize admission plugin, on by default
  (plugin/pkg/admission/storage/persistentvolume/resize/admission.go): a larger request of a
  bound claim is Forbidden unless its (non-empty) class exists with allowVolumeExpansion: true.
Class matching is the PV binder's checkVolumeSatisfyClaim (pkg/controller/volume/persistentvolume).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.standins.controlplane import ControlPlane
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from tests.e2e.conftest import REPO, kubectl
from tests.support.helpers import facts

STORAGE_CLASS = REPO / "k8s" / "storageclass-gp3.yaml"
FIXED_CLASS = "gp3-fixed-size"
RESIZE_REFUSED = "only dynamically provisioned pvc can be resized"


@pytest.fixture(scope="module")
def classes(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    """k8s/storageclass-gp3.yaml as shipped, and a copy without allowVolumeExpansion."""
    result = kubectl(control_plane, "apply", "-f", str(STORAGE_CLASS))
    assert result.returncode == 0, result.stderr
    fixed = yaml.safe_load(STORAGE_CLASS.read_text())
    fixed["metadata"]["name"] = FIXED_CLASS
    fixed["allowVolumeExpansion"] = False
    apply(control_plane, tmp_path_factory.mktemp("classes"), fixed)
    return control_plane


def apply(plane: ControlPlane, directory: Path, *objects: dict[str, Any]) -> None:
    path = directory / f"objects-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
    result = kubectl(plane, "apply", "-f", str(path))
    assert result.returncode == 0, result.stderr


def phase(plane: ControlPlane, kind: str, name: str) -> str:
    result = kubectl(plane, "get", kind, name, "-n", "default", "-o", "jsonpath={.status.phase}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_bound(plane: ControlPlane, kind: str, name: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while (current := phase(plane, kind, name)) != "Bound" and time.monotonic() < deadline:
        time.sleep(0.2)
    return current


def registered(pv_name: str, volume_id: str, storage_class: str) -> Plan:
    """The registrar's own PV and claim for a volume tagged with this class."""
    tags = {"k8s-pv": pv_name, "k8s-pvc": f"default/{pv_name}"}
    if storage_class:
        tags["k8s-storage-class"] = storage_class
    plan = plan_volume(facts(volume_id=volume_id, tags=tags, size_gib=10), Settings())
    assert isinstance(plan, Plan)
    return plan


def grow(plane: ControlPlane, claim: str, size: str) -> tuple[int, str]:
    patch = json.dumps({"spec": {"resources": {"requests": {"storage": size}}}})
    result = kubectl(plane, "patch", "pvc", claim, "-n", "default", "-p", patch)
    return result.returncode, result.stderr


def test_shipped_storage_class_is_what_the_docs_say(classes: ControlPlane) -> None:
    result = kubectl(classes, "get", "storageclass", "gp3", "-o", "json")
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout)
    assert stored["provisioner"] == "ebs.csi.aws.com"
    assert stored["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert stored["volumeBindingMode"] == "WaitForFirstConsumer"
    assert stored["allowVolumeExpansion"] is True


@pytest.mark.parametrize(
    ("storage_class", "volume_id", "admitted"),
    [
        ("gp3", "vol-0ccccccccccccccc1", True),
        ("", "vol-0ccccccccccccccc2", False),
        (FIXED_CLASS, "vol-0ccccccccccccccc3", False),
    ],
    ids=["gp3-expandable", "no-class", "class-without-expansion"],
)
def test_resize_of_a_registered_claim(
    classes: ControlPlane, tmp_path: Path, storage_class: str, volume_id: str, admitted: bool
) -> None:
    name = f"resize-{storage_class or 'none'}"
    plan = registered(name, volume_id, storage_class)
    assert plan.pvc is not None
    apply(classes, tmp_path, plan.pv, plan.pvc)
    assert wait_bound(classes, "pvc", name) == "Bound"

    code, stderr = grow(classes, name, "20Gi")

    requested = kubectl(
        classes, "get", "pvc", name, "-n", "default",
        "-o", "jsonpath={.spec.resources.requests.storage}",
    ).stdout  # fmt: skip
    if admitted:
        assert code == 0, stderr
        assert requested == "20Gi"
    else:
        assert code != 0
        assert "Forbidden" in stderr
        assert RESIZE_REFUSED in stderr
        assert requested == "10Gi"


def test_a_claim_that_is_not_bound_cannot_grow_even_in_gp3(
    classes: ControlPlane, tmp_path: Path
) -> None:
    # A claim pre-bound to a PV that does not exist stays Pending.
    plan = registered("resize-pending", "vol-0aaaaaaaaaaaaaaa1", "gp3")
    assert plan.pvc is not None
    apply(classes, tmp_path, plan.pvc)
    assert phase(classes, "pvc", "resize-pending") != "Bound"
    code, stderr = grow(classes, "resize-pending", "20Gi")
    assert code != 0
    # Refused by validation before the admission plugin's own "Only bound ..." check runs.
    assert "spec is immutable after creation except resources.requests" in stderr
    assert "for bound claims" in stderr


def test_static_pv_in_a_class_binds_only_to_a_claim_of_that_class(
    classes: ControlPlane, tmp_path: Path
) -> None:
    """A PV registered without a claim (k8s-pvc=none) in gp3: the binder compares classes."""
    pv = registered("class-only-pv", "vol-0bbbbbbbbbbbbbbb2", "gp3").pv
    pv["spec"].pop("claimRef")
    apply(classes, tmp_path, pv)
    claim = registered("class-only-pv", "vol-0bbbbbbbbbbbbbbb2", "").pvc
    assert claim is not None
    wrong = {**claim, "metadata": {**claim["metadata"], "name": "claim-without-class"}}
    apply(classes, tmp_path, wrong)
    time.sleep(3)  # the binder has seen both (it reacts to events in milliseconds)
    assert phase(classes, "pvc", "claim-without-class") == "Pending"
    assert phase(classes, "pv", "class-only-pv") == "Available"
    events = kubectl(
        classes, "get", "events", "-n", "default",
        "--field-selector", "involvedObject.name=claim-without-class", "-o", "json",
    )  # fmt: skip
    messages = [e["message"] for e in json.loads(events.stdout)["items"]]
    assert any("storageClassName does not match" in m for m in messages), messages

    right = {
        **claim,
        "metadata": {**claim["metadata"], "name": "claim-in-gp3"},
        "spec": {**claim["spec"], "storageClassName": "gp3"},
    }
    apply(classes, tmp_path, right)
    assert wait_bound(classes, "pvc", "claim-in-gp3") == "Bound"
    assert phase(classes, "pvc", "claim-without-class") == "Pending"
