"""One pipeline: the same state gives the same result, status, metric and objects whichever entry
point saw it (an event through the handler, or a sweep), and the executor's batch rules
(issue 19.1, 20.2, 20.3) and evidence rules (issue 21.2)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import pytest

from registrar import handler
from registrar.core import tags as t
from registrar.core.contract import OUTCOME_METRICS
from registrar.core.errors import DeferredError, InvalidInputError
from registrar.core.events import parse_event
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from registrar.core.work import WorkItem, work_items
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.fakes import FakeClusters, FakeIdentities, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOL, OTHER = "vol-0000000000000000a", "vol-0000000000000000b"
ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"  # the samples' session issuer
TRAIL = replace(SETTINGS, allowed_principals=(ADMIN,), unverified_events="cloudtrail")
REGISTERED = {t.STATUS_TAG: "registered prod/data -> default/data", t.CSI_CLUSTER_TAG: "true",
              t.CSI_CLUSTER_NAME_TAG: "prod"}


def objects_of(tags: dict[str, str], size: int = 10) -> list[Manifest]:
    plan = plan_volume(facts(VOL, tags=tags, size_gib=size), SETTINGS)
    assert isinstance(plan, Plan)
    return [copy.deepcopy(o) for o in plan.items]


def hand_written(name: str, volume_id: str = VOL) -> Manifest:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id}}}  # fmt: skip


@dataclass(frozen=True)
class State:
    """A volume and what the cluster holds for it."""

    tags: dict[str, str]
    objects: list[Manifest]
    size: int = 10
    settings: Settings = SETTINGS
    writers: dict[str, str] = field(default_factory=dict)  # CloudTrail's record


@dataclass(frozen=True)
class Expected:
    result: str
    status: str | None  # the volume's status tag after; None: no status tag
    pvs: list[str]
    claims: list[str]


CASES: dict[str, tuple[State, Expected]] = {
    "new": (State({"k8s-pv": "data"}, []),
            Expected("registered", REGISTERED[t.STATUS_TAG], ["data"], ["data"])),
    "in sync": (State({"k8s-pv": "data", **REGISTERED}, objects_of({"k8s-pv": "data"})),
                Expected("unchanged", REGISTERED[t.STATUS_TAG], ["data"], ["data"])),
    # Issue 22: the PV of a grown volume follows it, and the status says so; a volume smaller
    # than its PV is a size it cannot have: reported, never written.
    "grown 10 -> 20 GiB": (
        State({"k8s-pv": "data", **REGISTERED}, objects_of({"k8s-pv": "data"}), size=20),
        Expected("registered", REGISTERED[t.STATUS_TAG] + " (grown 10Gi -> 20Gi)",
                 ["data"], ["data"])),
    "shrunk 10 -> 5 GiB": (
        State({"k8s-pv": "data", **REGISTERED}, objects_of({"k8s-pv": "data"}), size=5),
        Expected("drift", "error: size: volume is 5Gi, its PV says 10Gi: an EBS volume never "
                 "shrinks; PV left as it is", ["data"], ["data"])),
    "claim tag changed": (
        State({"k8s-pv": "data", "k8s-pvc": "other", **REGISTERED}, objects_of({"k8s-pv": "data"})),
        Expected("drift", REGISTERED[t.STATUS_TAG], ["data"], ["data"])),
    "renamed": (
        State({"k8s-pv": "renamed", **REGISTERED}, objects_of({"k8s-pv": "data"})),
        Expected("drift", "error: k8s-pv: already registered as PV data; untag it, or delete "
                 "the old unbound PV", ["data"], ["data"])),
    "hand-written PV uses it": (
        State({"k8s-pv": "data"}, [hand_written("legacy")]),
        Expected("conflict", "error: k8s-pv: volume is used by PV legacy", ["legacy"], [])),
    "name taken by a PV not ours": (
        State({"k8s-pv": "data"}, [hand_written("data", OTHER)]),
        Expected("conflict", "error: conflict: pv/data exists and is not managed by "
                 "ebs-pv-registrar", ["data"], [])),
    "invalid tag": (
        State({"k8s-pv": "data", "k8s-fstype": "ntfs"}, []),
        Expected("invalid", "error: k8s-fstype: must be one of ext4, xfs, ext3, got 'ntfs'",
                 [], [])),
    "namespace missing": (
        State({"k8s-pv": "data", "k8s-pvc": "shop/data"}, []),
        Expected("refused", 'error: k8s-pvc: namespace "shop" does not exist', ["data"], [])),
    "writer not in CloudTrail yet": (
        State({"k8s-pv": "data"}, [], settings=TRAIL),
        Expected("pending", "pending: no CloudTrail record yet of who set k8s-pv; the next "
                 "sweep checks again", [], [])),
    "writer not allowed": (
        State({"k8s-pv": "data"}, [], settings=TRAIL, writers={"k8s_pv": "arn:aws:iam::1:user/x"}),
        Expected("invalid", "error: principal: 'arn:aws:iam::1:user/x' may not register", [], [])),
}  # fmt: skip


def world(state: State) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags=dict(state.tags), size_gib=state.size))
    kube = FakeKube(state.objects)
    identities = FakeIdentities(**state.writers)
    return Registrar(state.settings, volumes, FakeClusters(prod=kube), identities), volumes, kube


def by_event(registrar: Registrar, metrics: list[str]) -> str:
    """The Lambda's path: the EBS notification (it names no caller, as a sweep) through
    handler.respond, which counts the metric."""
    [answer] = handler.respond(ef.ebs_notification(VOL), registrar)["outcomes"]
    assert metrics == [OUTCOME_METRICS[answer["result"]]]
    return str(answer["result"])


def by_tagging(registrar: Registrar, metrics: list[str]) -> str:
    """A CloudTrail CreateTags naming its caller and the k8s-pv it set, through the handler."""
    event = ef.create_tags([VOL], {"k8s-pv": "data"})
    [answer] = handler.respond(event, registrar)["outcomes"]
    assert metrics == [OUTCOME_METRICS[answer["result"]]]
    return str(answer["result"])


def by_sweep(registrar: Registrar, metrics: list[str]) -> str:
    [row] = registrar.sweep("prod")
    return str(row.action)


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    counted: list[str] = []
    monkeypatch.setattr(handler.metrics, "add_metric", lambda **kw: counted.append(kw["name"]))
    return counted


# The tagging names its caller: with an allow-list that is evidence the other paths lack.
PATHS = [
    pytest.param(case, path, id=f"{case}-{path.__name__}")
    for case, (state, _) in CASES.items()
    for path in (by_event, by_tagging, by_sweep)
    if not (path is by_tagging and state.settings.allowed_principals)
]


@pytest.mark.parametrize(("case", "path"), PATHS)
def test_the_same_state_ends_the_same_whichever_path_saw_it(
    case: str, path: Callable[[Registrar, list[str]], str], metrics: list[str]
) -> None:
    state, expected = CASES[case]
    registrar, volumes, kube = world(state)
    before = copy.deepcopy(kube.objects)
    assert path(registrar, metrics) == expected.result
    assert OUTCOME_METRICS[expected.result]  # the metric the handler counts for it
    assert volumes.tags(VOL).get(t.STATUS_TAG) == expected.status
    assert kube.names("PersistentVolume") == expected.pvs
    assert kube.names("PersistentVolumeClaim") == expected.claims
    if expected.result in ("drift", "conflict", "unchanged"):
        assert kube.objects == before  # never overwritten
    if t.CSI_CLUSTER_TAG not in state.tags and expected.result != "registered":
        assert t.CSI_CLUSTER_TAG not in volumes.tags(VOL)


# --- one batch, one LIST (issue 20.2) -----------------------------------------------------------


def test_a_batch_lists_pvs_once_and_sees_what_it_created() -> None:
    first = facts(VOL, tags={"k8s-pv": "data"})
    same_name = facts(OTHER, tags={"k8s-pv": "data"})
    volumes, kube = FakeVolumes(first, same_name), FakeKube()
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    items = [WorkItem(VOL, "tagged", "cloudtrail", (ADMIN,), {"k8s-pv": "data"}),
             WorkItem(VOL, "tagged", "cloudtrail", (ADMIN,), {"k8s-pv": "data"}),
             WorkItem(OTHER, "tagged", "cloudtrail", (ADMIN,), {"k8s-pv": "data"})]  # fmt: skip
    results = registrar.run(items)
    assert [r.outcome.result for r in results if r.outcome] == ["registered", "unchanged",
                                                                "conflict"]  # fmt: skip
    assert [r for r in kube.requests if r[0] == "list"] == [("list", "PersistentVolume", None)]
    assert kube.get("PersistentVolume", "data")["spec"]["csi"]["volumeHandle"] == VOL
    assert volumes.status_of(OTHER) == f"error: conflict: pv/data already holds volume {VOL}"


def test_a_second_volume_a_batch_gave_a_pv_is_refused_its_own() -> None:
    """One volume, one PV within a batch: a rename between two items makes no second PV."""
    kube = FakeKube()
    first = WorkItem(VOL, "tagged", "cloudtrail", (ADMIN,), {"k8s-pv": "data"})
    renamed = WorkItem(VOL, "tagged", "cloudtrail", (ADMIN,), {"k8s-pv": "renamed"})

    class Renaming(FakeVolumes):
        calls = 0

        def describe_volume(self, volume_id: str) -> VolumeFacts:
            self.calls += 1
            found = super().describe_volume(volume_id)
            return found if self.calls == 1 else replace(found, tags={"k8s-pv": "renamed"})

    renaming = Renaming(facts(VOL, tags={"k8s-pv": "data"}))
    registrar = Registrar(SETTINGS, renaming, FakeClusters(prod=kube))
    results = registrar.run([first, renamed])
    assert [r.outcome.result for r in results if r.outcome] == ["registered", "drift"]
    assert kube.names("PersistentVolume") == ["data"]
    assert len([r for r in kube.requests if r[0] == "list"]) == 1


def test_one_event_naming_many_volumes_lists_once() -> None:
    ids = [f"vol-00000000000000{i:02d}" for i in range(20)]
    volumes = FakeVolumes(*[facts(v, tags={"k8s-pv": f"v{i}"}) for i, v in enumerate(ids)])
    kube = FakeKube()
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    outcomes = registrar.handle(parse_event(ef.create_tags(ids, {"k8s-pv": ""})))
    assert {o.result for o in outcomes} == {"registered"} and len(outcomes) == 20
    assert len([r for r in kube.requests if r[0] == "list"]) == 1


# --- remaining time (issue 20.3) ----------------------------------------------------------------


def clock(*seconds: float) -> Callable[[], float]:
    left = iter(seconds)
    return lambda: next(left, seconds[-1])


def test_run_starts_no_item_under_the_margin_and_hands_the_rest_back_deferred() -> None:
    ids = [f"vol-000000000000000{i}" for i in range(1, 5)]
    volumes = FakeVolumes(*[facts(v, tags={"k8s-pv": f"v{i}"}) for i, v in enumerate(ids)])
    kube = FakeKube()
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    items = [WorkItem(v, "available", "ec2") for v in ids]
    results = registrar.run(items, remaining=clock(60, 30, 9, 5))
    assert [r.deferred for r in results] == [False, False, True, True]
    assert [r.item for r in results if r.deferred] == items[2:]
    assert kube.names("PersistentVolume") == ["v0", "v1"]


def test_handle_raises_a_retryable_error_when_it_deferred_anything() -> None:
    ids = [f"vol-000000000000000{i}" for i in range(1, 4)]
    volumes = FakeVolumes(*[facts(v, tags={"k8s-pv": f"v{i}"}) for i, v in enumerate(ids)])
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=FakeKube()))
    event = parse_event(ef.create_tags(ids, {"k8s-pv": ""}))
    with pytest.raises(DeferredError) as raised:
        registrar.handle(event, remaining=clock(60, 60, 5))
    assert raised.value.retryable
    again = registrar.handle(event, remaining=clock(60))  # the retry finishes the rest
    assert [o.result for o in again] == ["unchanged", "unchanged", "registered"]


def test_an_inline_event_decides_and_applies_volume_by_volume_under_one_listing() -> None:
    """No queue: a 1,000-volume CreateTags runs where it arrives. Each volume is described and
    registered before the next is read, so the run makes progress and, at the margin, stops
    with what it did kept (the retry carries on): never every describe first."""
    ids = [f"vol-000000000000000{i}" for i in range(1, 5)]
    kube = FakeKube()
    seen: list[int] = []  # PVs created when each volume is described

    class Watched(FakeVolumes):
        def describe_volume(self, volume_id: str) -> VolumeFacts:
            seen.append(len(kube.names("PersistentVolume")))
            return super().describe_volume(volume_id)

    volumes = Watched(*[facts(v, tags={"k8s-pv": f"v{i}"}) for i, v in enumerate(ids)])
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube))
    with pytest.raises(DeferredError):
        registrar.handle(parse_event(ef.create_tags(ids, {"k8s-pv": ""})),
                         remaining=clock(60, 60, 60, 5))  # fmt: skip
    assert seen == [0, 1, 2]  # the fourth is deferred, unread
    assert kube.names("PersistentVolume") == ["v0", "v1", "v2"]
    assert len([r for r in kube.requests if r[0] == "list"]) == 1


def test_the_handler_answers_deferral_with_a_retry(metrics: list[str]) -> None:
    volumes = FakeVolumes(facts(VOL))
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=FakeKube()))
    with pytest.raises(DeferredError):
        handler.respond(ef.ebs_notification(VOL), registrar, lambda: 2.0)
    assert metrics == [OUTCOME_METRICS["deferred"]]


# --- absence of evidence is no verdict (issue 21.2) ---------------------------------------------


def test_an_unknown_writer_leaves_the_volume_pending_and_a_sweep_registers_it_later() -> None:
    volumes = FakeVolumes(facts(VOL))
    kube, identities = FakeKube(), FakeIdentities()
    registrar = Registrar(TRAIL, volumes, FakeClusters(prod=kube), identities)
    [outcome] = registrar.handle(parse_event(ef.ebs_notification(VOL)))
    assert outcome.result == "pending" and volumes.status_of(VOL).startswith("pending: ")
    assert kube.writes() == []
    identities.writers[t.PV_TAG] = (ADMIN,)  # CloudTrail delivered the CreateVolume record
    [row] = registrar.sweep("prod")
    assert row.action == "registered"
    assert volumes.status_of(VOL) == REGISTERED[t.STATUS_TAG]


def test_a_late_notification_never_overwrites_a_registered_status() -> None:
    volume = facts(VOL)
    volumes, kube = FakeVolumes(volume), FakeKube()
    registrar = Registrar(TRAIL, volumes, FakeClusters(prod=kube), FakeIdentities())
    [done] = registrar.handle(parse_event(ef.create_volume(VOL, {"k8s-pv": "data"})))
    assert done.result == "registered"
    writes = len(volumes.writes)
    [late] = registrar.handle(parse_event(ef.ebs_notification(VOL)))  # no record in CloudTrail
    assert late.result == "unchanged" and len(volumes.writes) == writes
    kube.delete("PersistentVolumeClaim", "data", "default")
    kube.delete("PersistentVolume", "data")  # even when its PV is gone, it is no verdict
    [again] = registrar.handle(parse_event(ef.ebs_notification(VOL)))
    assert again.result == "pending" and volumes.status_of(VOL) == REGISTERED[t.STATUS_TAG]


class PartialPages(FakeVolumes):
    """A listing that leaves volumes out (EC2 may return short pages): they are still there."""

    def __init__(self, *volumes: VolumeFacts, hidden: set[str]) -> None:
        super().__init__(*volumes)
        self.hidden = hidden

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        return (v for v in super().tagged_volumes() if v.volume_id not in self.hidden)


@pytest.mark.parametrize("unregister", [False, True])
def test_a_volume_missing_from_a_listing_is_not_taken_for_deleted(unregister: bool) -> None:
    settings = replace(SETTINGS, unregister_on_untag=unregister)
    volume = facts(VOL, tags={"k8s-pv": "data", **REGISTERED})
    volumes = PartialPages(volume, hidden={VOL})
    kube = FakeKube(objects_of({"k8s-pv": "data"}))
    [row] = Registrar(settings, volumes, FakeClusters(prod=kube)).sweep("prod")
    assert row.action == "unchanged"  # described on its own: tagged after all
    assert kube.writes() == [] and volumes.describes == 1


def test_only_ec2s_own_not_found_releases_a_pv_in_a_sweep() -> None:
    kube = FakeKube(objects_of({"k8s-pv": "data"}))
    [row] = Registrar(SETTINGS, FakeVolumes(), FakeClusters(prod=kube)).sweep("prod")
    assert (row.action, row.detail.split(":")[0]) == ("released", "volume deleted")
    assert kube.names("PersistentVolume") == []


def untag_world(settings: Settings) -> tuple[Registrar, FakeVolumes, FakeKube]:
    volumes = FakeVolumes(facts(VOL, tags={"Name": "x", **REGISTERED}))
    objects = objects_of({"k8s-pv": "data"})
    objects[1]["status"] = {"phase": "Pending"}  # unbound: unregisterOnUntag would delete it
    kube = FakeKube(objects)
    return Registrar(settings, volumes, FakeClusters(prod=kube)), volumes, kube


GUARDED = replace(TRAIL, unregister_on_untag=True)


def test_a_tag_change_untag_names_no_caller_and_releases_nothing_under_an_allow_list() -> None:
    registrar, volumes, kube = untag_world(GUARDED)
    event = ef.tag_change(VOL, {"Name": "x"}, ["k8s-pv"])
    [outcome] = registrar.handle(parse_event(event))
    assert outcome.result == "ignored"
    assert kube.writes() == [] and volumes.writes == []


def test_a_sweep_releases_nothing_of_an_untagged_volume_under_an_allow_list() -> None:
    registrar, volumes, kube = untag_world(GUARDED)
    [row] = registrar.sweep("prod")
    assert row.action == "ignored" and kube.writes() == [] and volumes.writes == []


def test_only_a_cloudtrail_untag_by_an_allowed_caller_unregisters() -> None:
    registrar, volumes, kube = untag_world(GUARDED)
    [outcome] = registrar.handle(parse_event(ef.delete_tags([VOL], ["k8s-pv"])))
    assert outcome.result == "released"
    assert kube.names("PersistentVolume") == [] and kube.names("PersistentVolumeClaim") == []
    assert volumes.status_of(VOL) == "unmanaged prod/data: k8s-pv tag removed"


def test_without_an_allow_list_a_tag_change_untag_still_unregisters() -> None:
    registrar, _, kube = untag_world(replace(SETTINGS, unregister_on_untag=True))
    [outcome] = registrar.handle(parse_event(ef.tag_change(VOL, {"Name": "x"}, ["k8s-pv"])))
    assert outcome.result == "released" and kube.names("PersistentVolume") == []


# --- work items ---------------------------------------------------------------------------------


def test_a_work_item_survives_its_message() -> None:
    [item] = work_items(parse_event(ef.create_tags([VOL], {"k8s-pv": "data"})))
    assert item.principals and item.tags == {"k8s-pv": "data"}
    assert WorkItem.from_message(item.to_message()) == item
    assert item.to_message() == WorkItem.from_message(item.to_message()).to_message()


@pytest.mark.parametrize("body", ["", "[]", '{"volume_id": 3}', '{"volume_id": "v", "reason": "r",'
                                  ' "source": "s", "tags": {"a": 1}}'])  # fmt: skip
def test_a_garbled_message_is_invalid_input(body: str) -> None:
    with pytest.raises(InvalidInputError):
        WorkItem.from_message(body)


def test_one_item_per_volume_an_event_names() -> None:
    ids = [VOL, OTHER]
    tagged = work_items(parse_event(ef.create_tags(ids, {"k8s-pv": ""})))
    assert [i.volume_id for i in tagged] == ids
    untag = work_items(parse_event(ef.delete_tags(ids, ["k8s-pv"])))
    assert {(i.reason, i.removed) for i in untag} == {("untagged", ("k8s-pv",))}


class Queue:
    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def submit(self, items: Sequence[WorkItem]) -> None:
        self.items += items


def test_a_sweep_hands_its_repairs_to_the_sink_as_work_items() -> None:
    volumes = FakeVolumes(facts(VOL), facts(OTHER, tags={"k8s-pv": "other", **REGISTERED}))
    kube, queue = FakeKube(objects_of({"k8s-pv": "data"})), Queue()
    kube.delete("PersistentVolumeClaim", "data", "default")
    registrar = Registrar(SETTINGS, volumes, FakeClusters(prod=kube), sink=queue)
    rows = registrar.sweep("prod")
    assert {(r.volume_id, r.action) for r in rows} == {(VOL, "deferred"), (OTHER, "deferred")}
    assert queue.items == [WorkItem(VOL, "sweep", "sweep", cluster="prod"),
                           WorkItem(OTHER, "sweep", "sweep", cluster="prod")]  # fmt: skip
    assert kube.writes() == [("delete", "PersistentVolumeClaim", "default")]
    done = Registrar(SETTINGS, volumes, FakeClusters(prod=kube)).run(queue.items)
    assert [r.outcome.result for r in done if r.outcome] == ["registered", "registered"]


def test_a_caller_the_event_names_is_evidence_even_on_a_registered_volume() -> None:
    """A stranger's CreateTags on an admin's volume is refused on the volume; the same state
    seen by a sweep (no caller) is drift: only the event had the evidence."""
    stranger = "arn:aws:iam::111122223333:user/stranger"
    tags = {"k8s-pv": "data", "k8s-pvc": "other", **REGISTERED}
    registrar, volumes, kube = world(State(tags, objects_of({"k8s-pv": "data"}), settings=TRAIL))
    item = WorkItem(VOL, "tagged", "cloudtrail", (stranger,), {"k8s-pvc": "other"})
    [done] = registrar.run([item])
    assert done.outcome is not None and done.outcome.result == "invalid"
    assert volumes.status_of(VOL) == f"error: principal: '{stranger}' may not set k8s-pvc"
    assert kube.writes() == []


def test_a_scheduled_sweep_starts_no_cluster_without_time_for_it() -> None:
    settings = replace(SETTINGS, allowed_clusters=("prod", "dev"))
    kubes = {"prod": FakeKube(), "dev": FakeKube()}
    registrar = Registrar(settings, FakeVolumes(facts(VOL)), FakeClusters(**kubes))
    outcomes = registrar.handle(parse_event(ef.scheduled()), remaining=clock(60, 60, 5))
    assert [(o.result, o.detail.split(":")[0]) for o in outcomes] == [
        ("reconciled", "prod"), ("deferred", "dev")]
    assert kubes["dev"].requests == []
