"""The work queue's two ends, for the Lambda entry point (handler.py):

- `split`: an EventBridge event becomes per-volume work items on the FIFO queue, when the stack
  made one (REGISTRAR_WORK_QUEUE_URL: wiring.py gives the registrar its sink); a scheduled
  sweep is the registrar's own, and it queues its repairs through that sink;
- `consume`: a batch of queue messages (the SQS event source mapping, ReportBatchItemFailures)
  goes through the registrar in one call; the items that failed or were deferred come back as
  `batchItemFailures`, so SQS retries those alone and, after the queue's maxReceiveCount,
  moves them to the dead-letter queue.

README, "Architecture", says why EventBridge invokes the function and the function fills the
queue, rather than EventBridge targeting the queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from registrar.core import contract
from registrar.core.errors import InvalidInputError, TransientError
from registrar.core.events import VolumeEvent
from registrar.core.work import WorkItem, work_items
from registrar.engine.ports import WorkSink
from registrar.engine.service import Registrar

logger = Logger(service=contract.SERVICE)
metrics = Metrics(namespace=contract.METRICS_NAMESPACE, service=contract.SERVICE)
Remaining = Callable[[], float]
SUBMIT_CHUNK = 100  # items between two looks at the remaining time (10 SendMessageBatch calls)
# The splitter stops sending with less than this left, and raises for a retry of the event.
SPLIT_MARGIN_S = 10.0


def is_queue_batch(event: object) -> bool:
    """An SQS event source mapping's batch (every record says `aws:sqs`)."""
    if not isinstance(event, Mapping):
        return False
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def split(
    event: VolumeEvent, sink: WorkSink, remaining: Remaining | None = None
) -> dict[str, Any]:
    """Queue the event's per-volume work. With the function's time nearly up it raises for a
    retry of the whole event: the items already sent are deduplicated by the queue (or, after
    5 minutes, find nothing to do)."""
    items = work_items(event)
    for start in range(0, len(items), SUBMIT_CHUNK):
        if remaining is not None and remaining() < SPLIT_MARGIN_S:
            raise TransientError(f"queued {start} of {len(items)} work items: out of time")
        sink.submit(items[start : start + SUBMIT_CHUNK])
    logger.info("queued", extra={"items": len(items), "event": type(event).__name__})
    return {"queued": len(items)}


def consume(event: Mapping[str, Any], service: Registrar, remaining: Remaining | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """One registrar run for the whole batch; a failed or deferred item is reported, and so
    is every later record of its message group in this batch (the FIFO order of a volume)."""
    records: list[tuple[str, str, WorkItem]] = []
    for record in event["Records"]:
        try:
            item = WorkItem.from_message(str(record.get("body", "")))
        except InvalidInputError as error:  # no retry makes garbage a work item
            logger.warning("invalid work item", extra={"message_id": record.get("messageId"),
                                                       "rule": str(error)})  # fmt: skip
            metrics.add_metric(name=contract.INVALID_METRIC, unit=MetricUnit.Count, value=1)
            continue
        group = str(record.get("attributes", {}).get("MessageGroupId") or item.volume_id)
        records.append((str(record["messageId"]), group, item))
    results = service.run([item for _, _, item in records], remaining=remaining)
    failed_groups: set[str] = set()
    failures: list[dict[str, str]] = []
    for (message_id, group, _), result in zip(records, results, strict=True):
        if result.error is not None or result.deferred or group in failed_groups:
            failed_groups.add(group)
            failures.append({"itemIdentifier": message_id})
        if result.error is not None:
            metrics.add_metric(name=contract.FAILED_METRIC, unit=MetricUnit.Count, value=1)
        elif result.outcome is not None:
            name = contract.OUTCOME_METRICS[result.outcome.result]
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info("batch", extra={"items": len(records), "failures": len(failures)})
    return {"batchItemFailures": failures}

