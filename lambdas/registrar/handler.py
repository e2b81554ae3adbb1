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
from registrar.core.errors import InvalidInputError
from registrar.core.events import parse_event
from registrar.core.settings import Settings, aws_region
from registrar.engine.service import Outcome, Registrar
from registrar.queue_handler import consume, is_queue_batch, queue_sink, split
from registrar.wiring import build_registrar

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# No tracing SDK: the function's active tracing (stacks/constructs/function.py) has Lambda
# record the Init and Invocation segments itself; bench/README.md ("Tracing") weighs the X-Ray
# SDK and OpenTelemetry against that, measured.
copy_config_to_registered_loggers(source_logger=logger, include={"registrar"})


@cache
def registrar() -> Registrar:
    """Built once per execution environment, reused by warm invocations."""
    return build_registrar(Settings.from_env(), aws_region())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remaining = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    if is_queue_batch(event):
        return consume(event, registrar(), remaining)
    sink = queue_sink()
    queued = split(event, registrar(), sink, remaining) if sink is not None else None
    return queued if queued is not None else respond(event, registrar(), remaining)


def respond(
    event: object, service: Registrar, remaining: Callable[[], float] | None = None
) -> dict[str, Any]:
    """Invalid input is logged, counted and answered; retryable failures raise for a retry."""
    try:
        parsed = parse_event(event)
    except InvalidInputError as error:
        logger.warning("invalid event", extra={"field": error.field, "rule": error.rule})
        metrics.add_metric(name=INVALID_METRIC, unit=MetricUnit.Count, value=1)
        return {"outcomes": [{"result": "invalid", "detail": str(error)}]}
    try:
        outcomes = service.handle(parsed, remaining=remaining)
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
