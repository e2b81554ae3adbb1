"""`python -m registrar render|register` as a user runs it: exit codes, output, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.events import EVENTS, sample_event_names
from tests.support.helpers import assert_valid_manifest

SAMPLE_VOLUMES = ("vol-0a1b2c3d4e5f60718", "vol-0f9e8d7c6b5a43210")
IGNORED = {
    "cloudtrail-delete-tags.json": "k8s-pv removed",
    "cloudtrail-delete-volume.json": "deleted",
    "ebs-create-volume-failed.json": "ended 'failed'",
    "ebs-delete-volume.json": "deleted",
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registrar", *args],
        capture_output=True,
        check=False,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "lambdas"), **(env or {})},
        timeout=60,
    )


def write_event(tmp_path: Path, event: dict[str, Any] | str) -> Path:
    path = tmp_path / "event.json"
    path.write_text(event if isinstance(event, str) else json.dumps(event))
    return path


def sample_on_moto(name: str, ec2: Any) -> str:
    """The sample, its made-up volume ids replaced by a real moto volume with the same tags."""
    text = (EVENTS / name).read_text()
    tags = [
        {"Key": "k8s-pv", "Value": "reports-archive"},
        {"Key": "k8s-pvc", "Value": "analytics/reports"},
    ]
    volume = ec2.create_volume(
        AvailabilityZone="us-east-1c",
        Size=8,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )
    for made_up in SAMPLE_VOLUMES:
        text = text.replace(made_up, volume["VolumeId"])
    return text


@pytest.mark.parametrize("name", sample_event_names())
def test_render_every_documented_sample(name: str, tmp_path: Path, ec2: Any) -> None:
    result = run_cli("render", "--event", str(write_event(tmp_path, sample_on_moto(name, ec2))))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    listing = json.loads(result.stdout)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    if name in IGNORED:
        assert listing["items"] == []
        assert result.stderr.startswith("ignored: ") and IGNORED[name] in result.stderr
        return
    kinds = [item["kind"] for item in listing["items"]]
    assert kinds == ["PersistentVolume", "PersistentVolumeClaim"]
    for item in listing["items"]:
        assert_valid_manifest(item)
    assert "ebs-pv-registrar/cluster" not in listing["items"][0]["metadata"]["annotations"]


def test_render_create_volume_needs_no_aws(tmp_path: Path) -> None:
    event = json.loads((EVENTS / "cloudtrail-create-volume.json").read_text())
    result = run_cli(
        "render", "--event", str(write_event(tmp_path, event)),
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "REGISTRAR_DEFAULT_CLUSTER": "prod"},
    )
    assert result.returncode == 0, result.stderr
    pv, pvc = json.loads(result.stdout)["items"]
    assert pv["metadata"]["name"] == "orders-db"
    assert pv["metadata"]["annotations"]["ebs-pv-registrar/cluster"] == "prod"
    assert pv["spec"]["csi"] == {
        "driver": "ebs.csi.aws.com",
        "volumeHandle": "vol-0a1b2c3d4e5f60718",
        "fsType": "xfs",
    }
    assert pv["spec"]["capacity"] == {"storage": "50Gi"}
    assert (pvc["metadata"]["namespace"], pvc["metadata"]["name"]) == ("shop", "orders-db-data")


def test_render_the_readme_example(tmp_path: Path) -> None:
    result = run_cli("render", "--event", "examples/create-volume-event.json")
    assert result.returncode == 0, result.stderr
    pv, pvc = json.loads(result.stdout)["items"]
    assert pv["spec"]["capacity"]["storage"] == "10Gi"
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["ap-northeast-1a"]
    assert pvc["spec"]["volumeName"] == "ebs-test-volume"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "error: "),
        ("[]", "error: event: must be a JSON object"),
        ('{"source": "aws.ec2", "region": "us-east-1"}', "error: detail-type: "),
    ],
)
def test_render_bad_events_exit_2(tmp_path: Path, content: str, message: str) -> None:
    result = run_cli("render", "--event", str(write_event(tmp_path, content)))
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_render_invalid_tag_exits_2_naming_the_tag(tmp_path: Path) -> None:
    event = json.loads((EVENTS / "cloudtrail-create-volume.json").read_text())
    tags = event["detail"]["requestParameters"]["tagSpecificationSet"]["items"][0]["tags"]
    tags.append({"key": "k8s-pvc", "value": "kube-system/steal"})
    result = run_cli("render", "--event", str(write_event(tmp_path, event)))
    assert result.returncode == 2
    assert result.stderr == "error: k8s-pvc: namespace 'kube-system' is not allowed\n"
    assert json.loads(result.stdout)["items"] == []


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    event = (EVENTS / "cloudtrail-create-volume.json").read_text()
    env = {"REGISTRAR_DEFAULT_CLUSTER": "a", "REGISTRAR_ALLOWED_CLUSTERS": "b"}
    result = run_cli("render", "--event", str(write_event(tmp_path, event)), env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: REGISTRAR_DEFAULT_CLUSTER: ")


def test_register_reports_a_missing_volume_without_traceback(moto_endpoint: str) -> None:
    result = run_cli("register", "vol-0123456789abcdef0", "--region", "us-east-1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_register_invalid_tags_exit_2_and_tag_the_volume(moto_endpoint: str, ec2: Any) -> None:
    tags = [{"Key": "k8s-pv", "Value": "Not_Valid"}]
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )["VolumeId"]
    result = run_cli("register", volume_id, "--region", "us-east-1", "--cluster", "prod")
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("invalid: k8s-pv: must be a DNS-1123 subdomain")
    described = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Tags"]
    status = {t["Key"]: t["Value"] for t in described}["k8s-pv-status"]
    assert status.startswith("error: k8s-pv: ")
