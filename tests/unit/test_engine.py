"""The registration logic over in-memory ports: what is written where, for each row of the
README's error policy and the one-volume-one-PV rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from registrar.core.errors import (
    ForbiddenError,
    RegistrarError,
    RejectedError,
    TransientError,
    UnauthorizedError,
)
from registrar.core.events import parse_event
from registrar.core.models import VolumeFacts
from registrar.core.objects import ebs_volume_of, second_pv_rule
from registrar.core.settings import Settings
from registrar.core.status import status_is_current, status_tags
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.fakes import FakeClusters, FakeIdentities, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
AUTO_MODE = Settings(
    default_cluster="prod", allowed_clusters=("prod",), csi_driver="ebs.csi.eks.amazonaws.com"
)
VOL = "vol-0000000000000000a"


def world(
    tags: dict[str, str], settings: Settings = SETTINGS, namespaces: tuple[str, ...] = ("default",)
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=tags))
    kube = FakeKube(namespaces=namespaces)
    return Registrar(settings, volumes, FakeClusters(prod=kube)), volumes, kube


# --- status tags ---------------------------------------------------------------------------


def test_registered_volume_gets_the_csi_cluster_tags() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"})
    assert registrar.register(VOL).result == "registered"
    assert volumes.writes == [
        (VOL, {"k8s-pv-status": "registered prod/data -> default/data",
               "ebs.csi.aws.com/cluster": "true", "ebs.csi.aws.com/cluster-name": "prod"}),
    ]  # fmt: skip


def test_invalid_volume_never_gets_the_csi_cluster_tag() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data", "k8s-access-mode": "ReadOnlyMany"})
    assert registrar.register(VOL).result == "invalid"
    [(_, written)] = volumes.writes
    assert set(written) == {"k8s-pv-status"}
    assert written["k8s-pv-status"].startswith("error: k8s-access-mode: the EBS CSI driver")
    assert kube.requests == []


def test_auto_mode_also_writes_the_eks_cluster_name() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"}, AUTO_MODE)
    registrar.register(VOL)
    [(_, written)] = volumes.writes
    assert written["eks:eks-cluster-name"] == "prod"
    assert written["ebs.csi.aws.com/cluster"] == "true"


def test_a_duplicate_event_writes_nothing() -> None:
    registrar, volumes, _ = world({"k8s-pv": "data"}, AUTO_MODE)
    registrar.register(VOL)
    registrar.register(VOL)
    assert len(volumes.writes) == 1


def test_auto_mode_tag_missing_on_an_older_registration_is_written() -> None:
    current = "registered prod/data -> default/data"
    old = {"k8s-pv": "data", "k8s-pv-status": current, "ebs.csi.aws.com/cluster": "true"}
    registrar, volumes, _ = world(old, AUTO_MODE)
    registrar.register(VOL)
    assert [w["eks:eks-cluster-name"] for _, w in volumes.writes] == ["prod"]


@pytest.mark.parametrize(
    ("status", "driver", "expected"),
    [
        ("registered prod/a", "ebs.csi.aws.com",
         {"k8s-pv-status": "registered prod/a", "ebs.csi.aws.com/cluster": "true",
          "ebs.csi.aws.com/cluster-name": "prod"}),
        ("registered prod/a", "ebs.csi.eks.amazonaws.com",
         {"k8s-pv-status": "registered prod/a", "ebs.csi.aws.com/cluster": "true",
          "ebs.csi.aws.com/cluster-name": "prod", "eks:eks-cluster-name": "prod"}),
        ("error: k8s-pv: x", "ebs.csi.eks.amazonaws.com", {"k8s-pv-status": "error: k8s-pv: x"}),
        ("unmanaged prod/a: k8s-pv tag removed", "ebs.csi.aws.com",
         {"k8s-pv-status": "unmanaged prod/a: k8s-pv tag removed"}),
    ],
)  # fmt: skip
def test_status_tags(status: str, driver: str, expected: dict[str, Any]) -> None:
    assert status_tags(status, "prod", driver) == expected
    assert status_is_current(expected, expected)
    assert not status_is_current({**expected, "k8s-pv-status": "other"}, expected)


# --- one volume, one PV ----------------------------------------------------------------------


def hand_written_pv(name: str, volume_id: str = VOL, *, in_tree: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = (
        {"awsElasticBlockStore": {"volumeID": f"aws://us-east-1a/{volume_id}"}}
        if in_tree
        else {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id}}
    )
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "10Gi"}, **source}}  # fmt: skip


@pytest.mark.parametrize("in_tree", [False, True])
def test_a_volume_a_hand_written_pv_uses_is_refused_and_nothing_is_written(in_tree: bool) -> None:
    registrar, volumes, kube = world({"k8s-pv": "data"})
    kube.add(hand_written_pv("legacy-db", in_tree=in_tree))
    outcome = registrar.register(VOL)
    assert outcome.result == "conflict"
    assert volumes.tags(VOL)["k8s-pv-status"] == "error: k8s-pv: volume is used by PV legacy-db"
    assert "ebs.csi.aws.com/cluster" not in volumes.tags(VOL)
    assert [verb for verb, *_ in kube.requests] == ["list"]
    assert kube.names("PersistentVolume") == ["legacy-db"]
    assert kube.names("PersistentVolumeClaim") == []


def test_a_rename_never_makes_a_second_pv() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data"})
    registrar.register(VOL)
    volumes.retag(VOL, **{"k8s-pv": "renamed"})
    outcome = registrar.register(VOL)
    assert outcome.result == "drift"  # as a sweep says it: ours, under its old name
    assert volumes.tags(VOL)["k8s-pv-status"] == (
        "error: k8s-pv: already registered as PV data; untag it, or delete the old unbound PV"
    )
    assert kube.names("PersistentVolume") == ["data"]


def test_a_hand_written_pv_of_another_volume_is_no_obstacle() -> None:
    registrar, _, kube = world({"k8s-pv": "data"})
    kube.add(hand_written_pv("other", "vol-0000000000000000b"))
    assert registrar.register(VOL).result == "registered"


def test_the_same_registration_again_is_unchanged() -> None:
    registrar, _, _ = world({"k8s-pv": "data"})
    registrar.register(VOL)
    assert registrar.register(VOL).result == "unchanged"


def test_reconcile_reports_a_rename_as_drift_and_says_it_on_the_volume() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data"})
    registrar.register(VOL)
    volumes.retag(VOL, **{"k8s-pv": "renamed"})
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep("prod")
    assert [(r.action, r.pv, r.detail) for r in rows] == [
        ("drift", "data",
         "already registered as PV data; untag it, or delete the old unbound PV"),
    ]  # fmt: skip
    assert volumes.tags(VOL)["k8s-pv-status"].startswith("error: k8s-pv: already registered")
    assert kube.names("PersistentVolume") == ["data"]


def test_reconcile_refuses_a_volume_a_hand_written_pv_uses() -> None:
    _, volumes, kube = world({"k8s-pv": "data"})
    kube.add(hand_written_pv("legacy-db"))
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep("prod")
    assert [(r.action, r.pv) for r in rows] == [("conflict", "legacy-db")]
    assert volumes.tags(VOL)["k8s-pv-status"] == "error: k8s-pv: volume is used by PV legacy-db"
    assert kube.names("PersistentVolume") == ["legacy-db"]
    again = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep("prod")
    assert [r.action for r in again] == ["conflict"]
    assert len(volumes.writes) == 1  # the second sweep finds the status current


@pytest.mark.parametrize(
    ("holders", "expected"),
    [
        ([], None),
        ([("data", True)], None),
        ([("old", True)], "already registered as PV old; untag it, or delete the old unbound PV"),
        ([("data", True), ("hand", False)], "volume is used by PV hand"),
        ([("hand", False)], "volume is used by PV hand"),
    ],
)
def test_second_pv_rule(holders: list[tuple[str, bool]], expected: str | None) -> None:
    assert second_pv_rule("data", holders) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"csi": {"driver": "ebs.csi.eks.amazonaws.com", "volumeHandle": VOL}}, VOL),
        ({"awsElasticBlockStore": {"volumeID": VOL}}, VOL),
        ({"awsElasticBlockStore": {"volumeID": f"aws://us-east-1a/{VOL}"}}, VOL),
        ({"nfs": {"server": "x", "path": "/"}}, None),
    ],
)
def test_ebs_volume_of_any_pv(spec: dict[str, Any], expected: str | None) -> None:
    assert ebs_volume_of({"metadata": {"name": "p"}, "spec": spec}) == expected


# --- the error policy (README: Errors) --------------------------------------------------------


def test_a_missing_namespace_settles_the_volume_and_leaves_the_pv_pre_bound() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data", "k8s-pvc": "shop/data"})
    outcome = registrar.register(VOL)
    assert outcome.result == "refused"
    assert volumes.tags(VOL)["k8s-pv-status"] == 'error: k8s-pvc: namespace "shop" does not exist'
    assert "ebs.csi.aws.com/cluster" not in volumes.tags(VOL)
    pv = kube.get("PersistentVolume", "data")
    assert pv["spec"]["claimRef"] == {"namespace": "shop", "name": "data"}
    assert [o.line() for o in outcome.objects] == [
        "created pv/data", 'failed pvc/shop/data: namespace "shop" does not exist',
    ]


def test_reconcile_completes_the_registration_once_the_namespace_exists() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data", "k8s-pvc": "shop/data"})
    registrar.register(VOL)
    reconciler = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    assert [r.action for r in reconciler.sweep("prod")] == ["refused"]
    assert len(volumes.writes) == 1  # still missing: the status is already the news
    kube.namespaces.add("shop")
    assert [r.action for r in reconciler.sweep("prod")] == ["registered"]
    assert kube.names("PersistentVolumeClaim") == ["data"]
    assert volumes.tags(VOL)["k8s-pv-status"] == "registered prod/data -> shop/data"
    assert volumes.tags(VOL)["ebs.csi.aws.com/cluster"] == "true"


@pytest.mark.parametrize(
    ("verb", "kind", "error", "status"),
    [
        ("create", "PersistentVolumeClaim", ForbiddenError("RBAC refused verb 'create'"),
         'error: k8s-pvc: the registrar may not write it in namespace "default" (403: '
         "k8s/rbac.yaml, "
         "k8s/admission-policy.yaml): "
         "RBAC refused verb 'create'"),
        ("create", "PersistentVolume", RejectedError("persistentvolumes", "spec.csi: Invalid"),
         "error: k8s-pv: rejected by the API server: spec.csi: Invalid"),
        ("create", "PersistentVolume", UnauthorizedError("401"),
         "error: k8s-pv: the cluster refused the registrar's credentials (401, check its "
         "access entry)"),
        ("list", "PersistentVolume", ForbiddenError("RBAC refused verb 'list'"),
         "error: k8s-cluster: prod: RBAC refused verb 'list'"),
    ],
)  # fmt: skip
def test_what_no_retry_can_fix_settles_the_volume(
    verb: str, kind: str, error: RegistrarError, status: str
) -> None:
    registrar, volumes, kube = world({"k8s-pv": "data"})
    kube.fail_on(verb, kind, error)
    outcomes = registrar.handle(parse_event(ef.create_volume(VOL, {"k8s-pv": "data"})))
    assert [o.result for o in outcomes] == ["refused"]
    assert volumes.tags(VOL)["k8s-pv-status"] == status
    if kind == "PersistentVolume" and verb == "create":
        assert kube.names("PersistentVolumeClaim") == []  # the claim is never tried


def test_what_a_retry_can_fix_raises() -> None:
    registrar, volumes, kube = world({"k8s-pv": "data"})
    kube.fail_on("create", "PersistentVolumeClaim", TransientError("HTTP 503"))
    with pytest.raises(TransientError):
        registrar.handle(parse_event(ef.create_volume(VOL, {"k8s-pv": "data"})))
    assert volumes.writes == []
    kube.heal()
    assert registrar.register(VOL).result == "registered"


def test_one_failing_volume_never_stops_the_sweep() -> None:
    others = [facts(f"vol-000000000000000{i}", tags={"k8s-pv": f"ok-{i}"}) for i in range(1, 4)]
    bad = facts(VOL, tags={"k8s-pv": "data", "k8s-pvc": "shop/data"})
    volumes = FakeVolumes(bad, *others)
    kube = FakeKube()
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    outcome = registrar.reconcile("prod")
    assert outcome.detail == "prod: 1 refused, 3 registered"
    assert kube.names("PersistentVolumeClaim") == ["ok-1", "ok-2", "ok-3"]


def test_a_transient_failure_is_one_failed_row_and_the_sweep_goes_on() -> None:
    first = facts("vol-0000000000000001", tags={"k8s-pv": "first"})
    second = facts("vol-0000000000000002", tags={"k8s-pv": "second"})
    volumes = FakeVolumes(first, second)
    kube = FlakyKube(fail_for="first")
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep("prod")
    assert [(r.pv, r.action) for r in rows] == [("first", "failed"), ("second", "registered")]
    assert "vol-0000000000000001" not in {v for v, _ in volumes.writes}


class FlakyKube(FakeKube):
    """Answers 503 to the creation of one PV."""

    def __init__(self, fail_for: str) -> None:
        super().__init__()
        self._fail_for = fail_for

    def create(self, manifest: Any) -> Any:
        if manifest["metadata"]["name"] == self._fail_for:
            raise TransientError("HTTP 503")
        return super().create(manifest)


# --- the writer of every input tag (REGISTRAR_ALLOWED_PRINCIPALS) -------------------------------

ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer
EVE = "arn:aws:iam::111122223333:user/eve"
GUARDED = Settings(default_cluster="prod", allowed_clusters=("prod",), allowed_principals=(ADMIN,),
                   unverified_events="cloudtrail")  # fmt: skip


def guarded(tags: dict[str, str], identities: FakeIdentities | None,
            settings: Settings = GUARDED) -> tuple[Registrar, FakeVolumes, FakeKube]:  # fmt: skip
    volumes = FakeVolumes(facts(VOL, tags=tags))
    kube = FakeKube(namespaces=("default", "shop", "finance"))
    return Registrar(settings, volumes, FakeClusters(prod=kube), identities), volumes, kube


def by(arn: str, event: dict[str, Any]) -> dict[str, Any]:
    event["detail"]["userIdentity"] = {"type": "IAMUser", "arn": arn}
    return event


def test_a_claim_changed_by_someone_not_allowed_is_refused_on_a_tag_change() -> None:
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    identities = FakeIdentities(k8s_pv=ADMIN, k8s_pvc=EVE)
    registrar, volumes, kube = guarded(tags, identities)
    event = parse_event(ef.tag_change(VOL, tags, ["k8s-pvc"]))
    assert [o.result for o in registrar.handle(event)] == ["invalid"]
    assert volumes.tags(VOL)["k8s-pv-status"] == f"error: principal: '{EVE}' may not set k8s-pvc"
    assert kube.writes() == []
    assert identities.asked == [["k8s-pv", "k8s-pvc"]]


def test_an_allowed_callers_tagging_still_checks_who_set_the_other_keys() -> None:
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger", "k8s-fstype": "xfs"}
    identities = FakeIdentities(k8s_pv=ADMIN, k8s_pvc=EVE)
    registrar, volumes, kube = guarded(tags, identities)
    event = parse_event(ef.create_tags([VOL], {"k8s-fstype": "xfs"}))
    assert [o.result for o in registrar.handle(event)] == ["invalid"]
    assert "may not set k8s-pvc" in volumes.tags(VOL)["k8s-pv-status"]
    assert identities.asked == [["k8s-pv", "k8s-pvc"]]  # k8s-fstype: this event's caller
    assert kube.writes() == []


def test_a_key_no_record_names_a_writer_for_yet_is_pending_never_an_error() -> None:
    """"CloudTrail typically delivers logs within an average of about 5 minutes of an API call.
    This time is not guaranteed." (AWS CloudTrail User Guide, "Getting and viewing your
    CloudTrail log files"): no record is no verdict, and a sweep asks again."""
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    registrar, volumes, kube = guarded(tags, FakeIdentities(k8s_pv=ADMIN))
    event = parse_event(ef.tag_change(VOL, tags, ["k8s-pvc"]))
    assert [o.result for o in registrar.handle(event)] == ["pending"]
    assert volumes.tags(VOL)["k8s-pv-status"] == (
        "pending: no CloudTrail record yet of who set k8s-pvc; the next sweep checks again"
    )
    assert kube.writes() == []


def test_each_run_starts_a_new_cloudtrail_invocation() -> None:
    """A warm function must not answer from a walk made before CloudTrail delivered more."""
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    identities = FakeIdentities(k8s_pv=ADMIN, k8s_pvc=ADMIN)
    registrar, _, _ = guarded(tags, identities)
    event = parse_event(ef.tag_change(VOL, tags, ["k8s-pvc"]))
    registrar.handle(event)
    registrar.handle(event)
    assert identities.invocations == 2


def test_every_key_set_by_allowed_principals_registers() -> None:
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    registrar, _, kube = guarded(tags, FakeIdentities(k8s_pv=ADMIN, k8s_pvc=ADMIN))
    event = parse_event(ef.tag_change(VOL, tags, ["k8s-pvc"]))
    assert [o.result for o in registrar.handle(event)] == ["registered"]
    assert kube.names("PersistentVolumeClaim") == ["ledger"]


def test_the_callers_own_keys_are_checked_without_cloudtrail() -> None:
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    registrar, volumes, _ = guarded(tags, None, replace(GUARDED, unverified_events="refuse"))
    event = parse_event(by(EVE, ef.create_tags([VOL], {"k8s-pvc": "finance/ledger"})))
    assert [o.result for o in registrar.handle(event)] == ["invalid"]
    assert volumes.tags(VOL)["k8s-pv-status"] == f"error: principal: '{EVE}' may not set k8s-pvc"


def test_a_sweep_registers_a_new_volume_only_when_every_writer_is_allowed() -> None:
    tags = {"k8s-pv": "ledger", "k8s-pvc": "finance/ledger"}
    for writers, action in [({"k8s_pv": ADMIN, "k8s_pvc": EVE}, "invalid"),
                            ({"k8s_pv": ADMIN, "k8s_pvc": ADMIN}, "registered")]:  # fmt: skip
        _, volumes, kube = guarded(tags, FakeIdentities(**writers))
        rows = Registrar(GUARDED, volumes, FakeClusters(prod=kube),
                          FakeIdentities(**writers)).sweep("prod")  # fmt: skip
        assert [r.action for r in rows] == [action]


# --- a sweep inside the function's time ---------------------------------------------------------


def test_a_sweep_stops_repairing_before_the_timeout_and_leaves_the_rest() -> None:
    volumes = FakeVolumes(*[facts(f"vol-000000000000000{i}", tags={"k8s-pv": f"v-{i}"})
                            for i in range(1, 5)])  # fmt: skip
    kube = FakeKube()
    left = iter([60.0, 30.0, 9.0, 5.0])
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep(
        "prod", remaining=lambda: next(left)
    )
    assert [r.action for r in rows] == ["registered", "registered", "deferred", "deferred"]
    assert kube.names("PersistentVolume") == ["v-1", "v-2"]
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).sweep(
        "prod", remaining=lambda: 60.0
    )  # the next run drains the rest
    assert sorted(r.action for r in rows) == ["registered", "registered", "unchanged", "unchanged"]


def test_a_scheduled_reconcile_passes_the_remaining_time_on() -> None:
    volumes = FakeVolumes(facts(VOL, tags={"k8s-pv": "data"}))
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=FakeKube()))
    left = iter([60.0, 1.0])  # time to start the sweep, not to repair
    [outcome] = registrar.handle(parse_event(ef.scheduled()), remaining=lambda: next(left))
    assert outcome.detail == "prod: 1 deferred"


def test_a_sweep_repairs_each_page_as_it_comes() -> None:
    """Planned and repaired while the volumes stream: the first volume's PV exists before the
    second volume is read, and nothing of the fleet is held for a second pass."""
    volumes = FakeVolumes(*[facts(f"vol-000000000000000{i}", tags={"k8s-pv": f"v-{i}"})
                            for i in range(1, 4)])  # fmt: skip
    kube = FakeKube()
    seen: list[list[str]] = []
    listed = volumes.tagged_volumes

    def streamed() -> Iterator[VolumeFacts]:
        for volume in listed():
            seen.append(kube.names("PersistentVolume"))
            yield volume

    volumes.tagged_volumes = streamed  # type: ignore[method-assign]
    rows = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).rows("prod")
    assert [r.action for r in rows] == ["registered", "registered", "registered"]
    assert seen == [[], ["v-1"], ["v-1", "v-2"]]


def test_a_scheduled_reconcile_counts_rows_without_holding_them() -> None:
    volumes = FakeVolumes(*[facts(f"vol-000000000000000{i}", tags={"k8s-pv": f"v-{i}"})
                            for i in range(1, 4)])  # fmt: skip
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=FakeKube()))
    [outcome] = registrar.handle(parse_event(ef.scheduled()))
    assert outcome.detail == "prod: 3 registered"
