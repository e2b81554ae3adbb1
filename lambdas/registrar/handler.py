"""Lambda entry point: decorators, one parse, one call into the registration logic."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from registrar.core.contract import (
    FAILED_METRIC,
    INVALID_METRIC,
    METRICS_NAMESPACE,
    OUTCOME_METRICS,
    SERVICE,
)
from registrar.core.errors import DeferredError, InvalidInputError
from registrar.core.events import Ignored, ScheduledReconcile, parse_event
from registrar.core.settings import Settings, aws_region, work_queue_url
from registrar.engine.service import Outcome, Registrar
from registrar.queue_handler import consume, is_queue_batch, split
from registrar.wiring import wire

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# No tracing SDK: the function's active tracing (stacks/constructs/function.py) has Lambda
# record the Init and Invocation segments itself; bench/README.md ("Tracing") weighs the X-Ray
# SDK and OpenTelemetry against that, measured.
copy_config_to_registered_loggers(source_logger=logger, include={"registrar"})


# The context is whatever the runtime (or a caller standing in for it) passes: Powertools reads
# its LambdaContext attributes, the registrar only the remaining time.
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def handler_for(service: Callable[[], Registrar]) -> LambdaHandler:
    """A Lambda entry point over the registrar `service()` gives. The function's own is
    `lambda_handler`; the demo and the end-to-end tests hand in theirs, wired to the stand-ins.
    A batch of the work queue is consumed; any other event is answered by `respond`."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        remaining, registrar = Clock(context), service()
        if is_queue_batch(event):
            return consume(event, registrar, remaining)
        return respond(event, registrar, remaining)

    return handle


@cache
def registrar() -> Registrar:
    """Built once per execution environment, reused by warm invocations."""
    return wire(Settings.from_env(), aws_region(), work_queue_url=work_queue_url()).registrar()


# `registrar` looked up at each call: a test or a bench may stand its own in.
lambda_handler = handler_for(lambda: registrar())  # noqa: PLW0108


class Clock:
    """Seconds left to the invocation's timeout."""

    def __init__(self, context: LambdaContext) -> None:
        self._context = context

    def __call__(self) -> float:
        return self._context.get_remaining_time_in_millis() / 1000


def respond(
    event: object, service: Registrar, remaining: Callable[[], float] | None = None
) -> dict[str, Any]:
    """Invalid input is logged, counted and answered; with a work queue an event's volumes are
    queued, one work item each; otherwise retryable failures raise for a retry."""
    try:
        parsed = parse_event(event)
    except InvalidInputError as error:
        logger.warning("invalid event", extra={"field": error.field, "rule": error.rule})
        metrics.add_metric(name=INVALID_METRIC, unit=MetricUnit.Count, value=1)
        return {"outcomes": [{"result": "invalid", "detail": str(error)}]}
    sink = service.sink  # the work queue, when the stack made one; a sweep queues through it
    if sink is not None and not isinstance(parsed, Ignored | ScheduledReconcile):
        return split(parsed, sink, remaining)
    try:
        outcomes = service.handle(parsed, remaining=remaining)
    except DeferredError:  # not a failure: the retry carries on
        metrics.add_metric(name=OUTCOME_METRICS["deferred"], unit=MetricUnit.Count, value=1)
        raise
    except Exception:
        metrics.add_metric(name=FAILED_METRIC, unit=MetricUnit.Count, value=1)
        raise
    for outcome in outcomes:
        metrics.add_metric(name=OUTCOME_METRICS[outcome.result], unit=MetricUnit.Count, value=1)
    return {"outcomes": [_summary(o) for o in outcomes]}


def _summary(outcome: Outcome) -> dict[str, Any]:
    return {
        "volume_id": outcome.volume_id,
        "result": outcome.result,
        "detail": outcome.detail,
        "objects": [o.line() for o in outcome.objects],
    }
