"""Lambda's SQS event source mapping, locally: receive a batch, invoke the function with the
event Lambda gives it, delete the messages it did not report in `batchItemFailures`
(ReportBatchItemFailures). A reported message stays in flight until its visibility timeout, then
comes back; after the queue's maxReceiveCount SQS moves it to the dead-letter queue.

Each worker is one concurrent execution (the mapping's MaximumConcurrency): a thread that polls
and invokes, one batch at a time, with the function's timeout as its remaining time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The function's answer to one batch; `remaining` is what context.get_remaining_time_in_millis
# gives, in seconds.
Invoke = Callable[[dict[str, Any], Callable[[], float]], dict[str, Any]]
BATCH_SIZE = 10


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda builds from ReceiveMessage's answer ("Using Lambda with Amazon SQS",
    example Amazon SQS message event, FIFO queue)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for m in messages
        ]
    }


@dataclass
class Stats:
    invocations: int = 0
    timeouts: int = 0  # invocations that ran past the function's timeout
    failures: int = 0  # messages reported in batchItemFailures
    errors: list[str] = field(default_factory=list)  # invocations that raised
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        *,
        max_concurrency: int,
        timeout: float = 60.0,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._sqs, self._url, self._invoke = sqs, queue_url, invoke
        self._concurrency, self._timeout, self._batch = max_concurrency, timeout, batch_size
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.stats = Stats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._concurrency):
            thread = threading.Thread(target=self._worker, name=f"esm-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 30)

    def poll_once(self, wait: int = 0) -> int:
        """One batch: receive, invoke, delete the successes. The number of messages received."""
        answer = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        started = time.monotonic()

        def remaining() -> float:
            return self._timeout - (time.monotonic() - started)

        try:
            response = self._invoke(sqs_event(messages, self._arn), remaining)
        except Exception as error:  # the whole batch comes back after its visibility timeout
            with self.stats.lock:
                self.stats.invocations += 1
                self.stats.errors.append(f"{type(error).__name__}: {error}")
            return len(messages)
        timed_out = remaining() < 0  # Lambda would have stopped it: the whole batch comes back
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [] if timed_out else [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(done)],
            )  # fmt: skip
        with self.stats.lock:
            self.stats.invocations += 1
            self.stats.failures += len(failed)
            self.stats.timeouts += timed_out
        return len(messages)

    def _worker(self) -> None:
        while not self._stop.is_set():
            self.poll_once(wait=1)
