"""asset/trim.py: the trimmed botocore keeps exactly the operations the registrar
declares (AWS_OPERATIONS beside the calls), each of them runs from the built asset, and the
deferred documentation imports still produce docstrings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asset import build as bundling
from asset import trim as asset_trim
from devcluster.standins.cloudtrail import CloudTrailStandIn
from devcluster.standins.lambda_runtime import lambda_env
from tests.support import eventfactory as ef

DECLARED = asset_trim.declared_operations(bundling.ASSET_ROOT / bundling.PACKAGE)

# Runs every declared operation through the registrar's own AWS adapters, in the asset's
# interpreter, and prints the operations botocore made (its before-call event).
EVERY_OPERATION = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
volume_id, tagged_id, role_arn, queue_url = sys.argv[3:7]
import botocore.session

made = []
session = botocore.session.get_session()
session.register("before-call", lambda model, **_: made.append(model.name))
from registrar.adapters import aws
volumes = aws.Ec2Volumes("us-east-1", session)
facts = volumes.describe_volume(volume_id)
tagged = sorted(v.volume_id for v in volumes.tagged_volumes())  # the DescribeVolumes paginator
existing = sorted(volumes.existing_ids([volume_id, "vol-00000000000000000"]))
volumes.write_status(volume_id, {"k8s-pv-status": "registered"})
volumes.remove_tags(volume_id, ["ebs.csi.aws.com/cluster-name"])
cluster = aws.EksDirectory("us-east-1", session).describe_cluster("prod")
credentials = aws.assume_role_credentials(role_arn, "us-east-1", session)
writers = aws.CloudTrailIdentities("us-east-1", session).who_set(tagged_id, ["k8s-pv"])
principals = writers.get("k8s-pv", ())
from registrar.core.work import WorkItem
aws.SqsWorkQueue(queue_url, "us-east-1", session).submit([WorkItem(volume_id, "tagged", "cli")])
import botocore
print(json.dumps({
    "made": sorted(set(made)),
    "botocore": botocore.__file__,
    "size": facts.size_gib,
    "tagged": tagged,
    "existing": existing,
    "endpoint": cluster.endpoint,
    "access_key": credentials.access_key,
    "principals": list(principals),
    "docs_loaded": sorted(m for m in sys.modules if m.startswith("botocore.docs.")),
    "docstring": len(str(volumes._ec2.describe_volumes.__doc__)),
    "docs_after": "botocore.docs.method" in sys.modules,
}))
"""




def test_the_registrar_declares_its_aws_operations() -> None:
    assert {
        "ec2": {"DescribeVolumes", "CreateTags", "DeleteTags"},
        "eks": {"DescribeCluster"},
        "sts": {"AssumeRole"},
        "cloudtrail": {"LookupEvents"},
        "sqs": {"SendMessageBatch"},
    } == DECLARED


@pytest.mark.slow
def test_the_trimmed_models_keep_exactly_the_declared_operations(asset: Path) -> None:
    data = asset / "botocore" / "data"
    kept = {}
    for service in (p for p in data.iterdir() if p.is_dir()):
        (version,) = [p for p in service.iterdir() if p.is_dir()]
        model = json.loads((version / "service-2.json").read_text())
        kept[service.name] = set(model["operations"])
        assert not list(version.glob("waiters-*")), service.name
    assert kept == DECLARED


@pytest.mark.slow
def test_every_declared_operation_runs_from_the_asset(
    target_python: str,
    asset: Path,
    runtime_dir: Path,
    ec2: Any,
    moto_endpoint: str,
    trail: CloudTrailStandIn,
) -> None:
    """Against moto (EC2, EKS, STS, SQS) and a LookupEvents stand-in (moto has no CloudTrail
    lookups), through the asset's trimmed botocore, nothing else on the path."""
    import boto3  # noqa: PLC0415 - the test's own client, never the asset's

    spec = [{"ResourceType": "volume", "Tags": [{"Key": "k8s-pv", "Value": "data"}]}]
    volume_id = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=3, VolumeType="gp3", TagSpecifications=spec
    )["VolumeId"]
    eks = boto3.client("eks", region_name="us-east-1")
    if "prod" not in eks.list_clusters()["clusters"]:
        eks.create_cluster(
            name="prod",
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": []},
        )
    role_arn = "arn:aws:iam::123456789012:role/registrar"
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(
        QueueName="asset-work.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    record = ef.create_tags([volume_id], {"k8s-pv": "data"})["detail"]
    trail.record(record, lag=0)
    argv = [target_python, "-I", "-S", "-c", EVERY_OPERATION, str(asset), str(runtime_dir)]
    env = lambda_env(
        asset, AWS_ENDPOINT_URL=moto_endpoint, AWS_ENDPOINT_URL_CLOUDTRAIL=trail.url
    )
    done = subprocess.run(
        [*argv, volume_id, volume_id, role_arn, queue_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["botocore"].startswith(str(asset))
    assert set(out["made"]) == set().union(*DECLARED.values())
    assert out["size"] == 3 and volume_id in out["tagged"]
    assert out["existing"] == [volume_id]
    assert out["endpoint"] and out["access_key"]
    assert out["principals"], "LookupEvents' record names the caller"
    # Documentation machinery: not imported by the calls, still there when a docstring is read.
    assert "botocore.docs.method" not in out["docs_loaded"]
    assert out["docstring"] > 0 and out["docs_after"]


def test_a_changed_botocore_fails_the_build_not_the_function(tmp_path: Path) -> None:
    docs = tmp_path / "botocore" / "docs"
    docs.mkdir(parents=True)
    (docs / "__init__.py").write_text("import os\n")
    (docs / "docstring.py").write_text("")
    with pytest.raises(asset_trim.TrimError, match="botocore changed"):
        asset_trim.defer_botocore_docs(tmp_path)


def test_an_undeclared_or_unknown_operation_fails_the_build() -> None:
    model: dict[str, Any] = {"operations": {"DescribeVolumes": {}}, "shapes": {}}
    with pytest.raises(asset_trim.TrimError, match="DescribeVolume"):
        asset_trim.trim_model(model, {"DescribeVolume"})


def test_declarations_are_read_without_importing_the_package(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import does_not_exist\nAWS_OPERATIONS = {'ec2': ('CreateTags',)}\n"
    )
    (tmp_path / "b.py").write_text(
        "class C:\n    AWS_OPERATIONS: ClassVar[X] = {'ec2': ('DescribeVolumes',)}\n"
    )
    assert asset_trim.declared_operations(tmp_path) == {"ec2": {"CreateTags", "DescribeVolumes"}}


def test_the_docker_path_runs_the_same_text_with_python_c(tmp_path: Path) -> None:
    """docker_command passes the module's text to `python -I -c`, as the environment says."""
    (tmp_path / "boto3").mkdir()
    (tmp_path / "kept.py").write_text("")
    argv = [sys.executable, "-I", "-c", bundling.FINISH_SCRIPT, str(tmp_path), "0", "/var/task"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.py"]
    assert "$REGISTRAR_FINISH" in " ".join(bundling.docker_command())
