"""The registration service, branch by branch, on in-memory fakes of its ports."""

from __future__ import annotations

import copy

import pytest

from registrar.core import tags as t
from registrar.core.errors import ClusterUnreachableError, NotFoundError, TransientError
from registrar.core.events import (
    Ignored,
    ScheduledReconcile,
    TagSnapshot,
    TagsRemoved,
    TagsSet,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
)
from registrar.core.models import VolumeFacts
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from tests.support.fakes import EVENT, FakeClusters, FakeIdentities, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOL, OTHER = "vol-0000000000000000a", "vol-0000000000000000b"
ADMIN = "arn:aws:iam::111122223333:role/Admin"
STRANGER = "arn:aws:iam::111122223333:user/stranger"
STATUS_ONLY = frozenset({t.STATUS_TAG})


def wired(
    *volumes: VolumeFacts,
    settings: Settings = SETTINGS,
    kube: FakeKube | None = None,
    identities: FakeIdentities | None = None,
) -> tuple[Registrar, FakeVolumes, FakeKube]:
    fake_volumes, fake_kube = FakeVolumes(*volumes), kube or FakeKube()
    service = Registrar(settings, fake_volumes, FakeClusters(prod=fake_kube), identities)
    return service, fake_volumes, fake_kube


def created(volume: VolumeFacts, principals: tuple[str, ...] = (ADMIN,)) -> VolumeCreated:
    return VolumeCreated("us-east-1", volume.volume_id, volume.tags, volume, principals)


def test_complete_create_volume_record_registers_without_reading_aws() -> None:
    volume = facts(VOL)
    service, volumes, kube = wired(volume)
    [outcome] = service.handle(created(volume))
    assert outcome.result == "registered"
    assert outcome.detail == "registered prod/data -> default/data"
    assert kube.names("PersistentVolume") == ["data"]
    assert kube.names("PersistentVolumeClaim") == ["data"]
    assert [reason for reason, _ in kube.events] == ["Registered"]  # one, on the claim
    assert volumes.describes == 0
    assert volumes.statuses == [(VOL, "registered prod/data -> default/data")]


def test_a_duplicate_event_is_unchanged_and_writes_nothing() -> None:
    volume = facts(VOL)
    service, volumes, kube = wired(volume)
    service.handle(created(volume))
    before, statuses = dict(kube.objects), len(volumes.statuses)
    [again] = service.handle(TagsSet("us-east-1", (VOL,), {"k8s-pv": "data"}, (ADMIN,)))
    assert again.result == "unchanged"
    assert kube.objects == before and len(volumes.statuses) == statuses
    assert not [r for r in kube.requests if r[0] in ("patch", "delete")]


@pytest.mark.parametrize(
    "event",
    [
        VolumeCreated("us-east-1", VOL, {}, None),
        TagsSet("us-east-1", (VOL,), {"Name": "x"}),
        TagsRemoved("us-east-1", (VOL,), frozenset({"Name"})),
        TagSnapshot("us-east-1", VOL, {"Name": "x"}),
        TagSnapshot("us-east-1", VOL, {t.PV_TAG: "d", t.STATUS_TAG: "x"}, STATUS_ONLY),
        Ignored("not a volume"),
    ],
)
def test_events_without_intent_are_ignored_without_a_call(event: object) -> None:
    service, volumes, kube = wired(facts(VOL))
    outcomes = service.handle(event)  # type: ignore[arg-type]
    assert [o.result for o in outcomes] == ["ignored"]
    assert (volumes.describes, kube.requests, volumes.statuses) == (0, [], [])


def test_tags_set_on_several_volumes_registers_each_and_skips_a_gone_one() -> None:
    a, b = facts(VOL, tags={"k8s-pv": "a"}), facts(OTHER, tags={"k8s-pv": "b"})
    service, _, kube = wired(a, b)
    event = TagsSet("us-east-1", (VOL, OTHER, "vol-0000000000000000c"), {"k8s-pv": ""}, (ADMIN,))
    results = [o.result for o in service.handle(event)]
    assert results == ["registered", "registered", "ignored"]
    assert kube.names("PersistentVolume") == ["a", "b"]


def test_an_ebs_notification_reads_the_volume() -> None:
    service, volumes, _ = wired(facts(VOL))
    [outcome] = service.handle(VolumeAvailable("us-east-1", VOL))
    assert outcome.result == "registered" and volumes.describes == 1


def test_an_invalid_tag_is_reported_on_the_volume_and_touches_no_cluster() -> None:
    volume = facts(VOL, tags={"k8s-pv": "data", "k8s-fstype": "ntfs"})
    service, volumes, kube = wired(volume)
    [outcome] = service.handle(created(volume))
    assert outcome.result == "invalid"
    assert volumes.status_of(VOL).startswith("error: k8s-fstype: must be one of ext4")
    assert kube.requests == []


def test_no_cluster_anywhere_is_invalid_input() -> None:
    volume = facts(VOL)
    service, volumes, _ = wired(volume, settings=Settings())
    [outcome] = service.handle(created(volume))
    assert outcome.result == "invalid"
    assert volumes.status_of(VOL) == "error: k8s-cluster: no tag and no default cluster"


def test_a_foreign_pv_of_the_same_name_is_a_conflict_never_overwritten() -> None:
    foreign = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "data"},
               "spec": {"csi": {"volumeHandle": "vol-other"}}}  # fmt: skip
    volume = facts(VOL)
    service, volumes, kube = wired(volume, kube=FakeKube([foreign]))
    stored = copy.deepcopy(kube.objects)
    [outcome] = service.handle(created(volume))
    assert outcome.result == "conflict"
    assert [o.action for o in outcome.objects] == ["conflict", "skipped"]
    assert kube.objects == stored
    assert kube.names("PersistentVolumeClaim") == []
    assert volumes.status_of(VOL).startswith("error: conflict: pv/data exists and is not managed")
    assert [reason for reason, _ in kube.events] == ["RegistrationConflict"]


def test_one_provenance_event_per_registration_on_the_claim_else_on_the_pv() -> None:
    volume = facts(VOL)
    service, _, kube = wired(volume)
    service.handle(created(volume))
    assert kube.event_kinds == ["PersistentVolumeClaim"]
    kube = FakeKube()
    kube.fail_on("create", "PersistentVolumeClaim", NotFoundError('namespace "default"'))
    service, _, _ = wired(volume, kube=kube)
    [outcome] = service.handle(created(volume))
    assert [o.action for o in outcome.objects] == ["created", "failed"]
    assert kube.event_kinds == ["PersistentVolume"]  # the PV left pre-bound keeps its provenance


def test_a_refused_provenance_event_does_not_undo_a_registration() -> None:
    volume = facts(VOL)
    kube = FakeKube()
    kube.fail_on("create", EVENT, TransientError("events are down"))
    service, _, _ = wired(volume, kube=kube)
    [outcome] = service.handle(created(volume))
    assert outcome.result == "registered"


def test_a_transient_failure_is_raised_after_every_other_volume_was_tried() -> None:
    a, b = facts(VOL, tags={"k8s-pv": "a"}), facts(OTHER, tags={"k8s-pv": "b"})
    kube = FakeKube()
    kube.fail_on("create", "PersistentVolume", TransientError("503"), times=1)
    service, _, _ = wired(a, b, kube=kube)
    with pytest.raises(TransientError):
        service.handle(TagsSet("us-east-1", (VOL, OTHER), {"k8s-pv": ""}, (ADMIN,)))
    assert kube.names("PersistentVolume") == ["b"]


ALLOW = Settings(default_cluster="prod", allowed_clusters=("prod",), allowed_principals=(ADMIN,))


def test_a_caller_off_the_allow_list_registers_nothing() -> None:
    volume = facts(VOL)
    service, volumes, kube = wired(volume, settings=ALLOW)
    [outcome] = service.handle(created(volume, (STRANGER,)))
    assert outcome.result == "invalid"
    assert volumes.status_of(VOL).startswith("error: principal: 'arn:aws:iam::111122223333:user/")
    assert kube.writes() == []


def test_an_event_naming_no_caller_is_refused_or_checked_against_cloudtrail() -> None:
    service, _, kube = wired(facts(VOL), settings=ALLOW)
    [refused] = service.handle(VolumeAvailable("us-east-1", VOL))
    assert refused.result == "ignored" and kube.writes() == []
    identities = FakeIdentities(k8s_pv=ADMIN)
    service, _, kube = wired(facts(VOL), settings=ALLOW, identities=identities)
    [checked] = service.handle(VolumeAvailable("us-east-1", VOL))
    assert checked.result == "registered" and identities.asked == [["k8s-pv"]]


def test_untagging_by_a_stranger_releases_nothing() -> None:
    service, _, _ = wired(facts(VOL), settings=ALLOW)
    service.handle(created(facts(VOL)))
    [outcome] = service.handle(TagsRemoved("us-east-1", (VOL,), frozenset({"k8s-pv"}), (STRANGER,)))
    assert outcome.result == "ignored" and "may not unregister" in outcome.detail


def test_untagging_marks_our_objects_unmanaged_and_says_so_on_the_volume() -> None:
    volume = facts(VOL)
    service, volumes, kube = wired(volume)
    service.handle(created(volume))
    volumes.volumes[VOL] = facts(VOL, tags={})
    [outcome] = service.handle(TagsRemoved("us-east-1", (VOL,), frozenset({"k8s-pv"}), (ADMIN,)))
    assert outcome.result == "released"
    assert [o.action for o in outcome.objects] == ["unmanaged", "unmanaged"]
    pv = kube.objects[("PersistentVolume", None, "data")]
    assert pv["metadata"]["annotations"][t.UNMANAGED_ANNOTATION] == "k8s-pv tag removed"
    assert volumes.statuses[-1] == (VOL, "unmanaged prod/data: k8s-pv tag removed")


def test_an_untag_delivered_after_a_retag_releases_nothing_and_retagging_manages_again() -> None:
    volume = facts(VOL)
    service, volumes, kube = wired(volume)
    service.handle(created(volume))
    volumes.volumes[VOL] = facts(VOL, tags={})
    service.handle(TagsRemoved("us-east-1", (VOL,), frozenset({"k8s-pv"}), (ADMIN,)))
    volumes.volumes[VOL] = volume  # tagged again; the old untag event arrives late
    [late] = service.handle(TagSnapshot("us-east-1", VOL, {}, frozenset({"k8s-pv"})))
    assert late.result == "registered"
    assert [o.action for o in late.objects] == ["updated", "updated"]
    pv = kube.objects[("PersistentVolume", None, "data")]
    assert t.UNMANAGED_ANNOTATION not in pv["metadata"]["annotations"]


@pytest.mark.parametrize(("delete", "actions"), [(True, ["deleted", "deleted"]),
                                                 (False, ["unmanaged", "unmanaged"])])  # fmt: skip
def test_a_deleted_volume_deletes_claim_then_pv_or_keeps_them(
    delete: bool, actions: list[str]
) -> None:
    settings = Settings(default_cluster="prod", delete_on_volume_delete=delete)
    volume = facts(VOL)
    service, _, kube = wired(volume, settings=settings)
    service.handle(created(volume))
    [outcome] = service.handle(VolumeDeleted("us-east-1", VOL))
    assert [o.action for o in outcome.objects] == actions
    assert [o.kind for o in outcome.objects] == ["PersistentVolumeClaim", "PersistentVolume"]
    assert bool(kube.names("PersistentVolume")) is not delete


def test_a_deleted_volume_without_objects_of_ours_is_ignored() -> None:
    service, _, kube = wired()
    [outcome] = service.handle(VolumeDeleted("us-east-1", VOL))
    assert outcome.result == "ignored" and kube.writes() == []


def test_a_scheduled_event_reconciles_every_managed_cluster() -> None:
    service, volumes, kube = wired(facts(VOL))
    [outcome] = service.handle(ScheduledReconcile("us-east-1"))
    assert (outcome.result, outcome.detail) == ("reconciled", "prod: 1 registered")
    assert kube.names("PersistentVolume") == ["data"]
    assert volumes.status_of(VOL) == "registered prod/data -> default/data"


def test_register_from_the_command_line_takes_the_cluster_given() -> None:
    settings = Settings(allowed_clusters=("prod", "dev"))
    kube, dev = FakeKube(), FakeKube()
    service = Registrar(settings, FakeVolumes(facts(VOL)), FakeClusters(prod=kube, dev=dev))
    outcome = service.register(VOL, "prod")
    assert outcome.result == "registered" and kube.names("PersistentVolume") == ["data"]
    assert dev.names("PersistentVolume") == []  # looked at (a handoff's source?), not written


def test_an_unreachable_private_endpoint_settles_the_volume_with_the_fix() -> None:
    reason = "cluster: prod has a private endpoint; deploy the registrar with vpcId and …"
    kube = FakeKube()
    kube.fail_on("list", "PersistentVolume", ClusterUnreachableError(reason))
    volume = facts(VOL)
    service, volumes, _ = wired(volume, kube=kube)
    [outcome] = service.handle(created(volume))  # returns: no retry can fix a deployment
    assert outcome.result == "refused"
    assert volumes.status_of(VOL) == f"error: {reason}"
    assert t.CSI_CLUSTER_TAG not in volumes.tags(VOL)
