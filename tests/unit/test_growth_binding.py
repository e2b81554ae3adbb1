"""core/growth.py and core/binding.py: a grown volume's PV and claim, a Released PV made
bindable again. Pure functions over manifests as the API server returns them."""

from __future__ import annotations

from typing import Any

import pytest

from registrar.core.attachments import held_elsewhere, node_instance, node_instances, waiting_status
from registrar.core.binding import REBIND_PATCH, is_bound, stale_claim
from registrar.core.growth import expandable, growth, quantity_bytes
from registrar.core.models import VolumeFacts

GIB = 1024**3


def volume(size: int) -> VolumeFacts:
    return VolumeFacts("vol-0123456789abcdef0", size, "us-east-1a")


def pv(storage: str = "5Gi", uid: str | None = "uid-1") -> dict[str, Any]:
    ref: dict[str, Any] = {"namespace": "shop", "name": "data"}
    if uid:
        ref |= {"uid": uid, "resourceVersion": "42"}
    return {"kind": "PersistentVolume", "metadata": {"name": "data-pv"},
            "spec": {"capacity": {"storage": storage}, "claimRef": ref}}  # fmt: skip


def claim(request: str = "5Gi", uid: str = "uid-1", storage_class: str = "") -> dict[str, Any]:
    return {"kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "shop", "uid": uid},
            "spec": {"volumeName": "data-pv", "storageClassName": storage_class,
                     "resources": {"requests": {"storage": request}}}}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "size"),
    [("5Gi", 5 * GIB), ("1Ti", 1024 * GIB), ("5368709120", 5 * GIB), ("5G", 5 * 10**9),
     ("1.5Gi", 3 * GIB // 2), ("", None), ("5 Gi", None), ("-1Gi", None), (None, None)],
)  # fmt: skip
def test_quantities(text: object, size: int | None) -> None:
    assert quantity_bytes(text) == size


def test_in_sync_is_nothing() -> None:
    assert growth(volume(5), pv("5Gi"), claim(), expandable=True) is None
    assert growth(volume(5), pv("5368709120"), claim(), expandable=True) is None


def test_grown_volume_in_a_class_without_expansion_grows_the_pv_only() -> None:
    grown = growth(volume(8), pv("5Gi"), claim(), expandable=False)

    assert grown is not None and grown.error is None
    assert grown.pv_patch == {"spec": {"capacity": {"storage": "8Gi"}}}
    assert grown.claim_patch is None
    assert grown.note == 'grown 5Gi -> 8Gi; claim request kept (class "" does not allow expansion)'


def test_grown_volume_in_an_expandable_class_grows_the_claims_request_too() -> None:
    grown = growth(volume(8), pv("5Gi"), claim(storage_class="gp3"), expandable=True)

    assert grown is not None
    assert grown.pv_patch == {"spec": {"capacity": {"storage": "8Gi"}}}
    assert grown.claim_patch == {"spec": {"resources": {"requests": {"storage": "8Gi"}}}}
    assert grown.note == "grown 5Gi -> 8Gi; claim request 8Gi"


def test_a_claim_already_asking_enough_is_left() -> None:
    grown = growth(volume(8), pv("5Gi"), claim("8Gi"), expandable=True)

    assert grown is not None and grown.claim_patch is None and grown.pv_patch is not None


def test_a_volume_smaller_than_its_pv_is_reported_never_written() -> None:
    shrunk = growth(volume(4), pv("5Gi"), claim(), expandable=True)

    assert shrunk is not None and not shrunk.writes
    assert shrunk.error == (
        "volume is 4Gi, its PV says 5Gi: an EBS volume never shrinks; PV left as it is"
    )


def test_an_unreadable_capacity_is_left_alone() -> None:
    assert growth(volume(8), pv("lots"), claim(), expandable=True) is None


def test_expandable_class() -> None:
    assert expandable({"allowVolumeExpansion": True})
    assert not expandable({"allowVolumeExpansion": False})
    assert not expandable({})
    assert not expandable(None)


def test_bound_and_stale_claims() -> None:
    assert is_bound(pv(uid="uid-1"), claim(uid="uid-1"))
    assert not stale_claim(pv(uid="uid-1"), claim(uid="uid-1"))
    # Deleted: the PV keeps the old uid and is Released.
    assert stale_claim(pv(uid="uid-1"), None)
    # Deleted and created again under the same name: a new uid, never bound to that PV.
    assert stale_claim(pv(uid="uid-1"), claim(uid="uid-2"))
    assert not is_bound(pv(uid="uid-1"), claim(uid="uid-2"))
    # Pre-bound (no uid yet): the binder will bind it.
    assert not stale_claim(pv(uid=None), None)
    assert not is_bound(pv(uid=None), claim())


def test_rebind_patch_removes_only_the_uid_and_resource_version() -> None:
    assert REBIND_PATCH == {"spec": {"claimRef": {"uid": None, "resourceVersion": None}}}


# --- core/attachments.py ---------------------------------------------------------------------


def node(provider_id: str | None) -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": "n"}, "spec": {"providerID": provider_id}}


@pytest.mark.parametrize(
    ("provider_id", "instance"),
    [("aws:///us-east-1a/i-0123456789abcdef0", "i-0123456789abcdef0"),
     ("aws:////i-0123abcd", "i-0123abcd"), ("i-0123abcd", "i-0123abcd"),
     ("aws:///us-east-1a/fargate-ip-10-0-0-1", None), ("kind://docker/x", None), (None, None)],
)  # fmt: skip
def test_node_instance_from_its_provider_id(provider_id: str | None, instance: str | None) -> None:
    assert node_instance(node(provider_id)) == instance


def test_held_elsewhere_is_an_attachment_to_no_node_of_the_cluster() -> None:
    nodes = node_instances([node("aws:///us-east-1a/i-0aaa"), node(None)])
    attached = VolumeFacts("vol-1", 5, "us-east-1a", attached_to=("i-0aaa", "i-0bbb"))

    assert nodes == frozenset({"i-0aaa"})
    assert held_elsewhere(attached, nodes) == ("i-0bbb",)
    assert held_elsewhere(volume(5), nodes) == ()
    assert waiting_status(("i-0bbb",), "blue") == (
        "waiting: attached to i-0bbb, not a node of blue; registers once detached"
    )
