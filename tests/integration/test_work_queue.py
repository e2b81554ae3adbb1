"""The work queue through moto's SQS over HTTP: the splitter fills a FIFO queue one message per
volume (grouped by volume, deduplicated by content), the event source mapping's stand-in hands
batches to the Lambda entry point, and a volume that fails is retried alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from devcluster.standins.event_source import SqsEventSource
from devcluster.standins.kmockthread import OneCluster
from registrar import handler
from registrar.adapters.aws import Ec2Volumes, SqsWorkQueue
from registrar.core.errors import ProtocolError, TransientError
from registrar.core.settings import Settings
from registrar.core.work import WorkItem
from registrar.engine.service import Registrar
from tests.integration.test_handler import Context
from tests.support import eventfactory as ef
from tests.support.fakes import FakeClusters, FakeKube

REGION = "us-east-1"


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue_url(sqs: Any) -> Iterator[str]:
    """A FIFO queue as the stack makes it: no content-based deduplication (the sender hashes)."""
    url = sqs.create_queue(
        QueueName=f"work-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false",
                    "VisibilityTimeout": "2"},
    )["QueueUrl"]  # fmt: skip
    yield url
    sqs.delete_queue(QueueUrl=url)


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                     MessageSystemAttributeNames=["All"])  # fmt: skip
        messages = answer.get("Messages", [])
        if not messages:
            return found
        found += messages
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def item(index: int) -> WorkItem:
    return WorkItem(f"vol-{index:017x}", "tagged", "cloudtrail", ("arn:aws:iam::1:role/a",),
                    {"k8s-pv": f"pv-{index}"})  # fmt: skip


def test_items_go_one_message_per_volume_grouped_by_volume(sqs: Any, queue_url: str) -> None:
    items = [item(i) for i in range(23)]  # three SendMessageBatch calls
    SqsWorkQueue(queue_url, REGION).submit(items)
    messages = receive_all(sqs, queue_url)
    assert sorted(WorkItem.from_message(m["Body"]).volume_id for m in messages) == sorted(
        i.volume_id for i in items
    )
    assert all(m["Attributes"]["MessageGroupId"] == WorkItem.from_message(m["Body"]).volume_id
               for m in messages)  # fmt: skip


def test_the_same_item_twice_is_delivered_once(sqs: Any, queue_url: str) -> None:
    """SendMessage: a MessageDeduplicationId seen in the last 5 minutes is accepted, not
    delivered; the sink derives it from the item's message."""
    sink = SqsWorkQueue(queue_url, REGION)
    sink.submit([item(1), item(2)])
    sink.submit([item(1)])
    assert len(receive_all(sqs, queue_url)) == 2


def test_entries_the_queue_did_not_accept_are_sent_again(queue_url: str) -> None:
    sink = SqsWorkQueue(queue_url, REGION, pause=lambda _s: None)
    with Stubber(sink._sqs) as stub:
        stub.add_response("send_message_batch", {
            "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
            "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]})
        stub.add_response("send_message_batch", {
            "Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}],
            "Failed": []}, expected_params=None)  # fmt: skip
        sink.submit([item(0), item(1)])
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(("sender_fault", "error"), [(True, ProtocolError),
                                                      (False, TransientError)])
def test_entries_refused_for_good_or_too_often_raise(
    queue_url: str, sender_fault: bool, error: type[Exception]
) -> None:
    sink = SqsWorkQueue(queue_url, REGION, pause=lambda _s: None)
    failed = {"Successful": [], "Failed": [{"Id": "0", "SenderFault": sender_fault,
                                            "Code": "InvalidParameterValue"}]}  # fmt: skip
    with Stubber(sink._sqs) as stub, pytest.raises(error):
        for _ in range(5):
            stub.add_response("send_message_batch", failed)
        sink.submit([item(0)])


@pytest.fixture
def deployed(
    monkeypatch: pytest.MonkeyPatch, queue_url: str, kube: Any
) -> Iterator[Callable[[Any], None]]:
    """The function as the stack wires it: its queue's URL in the environment."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    sink = SqsWorkQueue(queue_url, REGION)

    def use(clusters: Any) -> None:
        registrar = Registrar(Settings(default_cluster="prod"), Ec2Volumes(REGION), clusters,
                              sink=sink)  # fmt: skip
        monkeypatch.setattr(handler, "registrar", lambda: registrar)

    use(OneCluster(kube))
    yield use


def tagged_volumes(ec2: Any, count: int) -> tuple[list[str], dict[str, Any]]:
    ids = [ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
           for _ in range(count)]  # fmt: skip
    prefix = uuid.uuid4().hex[:6]
    for index, volume_id in enumerate(ids):
        ec2.create_tags(Resources=[volume_id],
                        Tags=[{"Key": "k8s-pv", "Value": f"q-{prefix}-{index}"}])  # fmt: skip
    return ids, ef.create_tags(ids, {"k8s-pv": ""})


def invoke(event: dict[str, Any], remaining: Callable[[], float]) -> dict[str, Any]:
    class Timed(Context):
        def get_remaining_time_in_millis(self) -> int:
            return int(remaining() * 1000)

    answer: dict[str, Any] = handler.lambda_handler(event, Timed())
    return answer


def test_one_create_tags_of_many_volumes_is_registered_through_the_queue(
    deployed: Callable[[Any], None], ec2: Any, sqs: Any, queue_url: str, kube: Any
) -> None:
    ids, event = tagged_volumes(ec2, 12)
    assert handler.lambda_handler(event, Context()) == {"queued": 12}
    source = SqsEventSource(sqs, queue_url, invoke, max_concurrency=2)
    while source.poll_once():
        pass
    assert source.stats.invocations == 2  # batches of 10
    assert source.stats.failures == 0
    statuses = {v["VolumeId"]: {t["Key"]: t["Value"] for t in v["Tags"]}["k8s-pv-status"]
                for v in ec2.describe_volumes(VolumeIds=ids)["Volumes"]}  # fmt: skip
    assert all(s.startswith("registered prod/") for s in statuses.values()), statuses


def test_a_volume_that_fails_is_retried_alone(
    deployed: Callable[[Any], None], ec2: Any, sqs: Any, queue_url: str
) -> None:
    flaky = FakeKube()
    flaky.fail_on("create", "PersistentVolume", TransientError("503 from the API server"), 1)
    deployed(FakeClusters(prod=flaky))
    _, event = tagged_volumes(ec2, 3)
    handler.lambda_handler(event, Context())
    source = SqsEventSource(sqs, queue_url, invoke, max_concurrency=2)
    assert source.poll_once() == 3
    assert source.stats.failures == 1
    assert len(flaky.names("PersistentVolume")) == 2
    # After the visibility timeout only the failed volume comes back, alone.
    source.poll_once(wait=5)
    assert source.stats.invocations == 2
    assert source.stats.failures == 1
    assert len(flaky.names("PersistentVolume")) == 3
