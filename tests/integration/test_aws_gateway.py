"""adapters/aws.py against a moto server over HTTP: DescribeVolumes, the tag sweep, status tags."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from devcluster.standins.harshness import settle
from registrar.adapters.aws import Ec2Volumes, domain_error
from registrar.core.errors import (
    ForbiddenError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    TransientError,
)


def _volume(ec2: object, tags: dict[str, str], **kwargs: object) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    params = {"AvailabilityZone": "us-east-1b", "Size": 20, "VolumeType": "gp3", **kwargs}
    return str(ec2.create_volume(TagSpecifications=spec, **params)["VolumeId"])  # type: ignore[attr-defined]


def test_describe_volume_reads_every_fact(ec2: object) -> None:
    volume_id = _volume(ec2, {"k8s-pv": "data", "k8s-pvc": "shop/data"})
    facts = Ec2Volumes("us-east-1").describe_volume(volume_id)
    assert facts.volume_id == volume_id
    assert (facts.size_gib, facts.availability_zone, facts.volume_type) == (20, "us-east-1b", "gp3")
    assert facts.tags == {"k8s-pv": "data", "k8s-pvc": "shop/data"}
    assert facts.multi_attach is False


def test_missing_volume_is_not_found(moto_endpoint: str) -> None:
    with pytest.raises(NotFoundError):
        Ec2Volumes("us-east-1").describe_volume("vol-0123456789abcdef0")


def test_write_status_writes_the_given_tags_in_one_call(ec2: object) -> None:
    volume_id = _volume(ec2, {"k8s-pv": "data"})
    status = "registered prod/data -> default/data"
    wanted = {"k8s-pv-status": status, "ebs.csi.aws.com/cluster": "true",
              "eks:eks-cluster-name": "prod"}  # fmt: skip
    Ec2Volumes("us-east-1").write_status(volume_id, wanted)
    tags = Ec2Volumes("us-east-1").describe_volume(volume_id).tags
    assert {key: tags[key] for key in wanted} == wanted


def test_remove_tags_removes_those_keys_only(ec2: object) -> None:
    volume_id = _volume(ec2, {"k8s-pv": "data", "ebs.csi.aws.com/cluster-name": "blue"})
    gateway = Ec2Volumes("us-east-1")
    gateway.remove_tags(volume_id, ["ebs.csi.aws.com/cluster-name", "eks:eks-cluster-name"])
    assert gateway.describe_volume(volume_id).tags == {"k8s-pv": "data"}


def test_attachments_are_the_instances_holding_the_volume(ec2: Any) -> None:
    volume_id = _volume(ec2, {"k8s-pv": "data"})
    image = ec2.describe_images()["Images"][0]["ImageId"]
    placement = {"AvailabilityZone": "us-east-1b"}
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   Placement=placement)["Instances"]  # fmt: skip
    gateway = Ec2Volumes("us-east-1")
    assert gateway.describe_volume(volume_id).attached_to == ()
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    try:
        assert gateway.describe_volume(volume_id).attached_to == (instance["InstanceId"],)
    finally:  # moto is shared: other modules delete every volume they find
        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance["InstanceId"])
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert gateway.describe_volume(volume_id).attached_to == ()


def test_tagged_volumes_lists_only_tagged_ones(ec2: object) -> None:
    tagged = {_volume(ec2, {"k8s-pv": f"sweep-{i}"}) for i in range(3)}
    _volume(ec2, {"Name": "untagged"})
    settle()  # until EC2 lists them
    found = {f.volume_id for f in Ec2Volumes("us-east-1").tagged_volumes()}
    assert tagged <= found
    assert all("k8s-pv" in f.tags for f in Ec2Volumes("us-east-1").tagged_volumes())


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("InvalidVolume.NotFound", 400, NotFoundError),
        ("UnauthorizedOperation", 403, ForbiddenError),
        ("AccessDenied", 403, ForbiddenError),
        ("RequestLimitExceeded", 503, TransientError),
        ("InternalError", 500, TransientError),
        ("SomethingNew", 502, TransientError),
        ("InvalidParameterValue", 400, RejectedError),
        ("SomethingNew", 400, ProtocolError),
    ],
)
def test_error_mapping(code: str, status: int, expected: type) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeVolumes",
    )
    mapped = domain_error("DescribeVolumes", error)
    assert type(mapped) is expected
    assert mapped.retryable == (expected is TransientError)
