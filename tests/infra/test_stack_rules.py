"""Event rules: one per event shape plus the reconcile schedule, each target retried and DLQ'd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stacks.constructs.event_rules import event_patterns
from tests.infra.conftest import Synth

PATTERN_RULES = sorted(event_patterns())


def rules(result: Synth) -> dict[str, dict[str, Any]]:
    """Rule properties by construct id (from the description)."""
    found = {}
    for rule in result.resources("AWS::Events::Rule").values():
        props = rule["Properties"]
        if props["Description"].startswith("ebs-pv-registrar: "):
            found[props["Description"].removeprefix("ebs-pv-registrar: ")] = props
    return found


def test_one_rule_per_event_shape_and_a_schedule(minimal: Synth) -> None:
    found = rules(minimal)
    assert sorted(k for k in found if "EventPattern" in found[k]) == PATTERN_RULES
    minimal.template.resource_count_is("AWS::Events::Rule", len(PATTERN_RULES) + 1)
    schedule = [p for p in minimal.resources("AWS::Events::Rule").values()
                if "ScheduleExpression" in p["Properties"]]  # fmt: skip
    assert [s["Properties"]["ScheduleExpression"] for s in schedule] == ["rate(1 hour)"]


def test_schedule_from_context(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", reconcileSchedule="cron(0 3 * * ? *)")
    result.template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 * * ? *)"}
    )


def test_every_target_has_retry_policy_age_and_dlq(minimal: Synth) -> None:
    function = next(iter(minimal.resources("AWS::Lambda::Function")))
    queue = next(iter(minimal.resources("AWS::SQS::Queue")))
    all_rules = minimal.resources("AWS::Events::Rule").values()
    targets = [t for rule in all_rules for t in rule["Properties"]["Targets"]]
    assert len(targets) == len(PATTERN_RULES) + 1
    for target in targets:
        assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 8,
            "MaximumEventAgeInSeconds": 7200,
        }
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}


def test_rules_may_invoke_the_function(minimal: Synth) -> None:
    permissions = minimal.resources("AWS::Lambda::Permission").values()
    principals = [p["Properties"]["Principal"] for p in permissions]
    assert principals == ["events.amazonaws.com"] * (len(PATTERN_RULES) + 1)


def test_template_patterns_are_the_designed_ones(minimal: Synth) -> None:
    found = rules(minimal)
    for rule_id, pattern in event_patterns().items():
        assert found[rule_id]["EventPattern"] == pattern
