"""`python -m registrar demo`: the README's scenario end to end, on this machine.

moto plays AWS (EC2, EKS, IAM, STS); the local control plane (etcd + kube-apiserver + the PV
binder, kube-scheduler and the Deployment controllers, built by tests/controlplane/build.sh)
plays EKS, checking EKS tokens against moto's STS; it has one node per zone (API objects, no
kubelet). A 10 GiB gp3 volume tagged k8s-pv=ebs-test-volume, k8s-pvc=ebs-test-volume-pvc is
created; its CloudTrail event goes through the EventBridge rule patterns and the Lambda
handler, which registers it with nothing but its own IAM role; the claim binds. Then the
tutorial's busybox Deployment (no nodeSelector) mounts the claim: its pod is scheduled in
the volume's zone, and again after the pod is deleted and after the Deployment is redeployed.
Everything started is stopped and every temporary file removed, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from devcluster.demo.events import create_volume_event
from devcluster.demo.workload import DEPLOYMENT_FILE, Placement, wait_scheduled
from devcluster.standins import access
from devcluster.standins.certs import make_tls
from devcluster.standins.controlplane import REPO, ControlPlane, build_binary
from devcluster.standins.eventbridge import matches
from devcluster.standins.identity import (
    GROUP,
    USERNAME,
    assume_role,
    create_eks_cluster,
    create_role,
    wiring_for,
)
from devcluster.standins.motoserver import LOCAL_AWS_ENV, MotoServer, environment
from devcluster.standins.nodes import ZONE_LABEL, add_zone_node

REGION = "ap-northeast-1"
ZONE = "ap-northeast-1a"
NODE_ZONES = ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
APP = "ebs-test-app"
CLUSTER = "demo"
TAGS = {"k8s-pv": "ebs-test-volume", "k8s-pvc": "ebs-test-volume-pvc"}
NAMESPACE = "default"
BIND_TIMEOUT = 30.0
KUBECTL = Path(sys.executable).parent / "kubectl"
STEPS = 11


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the Lambda context."""

    function_name: str = "ebs-pv-registrar"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:123456789012:function:ebs-pv-registrar"
    )
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class DemoError(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, text: str) -> None:
    say(f"[{number}/{STEPS}] {text}")


def detail(text: str) -> None:
    for line in text.splitlines() or [""]:
        say(f"      {line}".rstrip())


def main() -> int:
    """Runs the demo; 0 when the claim is Bound."""
    started = time.monotonic()
    say("ebs-pv-registrar demo: a tagged EBS volume becomes a bound PersistentVolumeClaim,")
    say("with moto standing in for AWS and a local kube-apiserver standing in for EKS.")
    say()
    try:
        with _terminate_as_interrupt(), _local_aws_environment(), contextlib.ExitStack() as stack:
            phase = _run(stack)
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except Exception as error:
        print(f"error: demo: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    say()
    claim = f"{NAMESPACE}/{TAGS['k8s-pvc']}"
    say(f"Done in {time.monotonic() - started:.1f}s: PersistentVolumeClaim {claim} is {phase}.")
    return 0 if phase == "Bound" else 1


def _run(stack: contextlib.ExitStack) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="registrar-demo-"))
    stack.callback(_cleanup_note, workdir)
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)

    step(1, "Starting moto (EC2, EKS, IAM, STS stand-ins) ...")
    moto = MotoServer()
    stack.callback(moto.stop)
    moto.start()
    os.environ["AWS_ENDPOINT_URL"] = moto.url
    detail(f"listening on {moto.url}; every AWS call of this demo goes there")

    step(2, f"Starting the control plane for cluster {CLUSTER!r} (etcd, kube-apiserver,")
    detail("PV binder, kube-scheduler, Deployment controllers) with one node per zone")
    binary = build_binary()  # instant once scripts/setup has built it
    plane = ControlPlane(workdir, make_tls(workdir), moto.url, cluster=CLUSTER)
    stack.callback(plane.stop)
    plane.start(binary)
    detail(f"{plane.url} ready in {plane.startup_seconds:.1f}s (TLS, RBAC, EKS token webhook)")
    for zone in NODE_ZONES:
        add_zone_node(plane, zone, REGION)
    detail("nodes: API objects only (Ready, zone labels; no kubelet: pods are scheduled, not run)")
    detail(f"$ kubectl get nodes -L {ZONE_LABEL}")
    detail(_kubectl(plane, "get", "nodes", "-L", ZONE_LABEL).rstrip())

    step(3, "Giving the registrar its own identity")
    if not KUBECTL.exists():
        raise DemoError(f"{KUBECTL} is missing: run scripts/setup")
    waited = access.apply(plane, KUBECTL)
    detail("k8s/admission-policy.yaml and k8s/rbac.yaml applied with the admin credential")
    detail(f"the policy is in force after {waited:.1f}s: the group may touch only its own objects")
    role = create_role(REGION)
    credentials = assume_role(role, REGION)
    plane.add_access_entry(role, USERNAME, [GROUP])
    create_eks_cluster(CLUSTER, REGION)
    detail(f"IAM role {role}, assumed with STS")
    detail(f"access entry: that role -> user {USERNAME!r}, group {GROUP!r}")
    detail(f"EKS cluster {CLUSTER!r} registered in moto (endpoint and CA: the local plane's)")

    step(4, f"Creating the volume: 10 GiB gp3 in {ZONE}, tags " + _tag_text(TAGS))
    volume = _create_volume()
    volume_id = str(volume["VolumeId"])
    detail(f"created {volume_id} ({volume['State']})")

    step(5, "CloudTrail reports CreateVolume; EventBridge matches it against the rule patterns")
    event = create_volume_event(volume, REGION)
    detail(f"event: {event['detail-type']} / {event['detail']['eventName']} of {volume_id}")
    matched = _route(event)

    step(6, f"EventBridge invokes the Lambda handler (rule {matched})")
    result, records = _invoke(event, plane, credentials)
    for record in records:
        detail(record)
    for outcome in result["outcomes"]:
        detail(f"outcome: {outcome['result']}: {outcome['detail']}")
        for line in outcome.get("objects", []):
            detail(f"  {line}")
    if not any(o["result"] == "registered" for o in result["outcomes"]):
        raise DemoError(f"the handler did not register the volume: {result}")

    step(7, "Waiting for the PV binder to bind the claim")
    phase, waited = _wait_bound(plane)
    detail(f"claim {NAMESPACE}/{TAGS['k8s-pvc']}: {phase} after {waited:.1f}s")
    detail("$ kubectl get pv,pvc")
    detail(_kubectl(plane, "get", "pv,pvc", "-n", NAMESPACE).rstrip())

    step(8, f"The status tag written back on {volume_id}")
    tags = _volume_tags(volume_id)
    for key in ("k8s-pv-status", "ebs.csi.aws.com/cluster"):
        detail(f"{key} = {tags.get(key, '(missing)')}")
    if phase == "Bound":
        _run_workload(plane)
    say()
    return phase


def _run_workload(plane: ControlPlane) -> None:
    """The tutorial's ending: the Deployment, a pod restart, a redeploy; each pod lands in the
    volume's zone, on the same claim."""
    step(9, "Deploying the tutorial's workload: busybox mounting the claim, no nodeSelector")
    detail(f"$ kubectl apply -f {DEPLOYMENT_FILE.relative_to(REPO)}")
    detail(_kubectl(plane, "apply", "-f", str(DEPLOYMENT_FILE)).rstrip())
    first = _show_placement(plane)
    detail("(Pending: scheduled on its node; no kubelet runs containers on this plane)")

    step(10, "Restarting the pod (the tutorial's kubectl delete pod)")
    detail(f"$ kubectl delete pod {first.pod}")
    detail(_kubectl(plane, "delete", "pod", first.pod, "-n", NAMESPACE).rstrip())
    restarted = _show_placement(plane, replaced={first.uid})

    step(11, "Redeploying (kubectl delete deployment, then apply again)")
    # Foreground: kubectl returns once the garbage collector has removed the old pods.
    detail(f"$ kubectl delete deployment {APP} --cascade=foreground")
    deleted = _kubectl(plane, "delete", "deployment", APP, "-n", NAMESPACE, "--cascade=foreground")
    detail(deleted.rstrip())
    detail(f"$ kubectl apply -f {DEPLOYMENT_FILE.relative_to(REPO)}")
    detail(_kubectl(plane, "apply", "-f", str(DEPLOYMENT_FILE)).rstrip())
    redeployed = _show_placement(plane, replaced={first.uid, restarted.uid})
    detail(f"all three pods: node {redeployed.node} in {ZONE}, claim {TAGS['k8s-pvc']}")


def _show_placement(plane: ControlPlane, replaced: set[str] | None = None) -> Placement:
    placed = wait_scheduled(plane, NAMESPACE, f"app={APP}", replaced or set())
    detail("$ kubectl get pod -o wide")
    detail(_kubectl(plane, "get", "pod", "-o", "wide", "-n", NAMESPACE).rstrip())
    claims = ", ".join(placed.claims)
    detail(f"{placed.pod}: scheduled on {placed.node} ({placed.zone}), claim {claims}")
    if placed.zone != ZONE or placed.claims != (TAGS["k8s-pvc"],):
        raise DemoError(f"pod {placed.pod} is in {placed.zone!r} with claim {claims}, not {ZONE}")
    return placed


# --- the steps' parts ---------------------------------------------------------------------


def _create_volume() -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - only here: the demo's admin is a person with the CLI

    ec2 = boto3.client("ec2", region_name=REGION)
    created = ec2.create_volume(
        AvailabilityZone=ZONE,
        Size=10,
        VolumeType="gp3",
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()],
            }
        ],
    )
    return dict(ec2.describe_volumes(VolumeIds=[created["VolumeId"]])["Volumes"][0])


def _volume_tags(volume_id: str) -> dict[str, str]:
    import boto3  # noqa: PLC0415

    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {tag["Key"]: tag["Value"] for tag in volume.get("Tags", [])}


def _route(event: dict[str, Any]) -> str:
    """The rules' patterns as the stack deploys them (stacks/constructs/event_rules.py)."""
    # aws_cdk starts a jsii node process; its end-of-life banner for Node 20 is noise here.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stacks.constructs.event_rules import event_patterns  # noqa: PLC0415

    matched = [name for name, pattern in event_patterns().items() if matches(pattern, event)]
    for name in event_patterns():
        detail(f"{name:<24} {'MATCHES' if name in matched else 'no match'}")
    if len(matched) != 1:
        raise DemoError(f"expected exactly one rule to match, got {matched}")
    return matched[0]


def _invoke(
    event: dict[str, Any], plane: ControlPlane, credentials: Any
) -> tuple[dict[str, Any], list[str]]:
    """The Lambda entry point over the registrar wired as the function wires it, signing with
    the role's credentials; its Powertools log lines and metrics are collected and summarised."""
    from registrar import handler  # noqa: PLC0415 - Powertools is slow to import

    registrar = wiring_for(plane, REGION, credentials).registrar()
    lambda_handler = handler.handler_for(lambda: registrar)
    logs = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    saved_stream = log_handler.setStream(logs)
    try:
        with contextlib.redirect_stdout(logs):  # the EMF metrics record
            result = lambda_handler(event, LambdaContext())
    finally:
        log_handler.setStream(saved_stream)
    return result, _summarise(logs.getvalue())


def _summarise(output: str) -> list[str]:
    lines = []
    for raw in output.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if "_aws" in record:
            for directive in record["_aws"].get("CloudWatchMetrics", []):
                for metric in directive.get("Metrics", []):
                    name = metric["Name"]
                    lines.append(f"metric {directive['Namespace']}/{name} = {record[name]}")
        elif "message" in record:
            keys = ("volume_id", "status", "reason", "detail", "error")
            extra = " ".join(f"{k}={record[k]!r}" for k in keys if k in record)
            lines.append(f"log {record.get('level')}: {record['message']} {extra}".rstrip())
    return lines


def _wait_bound(plane: ControlPlane) -> tuple[str, float]:
    started = time.monotonic()
    gateway = plane.admin_gateway()
    try:
        while True:
            claim = gateway.get("PersistentVolumeClaim", TAGS["k8s-pvc"], NAMESPACE)
            phase = str(claim.get("status", {}).get("phase", "Pending"))
            waited = time.monotonic() - started
            if phase == "Bound" or waited > BIND_TIMEOUT:
                return phase, waited
            time.sleep(0.2)
    finally:
        gateway.close()


def _kubectl(plane: ControlPlane, *args: str) -> str:
    if not KUBECTL.exists():
        raise DemoError(f"{KUBECTL} is missing: run scripts/setup")
    try:
        return access.kubectl(KUBECTL, plane, *args)
    except access.AccessModelError as error:
        raise DemoError(str(error)) from None


def _tag_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def _cleanup_note(workdir: Path) -> None:
    say(f"Cleaned up: control plane and moto stopped, {workdir} removed.")


# --- process hygiene ----------------------------------------------------------------------


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the cleanup runs."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    saved: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        saved[signum] = signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _local_aws_environment() -> Iterator[None]:
    """Dummy keys, no profile, the demo's region; restored afterwards."""
    wanted = LOCAL_AWS_ENV | {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
    # No profile, no session token, no endpoint override (AWS_ENDPOINT_URL_EC2 would win
    # over the demo's AWS_ENDPOINT_URL): nothing of the demo may reach a real account.
    dropped = [
        key
        for key in os.environ
        if key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        or key.startswith("AWS_ENDPOINT_URL")
    ]
    with environment(wanted, [*dropped, "AWS_ENDPOINT_URL"]):
        yield

