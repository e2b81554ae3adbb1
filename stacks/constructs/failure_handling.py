"""Failure handling: an encrypted dead-letter queue, target retry settings, alarms."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from registrar.core import contract

# EventBridge retries delivery to the Lambda this often, for at most this long.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = cdk.Duration.hours(2)
DLQ_RETENTION = cdk.Duration.days(14)
ALARM_PERIOD = cdk.Duration.minutes(5)
REGISTRATION_FAILED_METRIC = contract.FAILED_METRIC


class FailureHandling(Construct):
    """The DLQ is created first (targets and the function point at it); alarms come later."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.alarms: list[cloudwatch.Alarm] = []

    def watch(self, function: lambda_.IFunction, *, service: str, namespace: str) -> None:
        """Alarms on DLQ depth, the Lambda's Errors and the handler's RegistrationFailed."""
        depth = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic="Maximum"
        )
        errors = function.metric_errors(period=ALARM_PERIOD, statistic="Sum")
        failed = cloudwatch.Metric(
            namespace=namespace,
            metric_name=REGISTRATION_FAILED_METRIC,
            dimensions_map={"service": service},
            period=ALARM_PERIOD,
            statistic="Sum",
        )
        for alarm_id, metric, description in (
            ("DeadLetterQueueDepth", depth, "Events the registrar could not process are waiting"),
            ("FunctionErrors", errors, "The registrar Lambda failed (unhandled error)"),
            ("RegistrationFailed", failed, "The registrar could not register a volume"),
        ):
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    alarm_id,
                    alarm_description=description,
                    metric=metric,
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
