"""The built asset alone runs the handler: a clean interpreter of the runtime's version whose
sys.path holds the asset and the runtime's boto3/botocore, nothing else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devcluster.standins.lambda_runtime import lambda_env
from registrar.adapters.aws import Ec2Volumes
from tests.support import eventfactory as ef

pytestmark = pytest.mark.slow

MAX_UNZIPPED = 30 * 1024 * 1024
NEVER_IMPORTED = (
    "kubernetes/aio", "kubernetes/client/api", "kubernetes/client/models",
    "aiohttp", "pydantic", "pydantic_core", "boto3", "s3transfer", "requests",
)  # fmt: skip
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"

RUN_ONE_EVENT = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
event = json.loads(sys.argv[3])

class Context:
    function_name = "ebs-pv-registrar"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:ebs-pv-registrar"
    aws_request_id = "00000000-0000-0000-0000-000000000001"

    def get_remaining_time_in_millis(self):
        return 60_000

import registrar.handler as handler
result = handler.lambda_handler(event, Context())
import botocore
print(json.dumps({
    "result": result,
    "botocore": botocore.__file__,
    "modules": sorted(sys.modules),
}))
"""


def asset_env(asset: Path, **extra: str) -> dict[str, str]:
    trace = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=0"
    return lambda_env(asset, _X_AMZN_TRACE_ID=trace, **extra)


def run_event(
    python: str, asset: Path, runtime: Path, event: dict[str, Any], **env: str
) -> dict[str, Any]:
    argv = [python, "-I", "-S", "-c", RUN_ONE_EVENT, str(asset), str(runtime), json.dumps(event)]
    done = subprocess.run(
        argv, env=asset_env(asset, **env), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_asset_is_at_most_30_mb_unzipped(asset: Path) -> None:
    size = sum(f.stat().st_size for f in asset.rglob("*") if f.is_file() and not f.is_symlink())
    assert size <= MAX_UNZIPPED, f"{size / 2**20:.1f} MB"


def test_asset_leaves_out_what_the_function_never_imports(asset: Path) -> None:
    for gone in NEVER_IMPORTED:
        assert not (asset / gone).exists(), gone
    services = {p.name for p in (asset / "botocore" / "data").iterdir() if p.is_dir()}
    assert services == {"cloudtrail", "ec2", "eks", "sqs", "sts"}


def test_untagged_create_volume_is_ignored_from_the_asset_alone(
    target_python: str, asset: Path, runtime_dir: Path
) -> None:
    event = ef.create_volume("vol-0123456789abcdef0", {"Name": "scratch"})
    # No AWS endpoint at all: an ignored event must not touch the network.
    out = run_event(target_python, asset, runtime_dir, event, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert [o["result"] for o in out["result"]["outcomes"]] == ["ignored"]
    assert out["botocore"].startswith(str(asset))  # our trimmed botocore shadows the runtime's
    modules = set(out["modules"])
    never_imported = ("boto3", "s3transfer", "aiohttp", "pydantic", "kubernetes.client.api")
    # Cut from the cold start: the X-Ray SDK (no tracing SDK, see handler.py), powertools'
    # data classes, botocore's documentation writers (deferred by asset/trim.py).
    cut = ("aws_xray_sdk", "aws_lambda_powertools.utilities.data_classes", "botocore.docs.method")
    for never in (*never_imported, *cut):
        assert never not in modules, never


def test_invalid_tags_get_a_status_tag_through_the_trimmed_botocore(
    target_python: str, asset: Path, runtime_dir: Path, ec2: Any, moto_endpoint: str
) -> None:
    """DescribeVolumes and CreateTags against moto with the asset's trimmed EC2 model."""
    spec = [{"ResourceType": "volume", "Tags": [{"Key": "k8s-pv", "Value": "Not_A_Name"}]}]
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=1, VolumeType="gp3", TagSpecifications=spec
    )["VolumeId"]
    event = ef.ebs_notification(volume_id)
    out = run_event(target_python, asset, runtime_dir, event, AWS_ENDPOINT_URL=moto_endpoint)
    assert [o["result"] for o in out["result"]["outcomes"]] == ["invalid"]
    tags = Ec2Volumes("us-east-1").describe_volume(volume_id).tags
    assert tags["k8s-pv-status"].startswith("error: ")
