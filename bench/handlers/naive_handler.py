"""The naive registrar the benchmark compares against: the same registration written the usual
way, with powertools (Logger, Metrics, Tracer), the full `kubernetes` client and boto3 clients
created at module level. It handles the benchmark's two events like ours: an untagged
CreateVolume is ignored; a tagged, complete CreateVolume record gives DescribeCluster, an EKS
token, POST PV, POST PVC, two Events and CreateTags."""

from __future__ import annotations

import base64
import datetime as dt
import os
import tempfile
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from kubernetes import client as k8s

logger = Logger(service="naive-registrar")
metrics = Metrics(namespace="NaiveRegistrar", service="naive-registrar")
tracer = Tracer(service="naive-registrar")
ec2 = boto3.client("ec2")
eks = boto3.client("eks")
sts = boto3.client("sts")
CLUSTER = os.environ.get("REGISTRAR_DEFAULT_CLUSTER", "prod")


def eks_token(cluster: str) -> str:
    """The widespread snippet: a presigned GetCallerIdentity carrying x-k8s-aws-id."""

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
    )
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def core_api(cluster: str) -> k8s.CoreV1Api:
    info = eks.describe_cluster(name=cluster)["cluster"]
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as ca:
        ca.write(base64.b64decode(info["certificateAuthority"]["data"]))
    config = k8s.Configuration(host=info["endpoint"])
    config.ssl_ca_cert = ca.name
    config.api_key = {"authorization": "Bearer " + eks_token(cluster)}
    return k8s.CoreV1Api(k8s.ApiClient(config))


def event_for(kind: str, name: str, namespace: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {
        "metadata": {"generateName": f"{name}."},
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
        "reason": "Registered",
        "message": f"registered by the naive registrar ({kind})",
        "type": "Normal",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "naive-registrar"},
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail", {})
    response = detail.get("responseElements") or {}
    tags: dict[str, str] = {}
    for spec in detail.get("requestParameters", {}).get("tagSpecificationSet", {}).get("items", []):
        tags.update({t["key"]: t["value"] for t in spec.get("tags", [])})
    if "k8s-pv" not in tags:
        return {"outcomes": [{"result": "ignored"}]}
    volume_id, pv = response["volumeId"], tags["k8s-pv"]
    namespace, _, pvc = tags.get("k8s-pvc", f"default/{pv}").rpartition("/")
    namespace = namespace or "default"
    api: Any = core_api(CLUSTER)  # the client accepts plain dicts as bodies
    api.create_persistent_volume(
        {
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": f"{response['size']}Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id, "fsType": "ext4"},
                "claimRef": {"namespace": namespace, "name": pvc},
            },
        }
    )
    api.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": pvc, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": pv,
                "resources": {"requests": {"storage": f"{response['size']}Gi"}},
            },
        },
    )
    api.create_namespaced_event(namespace, event_for("PersistentVolume", pv, namespace))
    api.create_namespaced_event(namespace, event_for("PersistentVolumeClaim", pvc, namespace))
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "k8s-pv-status", "Value": "registered"}])
    metrics.add_metric(name="Registered", unit=MetricUnit.Count, value=1)
    return {"outcomes": [{"result": "registered", "volume_id": volume_id}]}
