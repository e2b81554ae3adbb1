"""A backlog of unregistered volumes drained by consecutive scheduled sweeps, each inside the
function's time (60 s timeout; a sweep starts no repair with less than 10 s left), at the
default client rate limit (REGISTRAR_KUBE_QPS=5, burst 10).

moto over HTTP holds the volumes (tagged `k8s-pv`, nothing registered yet); kmock over TLS as
`PagingEmulator` (devcluster/standins/scale.py) is the API server. Each run is what the hourly
schedule invokes: `Registrar.handle(ScheduledReconcile, remaining=...)` with the clock a Lambda
context would give. Runs only a few sweeps by default (each takes the function's whole minute) and
extrapolates the number of hourly runs the backlog needs; `--runs 0` drains it all.

Usage: .venv/bin/python -m bench.backlog [--volumes 1000] [--runs 2] [--timeout 60]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devcluster.standins.kmockthread import OneCluster
from devcluster.standins.motoserver import MotoServer, environment
from devcluster.standins.scale import PagingKmockThread
from devcluster.standins.tlsapi import make_tls
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RateLimit
from registrar.core.events import ScheduledReconcile
from registrar.core.settings import Settings
from registrar.engine.service import Registrar

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def seed(count: int) -> None:
    import boto3  # noqa: PLC0415

    ec2 = boto3.client("ec2", region_name="us-east-1")

    def one(index: int) -> None:
        tags = [{"Key": "k8s-pv", "Value": f"backlog-{index:05d}"}]
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=1,
                          TagSpecifications=[{"ResourceType": "volume", "Tags": tags}])  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def sweep_once(server: PagingKmockThread, ca_pem: bytes, timeout: float) -> dict[str, Any]:
    limit = RateLimit(qps=SETTINGS.kube_qps, burst=SETTINGS.kube_burst)
    gateway = KubeGateway(server.url, ca_pem, lambda _force: "token", page_size=500,
                          rate_limit=limit)  # fmt: skip
    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway))
    started = time.monotonic()
    tracemalloc.start()
    try:
        def remaining() -> float:
            return timeout - (time.monotonic() - started)

        [outcome] = registrar.handle(ScheduledReconcile("us-east-1"), remaining=remaining)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        gateway.close()
    return {"seconds": time.monotonic() - started, "detail": outcome.detail, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volumes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2, help="0: until the backlog is drained")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    moto = MotoServer()
    moto.start()
    with tempfile.TemporaryDirectory() as tmp, environment(AWS | {"AWS_ENDPOINT_URL": moto.url}):
        tls = make_tls(Path(tmp))
        server = PagingKmockThread(tls)
        try:
            seed(args.volumes)
            assert server.emulator is not None
            created: list[int] = []
            run = 0
            while args.runs == 0 or run < args.runs:
                run += 1
                before = Counter(server.emulator.counts())
                result = sweep_once(server, tls.ca_pem, args.timeout)
                requests = sum((Counter(server.emulator.counts()) - before).values())
                pvs = sum(1 for key in server.emulator.objects
                          if key[0].plural == "persistentvolumes")  # fmt: skip
                created.append(pvs - sum(created))
                print(f"run {run}: {result['seconds']:.1f} s of {args.timeout:.0f}, "
                      f"{requests} Kubernetes requests, {created[-1]} volumes registered "
                      f"({pvs}/{args.volumes} in all), tracemalloc peak "
                      f"{result['peak'] / 2**20:.1f} MiB; {result['detail']}", flush=True)
                if pvs >= args.volumes or created[-1] == 0:
                    break
            per_run = min(created) if created else 0
            if per_run:
                runs = math.ceil(args.volumes / per_run)
                print(f"drains {args.volumes} volumes in about {runs} runs of "
                      f"{args.timeout:.0f} s ({per_run} volumes per run)")
        finally:
            server.close()
            moto.stop()


if __name__ == "__main__":
    main()
