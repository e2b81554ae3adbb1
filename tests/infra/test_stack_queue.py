"""The work queue in the template: a FIFO queue with its FIFO dead-letter queue, the function's
event source mapping (partial batch responses, maximum concurrency), least-privilege SQS
rights from the contract, alarms and the dashboard on queue age and dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registrar.core import contract
from stacks.config import CONTEXT_DEFAULTS, ConfigError
from stacks.constructs import work_queue
from tests.infra.conftest import Synth
from tests.infra.test_stack_dashboard import body
from tests.infra.test_stack_iam import as_list, registrar_statements


def queues(result: Synth) -> dict[str, dict[str, Any]]:
    """The work queue and its dead-letter queue by role (the FIFO ones)."""
    fifo = {k: v for k, v in result.resources("AWS::SQS::Queue").items()
            if v["Properties"].get("FifoQueue")}  # fmt: skip
    [dlq] = [k for k, v in fifo.items() if "RedrivePolicy" not in v["Properties"]]
    [queue] = [k for k in fifo if k != dlq]
    return {"queue": {"id": queue, **fifo[queue]}, "dlq": {"id": dlq, **fifo[dlq]}}


def test_queue_is_fifo_with_a_redrive_to_a_fifo_dead_letter_queue(minimal: Synth) -> None:
    found = queues(minimal)
    props = found["queue"]["Properties"]
    assert props["ContentBasedDeduplication"] is False  # the sender's hash of the item
    assert props["SqsManagedSseEnabled"] is True
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [found["dlq"]["id"], "Arn"]},
        "maxReceiveCount": work_queue.MAX_RECEIVE_COUNT,
    }
    # Lambda's guidance: at least six times the function's timeout.
    assert props["VisibilityTimeout"] == 6 * 60
    assert found["dlq"]["Properties"]["FifoQueue"] is True


def test_function_consumes_the_queue_in_batches_with_partial_failures(minimal: Synth) -> None:
    [mapping] = minimal.resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queues(minimal)["queue"]["id"], "Arn"]}
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": CONTEXT_DEFAULTS["queueMaxConcurrency"]}


def test_function_knows_its_queue(minimal: Synth) -> None:
    [function] = minimal.resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables[contract.WORK_QUEUE_VARIABLE] == {"Ref": queues(minimal)["queue"]["id"]}


def test_sqs_rights_on_the_work_queue_come_from_the_contract(minimal: Synth) -> None:
    queue_arn = {"Fn::GetAtt": [queues(minimal)["queue"]["id"], "Arn"]}
    on_queue = [s for s in registrar_statements(minimal) if s["Resource"] == queue_arn]
    assert {s["Sid"]: sorted(as_list(s["Action"])) for s in on_queue} == {
        "SubmitWork": [contract.iam_action("sqs", "SendMessageBatch")],
        "ConsumeWork": sorted(contract.QUEUE_CONSUMER_ACTIONS),
    }


@pytest.mark.parametrize(("context", "expected"), [
    ({"queueMaxConcurrency": "2"}, 2),
    ({"queueMaxConcurrency": 9, "reservedConcurrency": 3}, 3),  # more would be throttled
    ({"reservedConcurrency": 1}, 2),  # Lambda's least
])  # fmt: skip
def test_max_concurrency_from_context(
    synth: Callable[..., Synth], context: dict[str, Any], expected: int
) -> None:
    [mapping] = synth(clusterName="demo", **context).resources(
        "AWS::Lambda::EventSourceMapping"
    ).values()
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": expected}


@pytest.mark.parametrize("value", ["1", "1001", "four", ""])
def test_max_concurrency_outside_lambdas_range_is_refused(
    synth: Callable[..., Synth], value: str
) -> None:
    with pytest.raises(ConfigError, match=f"queueMaxConcurrency={value!r}: must be an integer"):
        synth(clusterName="demo", queueMaxConcurrency=value)


def test_alarms_on_queue_age_and_dead_letters(minimal: Synth) -> None:
    found = queues(minimal)
    alarms = {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]):
        a["Properties"]["Threshold"]
        for a in minimal.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == "AWS/SQS"
        and a["Properties"]["Dimensions"][0]["Value"].get("Fn::GetAtt", [""])[0] in
        (found["queue"]["id"], found["dlq"]["id"])
    }  # fmt: skip
    assert alarms == {
        ("ApproximateAgeOfOldestMessage", found["queue"]["id"]): work_queue.MAX_AGE_SECONDS,
        ("ApproximateNumberOfMessagesVisible", found["dlq"]["id"]): 1,
    }


def test_dashboard_shows_queue_age_and_dead_letters(minimal: Synth) -> None:
    titles = {w["properties"].get("title") for w in body(minimal)["widgets"]}
    assert {
        "Work queue: volumes waiting",
        "Work queue: age of the oldest volume (s)",
        "Work dead-letter queue depth",
    } <= titles
    drawn = str(body(minimal))
    assert "ApproximateAgeOfOldestMessage" in drawn


def test_only_the_function_may_send_work(minimal: Synth) -> None:
    """A work item carries the caller the allow-list checks: no one else may forge one."""
    queue_id = queues(minimal)["queue"]["id"]
    role = minimal.stack.get_logical_id(minimal.registrar.registrar.role.node.default_child)  # type: ignore[arg-type]
    [policy] = [p for p in minimal.resources("AWS::SQS::QueuePolicy").values()
                if p["Properties"]["Queues"] == [{"Ref": queue_id}]]  # fmt: skip
    [deny] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
              if s.get("Sid") == "OnlyTheFunctionSendsWork"]  # fmt: skip
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "sqs:SendMessage"
    role_arn = {"Fn::GetAtt": [role, "Arn"]}
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role_arn}}
