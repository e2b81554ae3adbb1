"""`python -m registrar demo`: the README's scenario end to end, on this machine.

moto plays AWS (EC2, EKS, IAM, STS); the local control plane (etcd + kube-apiserver + the PV
binder, built by tests/controlplane/build.sh) plays EKS, checking EKS tokens against moto's
STS. A 10 GiB gp3 volume tagged k8s-pv=ebs-test-volume, k8s-pvc=ebs-test-volume-pvc is
created; its CloudTrail event goes through the EventBridge rule patterns and the Lambda
handler, which registers it with nothing but its own IAM role; the claim binds.
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from devcluster.certs import make_tls
from devcluster.controlplane import REPO, ControlPlane, build_binary
from devcluster.eventbridge import matches
from devcluster.events import create_volume_event
from devcluster.identity import (
    GROUP,
    USERNAME,
    assume_role,
    create_eks_cluster,
    create_role,
    registrar_for,
)
from devcluster.motoserver import LOCAL_AWS_ENV, MotoServer, environment

REGION = "ap-northeast-1"
ZONE = "ap-northeast-1a"
CLUSTER = "demo"
TAGS = {"k8s-pv": "ebs-test-volume", "k8s-pvc": "ebs-test-volume-pvc"}
NAMESPACE = "default"
BIND_TIMEOUT = 30.0
KUBECTL = Path(sys.executable).parent / "kubectl"
STEPS = 8


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

    step(2, f"Starting the control plane for cluster {CLUSTER!r} (etcd, kube-apiserver, PV binder)")
    binary = build_binary()  # instant once scripts/setup has built it
    plane = ControlPlane(workdir, make_tls(workdir), moto.url, cluster=CLUSTER)
    stack.callback(plane.stop)
    plane.start(binary)
    detail(f"{plane.url} ready in {plane.startup_seconds:.1f}s (TLS, RBAC, EKS token webhook)")

    step(3, "Giving the registrar its own identity")
    _kubectl(plane, "apply", "-f", str(REPO / "k8s" / "rbac.yaml"))
    detail("k8s/rbac.yaml applied with the admin credential (ClusterRole + binding to group)")
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
    say()
    return phase


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
    """lambda_handler(event, context) with the registrar built from the role's credentials;
    its Powertools log lines and metrics are collected and summarised."""
    from registrar import handler  # noqa: PLC0415 - Powertools is slow to import

    registrar = registrar_for(plane, REGION, credentials)
    logs = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    saved_registrar, saved_stream = handler.registrar, log_handler.setStream(logs)
    handler.registrar = lambda: registrar  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(logs):  # the EMF metrics record
            result = handler.lambda_handler(event, LambdaContext())
    finally:
        handler.registrar = saved_registrar
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
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


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


if __name__ == "__main__":
    raise SystemExit(main())
