"""Lambda entry point: decorators, one parse, one call into the registration logic."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from registrar.core.errors import InvalidInputError
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.service import Outcome, Registrar
from registrar.wiring import build_registrar

SERVICE = "ebs-pv-registrar"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="EbsPvRegistrar", service=SERVICE)
# Only botocore is worth a subsegment; patching everything also imports sqlite3 and friends.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
copy_config_to_registered_loggers(source_logger=logger, include={"registrar"})

# Metric per outcome; the DLQ and the RegistrationFailed alarm cover "failed".
OUTCOME_METRICS = {
    "registered": "Registered",
    "unchanged": "Unchanged",
    "ignored": "Ignored",
    "invalid": "InvalidInput",
    "conflict": "Conflict",
    "refused": "ClusterRefused",
    "released": "Released",
    "reconciled": "Reconciled",
    "failed": "RegistrationFailed",
}


@cache
def registrar() -> Registrar:
    """Built once per execution environment, reused by warm invocations."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return build_registrar(Settings.from_env(), region)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, registrar(), lambda: context.get_remaining_time_in_millis() / 1000)


def handle(
    event: object, service: Registrar, remaining: Callable[[], float] | None = None
) -> dict[str, Any]:
    """Invalid input is logged, counted and answered; retryable failures raise for a retry."""
    try:
        parsed = parse_event(event)
    except InvalidInputError as error:
        logger.warning("invalid event", extra={"field": error.field, "rule": error.rule})
        metrics.add_metric(name="InvalidInput", unit=MetricUnit.Count, value=1)
        return {"outcomes": [{"result": "invalid", "detail": str(error)}]}
    try:
        outcomes = service.handle(parsed, remaining=remaining)
    except Exception:
        metrics.add_metric(name="RegistrationFailed", unit=MetricUnit.Count, value=1)
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
