"""The Lambda entry point with its Powertools decorators: one log line and a metric per outcome."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from devcluster.standins.harshness import settle
from devcluster.standins.kmockthread import OneCluster
from registrar import handler
from registrar.adapters.aws import Ec2Volumes
from registrar.core.settings import Settings
from registrar.engine.ports import KubePort
from registrar.engine.service import Registrar
from tests.support import eventfactory as ef
from tests.support.fakes import FakeClusters, FakeKube


@dataclass
class Context:
    function_name: str = "ebs-pv-registrar"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:ebs-pv-registrar"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class Output:
    """What the function prints: Powertools log lines and EMF metric records. `handle` is the
    Lambda entry point over `registrar`."""

    def __init__(
        self, registrar: Registrar, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.registrar = registrar
        self.handle = handler.handler_for(lambda: self.registrar)
        self._logs = logs
        self._capsys = capsys

    def records(self) -> list[dict[str, Any]]:
        text = self._logs.getvalue() + self._capsys.readouterr().out
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def output(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moto_endpoint: str,
    kube: KubePort,
) -> Output:
    settings = Settings(default_cluster="prod")
    registrar = Registrar(settings, Ec2Volumes("us-east-1"), OneCluster(kube))
    logs = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", logs)
    handler.metrics.clear_metrics()  # other tests call handle() without the flushing decorator
    return Output(registrar, logs, capsys)


def metrics_of(records: list[dict[str, Any]]) -> dict[str, float]:
    found: dict[str, float] = {}
    for record in records:
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def test_malformed_event_is_one_log_line_and_a_metric(
    output: Output,
) -> None:
    answer = output.handle({"detail-type": 7}, Context())
    assert answer["outcomes"][0]["result"] == "invalid"
    records = output.records()
    warnings = [r for r in records if r.get("level") == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0]["message"] == "invalid event"
    assert warnings[0]["field"] == "detail-type"
    assert warnings[0]["function_request_id"] == Context.aws_request_id
    assert metrics_of(records) == {"InvalidInput": 1.0}


def test_registration_counts_and_logs(
    output: Output, ec2: Any
) -> None:
    tags = [{"Key": "k8s-pv", "Value": "handler-path"}]
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=4,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )["VolumeId"]
    event = ef.create_volume(volume_id, {"k8s-pv": "handler-path"}, size=4)
    answer = output.handle(event, Context())
    assert answer["outcomes"][0]["result"] == "registered"
    assert answer["outcomes"][0]["objects"] == [
        "created pv/handler-path",
        "created pvc/default/handler-path",
    ]
    records = output.records()
    assert metrics_of(records) == {"Registered": 1.0}
    registered = [r for r in records if r.get("message") == "registered"]
    assert [r["volume_id"] for r in registered] == [volume_id]


def test_invalid_tag_logs_the_tag_and_rule(
    output: Output, ec2: Any
) -> None:
    tags = [{"Key": "k8s-pv", "Value": "ok"}, {"Key": "k8s-fstype", "Value": "zfs"}]
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=4,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )["VolumeId"]
    event = ef.create_volume(volume_id, {"k8s-pv": "ok", "k8s-fstype": "zfs"})
    output.handle(event, Context())
    records = output.records()
    invalid = [r for r in records if r.get("message") == "invalid input"]
    assert len(invalid) == 1
    assert (invalid[0]["tag"], invalid[0]["volume_id"]) == ("k8s-fstype", volume_id)
    assert "one of ext4, xfs, ext3" in invalid[0]["rule"]
    assert metrics_of(records) == {"InvalidInput": 1.0}


def test_a_refusal_settles_with_one_error_line_and_a_metric(output: Output, ec2: Any) -> None:
    """A claim in a namespace that does not exist: no exception, so no retry and no DLQ."""
    missing_namespace = FakeKube(namespaces=())
    settings = Settings(default_cluster="prod")
    output.registrar = Registrar(
        settings, Ec2Volumes("us-east-1"), FakeClusters(prod=missing_namespace)
    )
    tags = {"k8s-pv": "typo", "k8s-pvc": "shpo/typo"}
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=4,
        TagSpecifications=[{"ResourceType": "volume",
                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["VolumeId"]  # fmt: skip
    answer = output.handle(ef.create_volume(volume_id, tags), Context())
    assert [o["result"] for o in answer["outcomes"]] == ["refused"]
    records = output.records()
    assert metrics_of(records) == {"ClusterRefused": 1.0}
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert [(r["message"], r["reason"]) for r in errors] == [
        ("refused", 'k8s-pvc: namespace "shpo" does not exist')
    ]
    status = Ec2Volumes("us-east-1").describe_volume(volume_id).tags["k8s-pv-status"]
    assert status == 'error: k8s-pvc: namespace "shpo" does not exist'


class NearlyOutOfTime(Context):
    def get_remaining_time_in_millis(self) -> int:
        return 2_000


def test_a_scheduled_sweep_without_time_even_to_list_is_deferred(
    output: Output, ec2: Any
) -> None:
    ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=4,
        TagSpecifications=[{"ResourceType": "volume",
                            "Tags": [{"Key": "k8s-pv", "Value": "late"}]}],
    )  # fmt: skip
    settle()  # until EC2 lists it
    answer = output.handle(ef.scheduled(), NearlyOutOfTime())
    [outcome] = answer["outcomes"]
    assert outcome["result"] == "deferred"  # too little time even to list the cluster
    assert "left for the next run" in outcome["detail"]
