"""The work queue (issue #20): per-volume work items on an SQS FIFO queue, consumed by the
function in batches, a volume that keeps failing moved alone to a FIFO dead-letter queue.

README, "Architecture", says why the function splits events into the queue rather than
EventBridge targeting it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from registrar.core import contract

# A FIFO queue's batches hold at most 10 messages (Lambda, "Using Lambda with Amazon SQS").
BATCH_SIZE = 10
# Lambda's guidance: a visibility timeout of at least six times the function's timeout, so a
# batch retried after throttling is not delivered again while it still runs.
VISIBILITY_PER_TIMEOUT = 6
# Receives before a message moves to the dead-letter queue: a failed item's own retries (a
# batch's deferred items also come back, and count).
MAX_RECEIVE_COUNT = 5
RETENTION = cdk.Duration.days(4)
DLQ_RETENTION = cdk.Duration.days(14)
ALARM_PERIOD = cdk.Duration.minutes(5)
# Oldest message age that means the queue is not keeping up: the bench's 1,000 volumes drain
# in a few minutes at the default limits (bench/README.md, "Fleet scale").
MAX_AGE_SECONDS = 900
WIDTH = 24


class WorkQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        role: iam.IRole,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout = function.timeout or cdk.Duration.seconds(60)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=True,  # a FIFO queue's dead-letter queue must be FIFO too
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=True,
            content_based_deduplication=False,  # the sender hashes the item (adapters/aws.py)
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            visibility_timeout=cdk.Duration.seconds(
                VISIBILITY_PER_TIMEOUT * timeout.to_seconds()
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letter_queue
            ),
        )
        # A work item names the caller whose tags it carries (the allow-list checks it): only
        # the function may send one, whatever else an IAM policy of the account grants. For a
        # role's session aws:PrincipalArn is the role's ARN ("AWS global condition context
        # keys", aws:PrincipalArn).
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheFunctionSendsWork",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[contract.iam_action("sqs", "SendMessageBatch")],
                resources=[self.queue.queue_arn],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": role.role_arn}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SubmitWork",
                actions=[contract.iam_action("sqs", "SendMessageBatch")],
                resources=[self.queue.queue_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ConsumeWork",
                actions=list(contract.QUEUE_CONSUMER_ACTIONS),
                resources=[self.queue.queue_arn],
            )
        )
        # The mapping itself, not aws_lambda_event_sources.SqsEventSource: that one grants the
        # role more than polling needs (sqs:GetQueueUrl, sqs:ChangeMessageVisibility).
        self.mapping = lambda_.EventSourceMapping(
            self,
            "Mapping",
            target=function,
            event_source_arn=self.queue.queue_arn,
            batch_size=BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        self.mapping.node.add_dependency(role)
        function.add_environment(contract.WORK_QUEUE_VARIABLE, self.queue.queue_url)

        age = self.queue.metric_approximate_age_of_oldest_message(
            period=ALARM_PERIOD, statistic="Maximum"
        )
        depth = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic="Maximum"
        )
        self.alarms = [
            self._alarm("WorkQueueAge", age, MAX_AGE_SECONDS,
                        f"The oldest volume has waited over {MAX_AGE_SECONDS} s in the queue"),
            self._alarm("WorkDeadLetterQueueDepth", depth, 1,
                        "Volumes the registrar could not register after retries are waiting"),
        ]  # fmt: skip

    def _alarm(
        self, alarm_id: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            alarm_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def widgets(self, period: cdk.Duration) -> list[cloudwatch.IWidget]:
        """The dashboard's row for the queue: its backlog and age, and its dead letters."""
        visible = self.queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum", label="waiting"
        )
        in_flight = self.queue.metric_approximate_number_of_messages_not_visible(
            period=period, statistic="Maximum", label="in flight"
        )
        age = self.queue.metric_approximate_age_of_oldest_message(
            period=period, statistic="Maximum", label="oldest (s)"
        )
        dead = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum", label="messages"
        )
        axis = cloudwatch.YAxisProps(min=0, show_units=False)
        return [
            cloudwatch.GraphWidget(title="Work queue: volumes waiting", left=[visible, in_flight],
                                   width=WIDTH // 3, height=6, left_y_axis=axis),
            cloudwatch.GraphWidget(title="Work queue: age of the oldest volume (s)", left=[age],
                                   width=WIDTH // 3, height=6, left_y_axis=axis),
            cloudwatch.GraphWidget(title="Work dead-letter queue depth", left=[dead],
                                   width=WIDTH // 3, height=6, left_y_axis=axis),
        ]  # fmt: skip
