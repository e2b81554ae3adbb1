"""The operator's dashboard: the handler's outcome metrics, duration, throttles, DLQ, alarms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registrar.core.contract import FAILED_METRIC, OUTCOME_METRICS
from render.dashboard import alarm_name, render
from stacks.constructs import failure_handling
from stacks.constructs.dashboard import LIFECYCLE_OUTCOMES, REGISTRATION_OUTCOMES
from tests.infra.conftest import REPO_ROOT, Synth


def body(result: Synth) -> dict[str, Any]:
    """The dashboard body with the stack's references named ({"Ref": X} -> "<X>")."""
    [dashboard] = result.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(
        p if isinstance(p, str) else f"<{p.get('Ref') or '.'.join(p['Fn::GetAtt'])}>" for p in parts
    )
    return dict(json.loads(text))


def metrics(widget: dict[str, Any]) -> list[list[Any]]:
    return list(widget["properties"].get("metrics", []))


def titled(result: Synth, title: str) -> dict[str, Any]:
    [widget] = [w for w in body(result)["widgets"] if w["properties"].get("title") == title]
    return dict(widget)


def test_every_outcome_of_the_handler_is_on_the_dashboard() -> None:
    """One map (the contract's): the handler counts by it, the dashboard and the alarm draw it."""
    assert {**REGISTRATION_OUTCOMES, **LIFECYCLE_OUTCOMES} == OUTCOME_METRICS
    assert failure_handling.REGISTRATION_FAILED_METRIC == FAILED_METRIC == "RegistrationFailed"
    assert set(REGISTRATION_OUTCOMES) == {
        "registered",
        "unchanged",
        "invalid",
        "conflict",
        "refused",
        "failed",
    }


def test_registrations_by_outcome_use_powertools_namespace_and_service(minimal: Synth) -> None:
    widget = titled(minimal, "Registrations by outcome")
    names = []
    for metric in metrics(widget):
        namespace, name, dimension, service, options = metric
        assert (namespace, dimension, service) == ("EbsPvRegistrar", "service", "ebs-pv-registrar")
        assert options["stat"] == "Sum"
        names.append(name)
    assert names == list(REGISTRATION_OUTCOMES.values())


def test_duration_percentiles_throttles_dlq_and_alarms(minimal: Synth) -> None:
    duration = metrics(titled(minimal, "Duration (ms)"))
    assert [m[:2] for m in duration] == [["AWS/Lambda", "Duration"]] * 2
    assert [m[-1]["stat"] for m in duration] == ["p50", "p99"]
    lambda_metrics = [m[1] for m in metrics(titled(minimal, "Invocations, errors, throttles"))]
    assert lambda_metrics == ["Invocations", "Errors", "Throttles"]
    [dlq] = metrics(titled(minimal, "Dead-letter queue depth"))
    assert dlq[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]
    alarms = titled(minimal, "Alarms")["properties"]["alarms"]
    assert len(alarms) == len(minimal.resources("AWS::CloudWatch::Alarm")) == 3


def test_url_is_a_stack_output(minimal: Synth) -> None:
    url = minimal.raw["Outputs"]["DashboardUrl"]["Value"]["Fn::Join"][1]
    dashboard = next(iter(minimal.resources("AWS::CloudWatch::Dashboard")))
    assert {"Ref": dashboard} in url
    assert "console.aws.amazon.com/cloudwatch/home?region=" in "".join(
        p for p in url if isinstance(p, str)
    )


def test_dashboard_can_be_left_out(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", createDashboard=False)
    result.template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    assert "DashboardUrl" not in result.raw["Outputs"]


def test_the_picture_renders_from_these_widgets(minimal: Synth, tmp_path: Path) -> None:
    """scripts/render-dashboard draws docs/dashboard.png from the same widget definitions."""
    picture = tmp_path / "dashboard.png"
    render(body(minimal), picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert alarm_name("<FailureHandlingDeadLetterQueueDepthA02FDB3F.Arn>") == (
        "DeadLetterQueueDepth"
    )
    assert (REPO_ROOT / "docs" / "dashboard.png").is_file()
