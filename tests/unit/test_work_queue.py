"""The work queue's two ends on fakes: an event split into per-volume items, a batch run with
partial failures (a failed volume is retried alone; its later messages in the batch too)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from registrar import handler, queue_handler
from registrar.adapters.aws import SqsWorkQueue
from registrar.core import contract
from registrar.core.errors import InvalidInputError, TransientError
from registrar.core.events import TagsSet, parse_event
from registrar.core.settings import Settings, work_queue_url
from registrar.core.work import WorkItem, work_items
from registrar.engine.service import Registrar
from registrar.wiring import wire
from tests.support import eventfactory as ef
from tests.support.fakes import FakeClusters, FakeKube, FakeVolumes
from tests.support.helpers import facts

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
VOLS = [f"vol-000000000000000{i}" for i in range(4)]


class ListSink:
    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def submit(self, items: Sequence[WorkItem]) -> None:
        self.items += items


def wired(kube: FakeKube | None = None) -> tuple[Registrar, FakeKube]:
    volumes = FakeVolumes(*(facts(v, tags={"k8s-pv": f"pv-{v[-1]}"}) for v in VOLS))
    kube = kube or FakeKube()
    return Registrar(SETTINGS, volumes, FakeClusters(prod=kube)), kube


def batch(*items: WorkItem | str) -> dict[str, Any]:
    records = [
        {
            "messageId": f"m{index}",
            "eventSource": "aws:sqs",
            "body": item if isinstance(item, str) else item.to_message(),
            "attributes": {"MessageGroupId": item.volume_id} if isinstance(item, WorkItem) else {},
        }
        for index, item in enumerate(items)
    ]
    return {"Records": records}


def tagged(volume_id: str) -> WorkItem:
    return WorkItem(volume_id, "tagged", "cloudtrail", (), {"k8s-pv": f"pv-{volume_id[-1]}"})


def test_a_message_round_trips_with_a_stable_body() -> None:
    item = WorkItem(VOLS[0], "untagged", "cloudtrail", ("arn:a",), None, ("k8s-pv",))
    assert WorkItem.from_message(item.to_message()) == item
    assert json.loads(item.to_message()) == json.loads(WorkItem.from_message(item.to_message())
                                                       .to_message())  # fmt: skip
    assert list(json.loads(item.to_message())) == sorted(json.loads(item.to_message()))


@pytest.mark.parametrize("body", ["", "[]", '{"volume_id": "vol-1"}', '{"volume_id": 1, "x": 2}'])
def test_garbage_is_not_a_work_item(body: str) -> None:
    with pytest.raises(InvalidInputError):
        WorkItem.from_message(body)


def test_a_create_tags_of_many_volumes_becomes_one_item_per_volume() -> None:
    event = ef.create_tags(VOLS, {"k8s-pv": ""})
    parsed = parse_event(event)
    assert isinstance(parsed, TagsSet)
    assert [i.volume_id for i in work_items(parsed)] == VOLS
    sink = ListSink()
    assert queue_handler.split(parsed, sink) == {"queued": 4}
    assert [i.volume_id for i in sink.items] == VOLS


def test_a_sweep_queues_only_the_rows_that_need_a_write() -> None:
    """The splitter leaves a sweep to the registrar, whose sink is the queue (wiring)."""
    _, kube = wired()
    sink = ListSink()
    volumes = FakeVolumes(*(facts(v, tags={"k8s-pv": f"pv-{v[-1]}"}) for v in VOLS))
    service = Registrar(SETTINGS, volumes, FakeClusters(prod=kube), sink=sink)
    service.run(work_items(parse_event(ef.create_tags(VOLS[:1], {"k8s-pv": "pv-0"}))))
    handler.respond(ef.scheduled(), service)  # not split: the sweep queues through the sink
    assert sorted(i.volume_id for i in sink.items) == VOLS[1:]
    assert {(i.source, i.cluster) for i in sink.items} == {("sweep", "prod")}
    assert kube.names("PersistentVolume") == ["pv-0"]  # the sweep itself wrote nothing


def test_a_batch_registers_every_volume() -> None:
    service, kube = wired()
    answer = queue_handler.consume(batch(*(tagged(v) for v in VOLS)), service)
    assert answer == {"batchItemFailures": []}
    assert sorted(kube.names("PersistentVolume")) == [f"pv-{v[-1]}" for v in VOLS]


def test_a_failing_volume_is_retried_alone_with_its_later_messages() -> None:
    kube = FakeKube()
    kube.fail_on("create", "PersistentVolume", TransientError("503"), times=1)
    service, kube = wired(kube)
    items: list[WorkItem | str] = [tagged(VOLS[0]), tagged(VOLS[1]), tagged(VOLS[0]), "not json"]
    answer = queue_handler.consume(batch(*items), service)
    # m0 failed; m2 is the same volume after it; m3 is garbage, dropped (no retry fixes it)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}]}
    assert "pv-1" in kube.names("PersistentVolume")


def test_items_left_when_time_runs_out_come_back_for_a_retry() -> None:
    service, _ = wired()
    answer = queue_handler.consume(batch(*(tagged(v) for v in VOLS)), service, lambda: 1.0)
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(4)]}


def test_only_an_sqs_batch_is_one() -> None:
    assert queue_handler.is_queue_batch(batch(tagged(VOLS[0])))
    assert not queue_handler.is_queue_batch(ef.create_tags(VOLS, {"k8s-pv": ""}))
    assert not queue_handler.is_queue_batch({"Records": []})


def test_a_split_out_of_time_raises_for_a_retry_of_the_event() -> None:
    sink = ListSink()
    event = parse_event(ef.create_tags([f"vol-{i:017x}" for i in range(250)], {"k8s-pv": ""}))
    assert isinstance(event, TagsSet)
    clock = iter([60.0, 60.0, 5.0])
    with pytest.raises(TransientError, match="queued 200 of 250"):
        queue_handler.split(event, sink, lambda: next(clock))
    assert len(sink.items) == 200


def test_the_stacks_queue_url_makes_the_work_queue_the_registrars_sink() -> None:
    """REGISTRAR_WORK_QUEUE_URL (set by the stack): events are split into the queue and a
    sweep queues its repairs; unset, everything runs where it arrives."""
    url = "https://sqs.us-east-1.amazonaws.com/111122223333/work.fifo"
    assert work_queue_url({contract.WORK_QUEUE_VARIABLE: f" {url} "}) == url
    assert work_queue_url({contract.WORK_QUEUE_VARIABLE: ""}) is None
    queued = wire(SETTINGS, "us-east-1", work_queue_url=url).registrar()
    assert isinstance(queued.sink, SqsWorkQueue)
    assert wire(SETTINGS, "us-east-1").registrar().sink is None
