"""Fleet scale (issue #20): one CreateTags of N volumes, or a backlog of N tagged volumes adopted
by one sweep, through the path the stack deploys, on moto and the local control plane.

The deployed path, as stacks/registrar_stack.py wires it: the event matches one of the stack's
rule patterns (stacks/constructs/event_rules.py); the function (registrar.handler.lambda_handler,
its registrar's sink the work queue, as wiring.py makes it from REGISTRAR_WORK_QUEUE_URL) splits
it into one work item per volume on the FIFO queue (moto's SQS, with the construct's visibility
timeout and redrive to a FIFO dead-letter queue); the event source mapping's stand-in
(devcluster/standins/event_source.py) hands batches of 10 to the function with at most
`queueMaxConcurrency` (cdk.json) executions at once. Each execution owns its registrar, wired as
registrar/wiring.py wires it (the role's credentials, the EKS token, the client rate limit at
the contract's defaults: REGISTRAR_KUBE_QPS 5, burst 10) and its
remaining time is the function's timeout (60 s) minus what it has used, as Lambda's context gives
it; an invocation that runs past it counts as a timeout, and its whole batch comes back.

The baseline is the same kind of event through today's path, in the same run on other volumes:
one invocation, Registrar.handle over every volume in turn, stopped at the function's timeout
(every AWS call past it fails, as the runtime would end it); its rate is extrapolated to N.
With --backlog the baseline is one scheduled sweep of a second backlog of N, as today's hourly
sweep runs it (bench/backlog.py).

Kubernetes requests are counted at each client's rate limiter (every request, retries too).

--memory: the peak RSS (VmHWM) of a fresh process that loads the function and runs one batch
of 10 work items against 10,000 PVs (kmock as a paging API server, devcluster/standins/scale.py).

Usage: .venv/bin/python -m bench.bulk --volumes 1000 [--backlog] [--budget 900]
       .venv/bin/python -m bench.bulk --memory [--pvs 10000]
The last line: bulk: <registered>/<N> registered in <s> s, DLQ <n>, <t> timeouts, <r> k8s
requests per volume
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # stacks/ imports

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.credentials import Credentials

from devcluster.standins import access
from devcluster.standins.certs import make_tls
from devcluster.standins.controlplane import ControlPlane, build_binary
from devcluster.standins.event_source import SqsEventSource
from devcluster.standins.eventbridge import matches
from devcluster.standins.identity import (
    GROUP,
    USERNAME,
    ControlPlaneDirectory,
    assume_role,
    create_eks_cluster,
    create_role,
    role_session,
)
from devcluster.standins.motoserver import LOCAL_AWS_ENV, MotoServer, environment
from registrar.adapters.aws import Ec2Volumes, SqsWorkQueue
from registrar.adapters.eks import SWEEP_PAGE_SIZE, EksConnector
from registrar.adapters.kube import KubeGateway
from registrar.adapters.token_bucket import TokenBucket
from registrar.core.errors import TransientError
from registrar.core.events import parse_event
from registrar.core.models import ClusterInfo, VolumeFacts
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from stacks.config import DEFAULTS
from stacks.constructs import work_queue
from stacks.constructs.event_rules import event_patterns
from stacks.constructs.function import TIMEOUT
from tests.support import eventfactory as ef

REPO = Path(__file__).resolve().parent.parent
KUBECTL = Path(sys.executable).parent / "kubectl"
REGION = "us-east-1"
ZONE = "us-east-1a"
FUNCTION_TIMEOUT = TIMEOUT.to_seconds()
STATUS = "k8s-pv-status"


# moto's SQS reads its clock through datetime for every message it holds on every call
# (Message.visible, .delayed: moto.core.utils.unix_time_millis), which makes a FIFO
# SendMessageBatch cost ~0.4-0.9 s at 1,000 queued messages on this machine, where SQS answers
# in milliseconds. The bench's moto reads the same clock with time.time(); nothing else changes.
MOTO = """
import sys, time
import moto.sqs.models as models
slow = models.unix_time_millis
models.unix_time_millis = lambda dt=None: slow(dt) if dt is not None else time.time() * 1000.0
from moto.server import main
main(sys.argv[1:])
"""


class BenchMoto(MotoServer):
    def command(self) -> list[str]:
        return [sys.executable, "-c", MOTO, "-H", "127.0.0.1", "-p", str(self.port)]


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


class CountingBucket(TokenBucket):
    """The client's rate limiter, counting every request it lets through."""

    def __init__(self, qps: float, burst: int, counter: Counter) -> None:
        super().__init__(qps, burst)
        self._counter = counter

    def acquire(self) -> float:
        self._counter.add()
        return super().acquire()


class PastTimeout(Ec2Volumes):
    """The baseline's AWS side: past the function's timeout every call fails, as the runtime
    ends the invocation."""

    def __init__(self, region: str, session: Any, deadline: float) -> None:
        super().__init__(region, session)
        self._deadline = deadline

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        self._check()
        return super().describe_volume(volume_id)

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        for facts in super().tagged_volumes():
            self._check()
            yield facts

    def _check(self) -> None:
        if time.monotonic() > self._deadline:
            raise TransientError("Task timed out")


@dataclass
class Fleet:
    plane: ControlPlane
    credentials: Credentials
    settings: Settings
    ec2: Any
    sqs: Any

    def registrar(
        self, counter: Counter, volumes: Ec2Volumes | None = None, queue_url: str = ""
    ) -> Registrar:
        """One execution environment's registrar, wired as registrar/wiring.py wires it (with
        the work queue as its sink: events are split into it, a sweep queues its repairs),
        each Kubernetes client's rate limiter counting."""
        session = role_session(self.credentials, REGION)
        rate = self.settings

        def gateway(info: ClusterInfo, token: Callable[[bool], str]) -> KubeGateway:
            bucket = CountingBucket(rate.kube_qps, rate.kube_burst, counter)
            return KubeGateway(info.endpoint, info.ca_pem, token, limiter=bucket,
                               page_size=SWEEP_PAGE_SIZE)  # fmt: skip

        connector = EksConnector(
            REGION,
            directory=ControlPlaneDirectory(self.plane, session),
            credentials=lambda: self.credentials,
            gateway_factory=gateway,
        )
        sink = SqsWorkQueue(queue_url, REGION, session) if queue_url else None
        return Registrar(self.settings, volumes or Ec2Volumes(REGION, session), connector,
                         sink=sink)  # fmt: skip


@contextmanager
def fleet() -> Iterator[Fleet]:
    with ExitStack() as stack:
        moto = BenchMoto()
        moto.start()
        stack.callback(moto.stop)
        stack.enter_context(environment(LOCAL_AWS_ENV | {
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto.url,
            "POWERTOOLS_METRICS_DISABLED": "true"}))  # fmt: skip
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bulk-")))
        plane = ControlPlane(workdir, make_tls(workdir), moto.url)
        plane.start(build_binary())
        stack.callback(plane.stop)
        access.apply(plane, KUBECTL)
        role = create_role(REGION, prefix="bench-bulk")
        plane.add_access_entry(role, USERNAME, [GROUP])
        create_eks_cluster(plane.cluster, REGION)
        session = botocore.session.get_session()
        yield Fleet(
            plane=plane,
            credentials=assume_role(role, REGION),
            settings=Settings(default_cluster=plane.cluster, allowed_clusters=(plane.cluster,)),
            ec2=session.create_client("ec2", region_name=REGION),
            sqs=session.create_client("sqs", region_name=REGION),
        )


def create_volumes(ec2: Any, count: int, tags: dict[str, str] | None = None) -> list[str]:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v}
                                                for k, v in (tags or {}).items()]}]  # fmt: skip

    def one(_: int) -> str:
        extra = {"TagSpecifications": spec} if tags else {}
        return str(ec2.create_volume(AvailabilityZone=ZONE, Size=1, **extra)["VolumeId"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def statuses(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        for volume in ec2.describe_volumes(VolumeIds=list(ids[start : start + 500]))["Volumes"]:
            tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
            found[volume["VolumeId"]] = tags.get(STATUS, "")
    return found


def registered(ec2: Any, ids: Sequence[str]) -> int:
    return sum(s.startswith("registered") for s in statuses(ec2, ids).values())


def make_queues(sqs: Any) -> tuple[str, str]:
    """The work queue and its dead-letter queue, as stacks/constructs/work_queue.py makes them."""
    dlq = sqs.create_queue(QueueName="bulk-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": work_queue.MAX_RECEIVE_COUNT}
    url = sqs.create_queue(QueueName="bulk-work.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "false",
        "VisibilityTimeout": str(int(work_queue.VISIBILITY_PER_TIMEOUT * FUNCTION_TIMEOUT)),
        "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]  # fmt: skip
    return url, dlq


def depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def matching_rules(event: dict[str, Any]) -> list[str]:
    if event.get("detail-type") == "Scheduled Event":
        return ["Reconcile (schedule)"]
    return [rule for rule, pattern in event_patterns().items() if matches(pattern, event)]


class Function:
    """The deployed function: registrar.handler.lambda_handler, each thread an execution
    environment with its own registrar (the handler's `registrar()` is per environment)."""

    def __init__(self, fleet: Fleet, counter: Counter, queue_url: str) -> None:
        from registrar import handler  # noqa: PLC0415

        local = threading.local()

        def per_environment() -> Registrar:
            if not hasattr(local, "registrar"):
                local.registrar = fleet.registrar(counter, queue_url=queue_url)
            registrar: Registrar = local.registrar
            return registrar

        handler.registrar = per_environment  # type: ignore[assignment]
        self._handler = handler

    def __call__(self, event: dict[str, Any], remaining: Callable[[], float]) -> dict[str, Any]:
        answer: dict[str, Any] = self._handler.lambda_handler(event, Context(remaining))
        return answer


@dataclass
class Context:
    remaining: Callable[[], float]
    function_name: str = "ebs-pv-registrar"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:registrar"
    aws_request_id: str = "bench-bulk"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining() * 1000)


@dataclass
class Run:
    registered: int
    seconds: float
    dlq: int
    timeouts: int
    requests: int


def deployed_path(fleet: Fleet, event: dict[str, Any], ids: Sequence[str], budget: float) -> Run:
    """Rule -> function (splitter) -> FIFO queue -> function batches, max concurrency workers."""
    rules = matching_rules(event)
    assert len(rules) == 1, rules
    url, dlq = make_queues(fleet.sqs)
    counter = Counter()
    function = Function(fleet, counter, url)
    concurrency = max(2, min(int(DEFAULTS["queueMaxConcurrency"]),
                             int(DEFAULTS["reservedConcurrency"])))  # fmt: skip
    started = time.monotonic()

    def remaining() -> float:
        return FUNCTION_TIMEOUT - (time.monotonic() - started)

    answer = function(event, remaining)
    split_s = time.monotonic() - started
    timeouts = int(split_s > FUNCTION_TIMEOUT)
    say(f"rule {rules[0]} -> function: {answer} in {split_s:.1f} s; "
        f"{concurrency} executions take batches of {work_queue.BATCH_SIZE}")
    source = SqsEventSource(fleet.sqs, url, function, max_concurrency=concurrency,
                            timeout=FUNCTION_TIMEOUT)  # fmt: skip
    source.start()
    done, last = 0, started
    try:
        while time.monotonic() - started < budget:
            time.sleep(2)
            done = registered(fleet.ec2, ids)
            now = time.monotonic()
            if now - last >= 20:
                say(f"  {done}/{len(ids)} registered, {now - started:.0f} s, "
                    f"{source.stats.invocations} batches, {counter.value} k8s requests")
                last = now
            if done == len(ids) or (depth(fleet.sqs, url) == 0 and now - started > 10):
                break
        seconds = time.monotonic() - started
    finally:
        source.stop()
    for error in source.stats.errors[:3]:
        say(f"  invocation error: {error}")
    return Run(registered(fleet.ec2, ids), seconds, depth(fleet.sqs, dlq),
               timeouts + source.stats.timeouts, counter.value)


def todays_path(fleet: Fleet, event: dict[str, Any], ids: Sequence[str]) -> Run:
    """One invocation, Registrar.handle, stopped at the function's timeout."""
    counter = Counter()
    started = time.monotonic()
    deadline = started + FUNCTION_TIMEOUT
    session = role_session(fleet.credentials, REGION)
    service = fleet.registrar(counter, PastTimeout(REGION, session, deadline))
    timed_out = 0
    try:
        service.handle(parse_event(event), remaining=lambda: deadline - time.monotonic())
    except TransientError:
        timed_out = 1
    seconds = time.monotonic() - started
    return Run(registered(fleet.ec2, ids), seconds, 0, timed_out, counter.value)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bulk(args: argparse.Namespace) -> str:
    n = args.volumes
    with fleet() as f:
        if args.backlog:
            ids = create_volumes(f.ec2, n, {"k8s-pv": ""})
            say(f"{n} volumes tagged k8s-pv, none registered: one scheduled sweep")
            run = deployed_path(f, ef.scheduled(region=REGION), ids, args.budget)
            base_ids = create_volumes(f.ec2, n, {"k8s-pv": ""})
            base = todays_path(f, ef.scheduled(region=REGION), base_ids)
            per_sweep = base.registered
            say(f"baseline (today's hourly sweep, one run of {FUNCTION_TIMEOUT:.0f} s): "
                f"{per_sweep}/{n} registered, {base.requests} k8s requests; "
                f"drains {n} in about {-(-n // max(per_sweep, 1))} hourly sweeps; "
                f"the queue: {run.registered}/{n} in {run.seconds:.0f} s after one sweep")
        else:
            ids, base_ids = create_volumes(f.ec2, n), create_volumes(f.ec2, n)
            for group in (base_ids, ids):  # one CreateTags call of up to 1,000 resources each
                for start in range(0, len(group), 1000):
                    f.ec2.create_tags(Resources=group[start : start + 1000],
                                      Tags=[{"Key": "k8s-pv", "Value": ""}])  # fmt: skip
            say(f"{n} volumes tagged in one CreateTags (+{n} for the baseline)")
            base = todays_path(f, ef.create_tags(base_ids, {"k8s-pv": ""}), base_ids)
            rate = base.registered / base.seconds if base.registered else 0.0
            run = deployed_path(f, ef.create_tags(ids, {"k8s-pv": ""}), ids, args.budget)
            extrapolated = n / rate if rate else float("inf")
            say(f"baseline (today's path, one invocation, Registrar.handle): "
                f"{base.registered}/{n} registered in {base.seconds:.0f} s, "
                f"{base.timeouts} timeout, {base.requests / max(base.registered, 1):.1f} k8s "
                f"requests per volume; at that rate {n} take {extrapolated:.0f} s "
                f"({extrapolated / FUNCTION_TIMEOUT:.0f}x the timeout) = "
                f"{extrapolated / run.seconds:.1f}x the queue's {run.seconds:.0f} s")
    per_volume = run.requests / run.registered if run.registered else float("inf")
    return (f"bulk: {run.registered}/{n} registered in {run.seconds:.0f} s, DLQ {run.dlq}, "
            f"{run.timeouts} timeouts, {per_volume:.2f} k8s requests per volume")


# --- memory: one batch against 10,000 PVs -------------------------------------------------------

CHILD = r"""
import json, os, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/lambdas"]
url, ca, volumes = sys.argv[2], open(sys.argv[3], "rb").read(), sys.argv[4].split(",")
from registrar import queue_handler
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.eks import SWEEP_PAGE_SIZE
from registrar.adapters.kube import KubeGateway
from registrar.core.settings import Settings
from registrar.core.work import WorkItem
from registrar.engine.service import Registrar

class One:
    def __init__(self, kube): self.kube = kube
    def kube_for(self, cluster): return self.kube

gateway = KubeGateway(url, ca, lambda _f: "t", page_size=SWEEP_PAGE_SIZE)
service = Registrar(Settings(default_cluster="prod"), Ec2Volumes("us-east-1"), One(gateway))
records = [{"messageId": f"m{i}", "eventSource": "aws:sqs", "attributes": {"MessageGroupId": v},
            "body": WorkItem(v, "tagged", "cloudtrail", (), {"k8s-pv": ""}).to_message()}
           for i, v in enumerate(volumes)]
started = time.monotonic()
answer = queue_handler.consume({"Records": records}, service, lambda: 60.0)
print(json.dumps({"answer": answer, "seconds": time.monotonic() - started,
                  "vmhwm_kib": next(int(line.split()[1]) for line in open("/proc/self/status")
                                    if line.startswith("VmHWM:"))}))
"""


def memory(args: argparse.Namespace) -> str:
    from bench.one_pv import pv  # noqa: PLC0415
    from devcluster.standins.scale import PagingKmockThread  # noqa: PLC0415
    from devcluster.standins.tlsapi import make_tls as test_tls  # noqa: PLC0415

    moto = MotoServer()
    moto.start()
    with tempfile.TemporaryDirectory() as tmp, environment(LOCAL_AWS_ENV | {
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto.url,
            "POWERTOOLS_METRICS_DISABLED": "true"}):  # fmt: skip
        tls = test_tls(Path(tmp))
        server = PagingKmockThread(tls)
        try:
            assert server.emulator is not None
            server.emulator.seed(pv(i) for i in range(args.pvs))
            ca = Path(tmp) / "ca.pem"
            ca.write_bytes(tls.ca_pem)
            ec2 = botocore.session.get_session().create_client("ec2", region_name=REGION)
            ids = create_volumes(ec2, work_queue.BATCH_SIZE, {"k8s-pv": ""})
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(REPO), server.url, str(ca), ",".join(ids)],
                capture_output=True, text=True, check=True, timeout=600,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            requests = sum(server.emulator.counts().values())
        finally:
            server.close()
            moto.stop()
    from stacks.constructs.function import MEMORY_MB  # noqa: PLC0415

    mib = result["vmhwm_kib"] / 1024
    return (f"memory: one batch of {work_queue.BATCH_SIZE} against {args.pvs} PVs: peak RSS "
            f"(VmHWM) {mib:.1f} MiB of the function's {MEMORY_MB} MB, {requests} k8s requests, "
            f"{result['seconds']:.1f} s, failures {result['answer']['batchItemFailures']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=1000)
    parser.add_argument("--backlog", action="store_true", help="N tagged volumes, one sweep")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument("--memory", action="store_true", help="VmHWM of one batch")
    parser.add_argument("--pvs", type=int, default=10_000)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the function's INFO lines, thousands of them
    warnings.filterwarnings("ignore", "No application metrics")  # metrics are off here
    # The function's output (Powertools' metric records) is not the bench's: stderr.
    with redirect_stdout(sys.stderr):
        line = memory(args) if args.memory else bulk(args)
    print(line, flush=True)


if __name__ == "__main__":
    main()
