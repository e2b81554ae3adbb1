"""An operator's CloudWatch dashboard: outcomes, duration, throttles, the DLQ and the alarms."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from registrar.core import contract

PERIOD = cdk.Duration.minutes(5)
# The handler's metric per outcome, by panel (the contract's one map).
REGISTRATION_OUTCOMES = contract.REGISTRATION_METRICS
LIFECYCLE_OUTCOMES = contract.LIFECYCLE_METRICS
WIDTH = 24  # CloudWatch dashboards are 24 units wide


class RegistrarDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        alarms: list[cloudwatch.IAlarm],
        namespace: str,
        service: str,
    ) -> None:
        super().__init__(scope, construct_id)

        def outcome(label: str, metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=metric_name,
                dimensions_map={"service": service},  # Powertools' default dimension
                statistic="Sum",
                period=PERIOD,
                label=label,
            )

        def outcomes_graph(title: str, names: dict[str, str]) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=[outcome(label, name) for label, name in names.items()],
                width=WIDTH // 2,
                height=6,
                stacked=True,
                left_y_axis=cloudwatch.YAxisProps(min=0, label="volumes", show_units=False),
            )

        duration = [
            function.metric_duration(statistic=stat, period=PERIOD, label=stat)
            for stat in ("p50", "p99")
        ]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=cdk.Duration.days(1),
            widgets=[
                [
                    outcomes_graph("Registrations by outcome", REGISTRATION_OUTCOMES),
                    outcomes_graph("Lifecycle and sweeps", LIFECYCLE_OUTCOMES),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Duration (ms)",
                        left=duration,
                        width=WIDTH // 3,
                        height=6,
                        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                    ),
                    cloudwatch.GraphWidget(
                        title="Invocations, errors, throttles",
                        left=[
                            function.metric_invocations(period=PERIOD, label="invocations"),
                            function.metric_errors(period=PERIOD, label="errors"),
                            function.metric_throttles(period=PERIOD, label="throttles"),
                        ],
                        width=WIDTH // 3,
                        height=6,
                        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                    ),
                    cloudwatch.GraphWidget(
                        title="Dead-letter queue depth",
                        left=[
                            dead_letter_queue.metric_approximate_number_of_messages_visible(
                                period=PERIOD, statistic="Maximum", label="messages"
                            )
                        ],
                        width=WIDTH // 3,
                        height=6,
                        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                    ),
                ],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=alarms, width=WIDTH, height=3
                    )
                ],
            ],
        )

    def url(self) -> str:
        """The dashboard in the CloudWatch console of the stack's region."""
        region = cdk.Stack.of(self).region
        return (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={self.dashboard.dashboard_name}"
        )
