"""EventBridge rules that invoke the registrar, filtered so unrelated calls never do."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from registrar.core import contract

# Tag keys a user sets (README: Tags). The registrar's own writes (k8s-pv-status,
# ebs.csi.aws.com/cluster) are deliberately absent: listing them would make every
# status write re-invoke the function, a loop.
INPUT_TAG_KEYS = contract.INPUT_TAG_KEYS
CLOUDTRAIL = "AWS API Call via CloudTrail"
VOLUME_ID = [{"prefix": "vol-"}]
SUCCEEDED = [{"exists": False}]  # a CloudTrail record with an errorCode is a failed call


def _cloudtrail(event_name: list[str], request: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": ["aws.ec2"],
        "detail-type": [CLOUDTRAIL],
        "detail": {
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": event_name,
            "errorCode": SUCCEEDED,
            "requestParameters": request,
        },
    }


def event_patterns() -> dict[str, dict[str, Any]]:
    """Every rule's pattern by construct id (plain JSON, as EventBridge receives it)."""
    return {
        "CloudTrailCreateVolume": _cloudtrail(
            ["CreateVolume"],
            {"tagSpecificationSet": {"items": {"tags": {"key": ["k8s-pv"]}}}},
        ),
        # Any element matches: the call must name a volume and set or remove an input key.
        "CloudTrailTagsChanged": _cloudtrail(
            ["CreateTags", "DeleteTags"],
            {
                "resourcesSet": {"items": {"resourceId": VOLUME_ID}},
                "tagSet": {"items": {"key": list(INPUT_TAG_KEYS)}},
            },
        ),
        # DetachVolume: a volume waiting for its detach (attached elsewhere, moving to another
        # cluster) goes on at once instead of at the next sweep.
        "CloudTrailDeleteVolume": _cloudtrail(
            ["DeleteVolume", "DetachVolume"], {"volumeId": VOLUME_ID}
        ),
        # No tags in these: the handler looks the volume up. A failed createVolume is
        # left out on purpose (the handler ignores it; invoking it would only cost).
        "EbsVolumeNotification": {
            "source": ["aws.ec2"],
            "detail-type": ["EBS Volume Notification"],
            "detail": {
                # modifyVolume: a grown volume's PV follows (its result is the modification's
                # state; `failed` is left out like a failed createVolume).
                "event": ["createVolume", "deleteVolume", "modifyVolume"],
                "result": ["available", "deleted", "optimizing", "completed"],
            },
        },
        "TagChangeOnVolume": {
            "source": ["aws.tag"],
            "detail-type": ["Tag Change on Resource"],
            "detail": {
                "service": ["ec2"],
                "resource-type": ["volume"],
                "changed-tag-keys": list(INPUT_TAG_KEYS),
            },
        },
    }


def _event_pattern(raw: dict[str, Any]) -> events.EventPattern:
    return events.EventPattern(
        source=raw["source"], detail_type=raw["detail-type"], detail=raw["detail"]
    )


class EventRules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        reconcile_schedule: str,
        retry_attempts: int,
        max_event_age: cdk.Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}

        def target() -> targets.LambdaFunction:
            return targets.LambdaFunction(
                function,
                dead_letter_queue=dead_letter_queue,
                retry_attempts=retry_attempts,
                max_event_age=max_event_age,
            )

        for rule_id, pattern in event_patterns().items():
            self.rules[rule_id] = events.Rule(
                self,
                rule_id,
                description=f"ebs-pv-registrar: {rule_id}",
                event_pattern=_event_pattern(pattern),
                targets=[target()],
            )
        self.rules["Reconcile"] = events.Rule(
            self,
            "Reconcile",
            description="ebs-pv-registrar: periodic reconcile of every tagged volume",
            schedule=events.Schedule.expression(reconcile_schedule),
            targets=[target()],
        )
