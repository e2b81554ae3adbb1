"""A burst: 500 volumes tagged at once, their 500 CloudTrail CreateTags events delivered
concurrently by a pool of workers that emulates the Lambda's reserved concurrency (the CDK
default is 5, stacks/config.py `reservedConcurrency`). Each worker owns a Registrar and a
KubeGateway, as a Lambda sandbox does, with the client-side rate limit (qps, burst).

Checks: every volume registered exactly once (500 PV creations, no duplicates, no errors) and
the API server never sees more than the configured ceiling, concurrency x (qps + burst), in
any 1-second window (arrival times stamped at the server, kmock's `PagingEmulator`).

Usage: .venv/bin/python -m bench.burst [--volumes 500] [--concurrency 5] [--qps 5] [--burst 10]
"""

from __future__ import annotations

import argparse
import bisect
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.reconcile import PagingProxy
from devcluster.standins.kmockthread import OneCluster
from devcluster.standins.motoserver import MotoServer
from devcluster.standins.scale import SETTINGS, PagingKmockThread
from devcluster.standins.tlsapi import make_tls
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RateLimit
from registrar.core.events import parse_event
from registrar.engine.service import Outcome, Registrar
from tests.support import eventfactory as ef


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    stamps = sorted(stamps)
    return max((bisect.bisect_left(stamps, s + window) - i for i, s in enumerate(stamps)),
               default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--qps", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()

    import os  # noqa: PLC0415

    import botocore.session  # noqa: PLC0415

    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
    })
    tls = make_tls(Path(tempfile.mkdtemp(prefix="bench-burst-")))
    moto = MotoServer()
    moto.start()
    moto_url = moto.url
    proxy = PagingProxy(moto_url)
    server = PagingKmockThread(tls)
    assert server.emulator is not None
    try:
        ec2 = botocore.session.get_session().create_client(
            "ec2", region_name="us-east-1", endpoint_url=moto_url
        )
        ids = [
            ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3")["VolumeId"]
            for _ in range(args.volumes)
        ]
        print(f"created {len(ids)} untagged volumes", file=sys.stderr, flush=True)
        events = []
        for index, volume_id in enumerate(ids):
            tags = {"k8s-pv": f"burst-{index:04d}", "k8s-pvc": f"apps/burst-{index:04d}"}
            ec2.create_tags(Resources=[volume_id],
                            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            events.append(ef.create_tags([volume_id], tags))
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        proxy.actions.clear()

        sandbox = threading.local()
        gateways: list[KubeGateway] = []
        lock = threading.Lock()
        rate = RateLimit(qps=args.qps, burst=args.burst)

        def handle(event: dict[str, Any]) -> list[Outcome] | Exception:
            if not hasattr(sandbox, "registrar"):  # a cold start: this worker's own clients
                gateway = KubeGateway(server.url, tls.ca_pem, lambda _f: "token", rate_limit=rate)
                with lock:
                    gateways.append(gateway)
                sandbox.registrar = Registrar(
                    SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway)
                )
            try:
                return list(sandbox.registrar.handle(parse_event(event)))
            except Exception as error:
                return error

        server.emulator.log.clear()
        print(f"delivering {len(events)} events, {args.concurrency} at a time, qps "
              f"{args.qps:g} burst {args.burst} per worker", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = 0
        results: list[list[Outcome] | Exception] = []
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for result in pool.map(handle, events):
                results.append(result)
                done += 1
                if done % 100 == 0:
                    print(f"  {done}/{len(events)} handled, "
                          f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        took = time.perf_counter() - started
        for gateway in gateways:
            gateway.close()
    finally:
        server.close()
        proxy.close()
        moto.stop()

    outcomes = [o for r in results if isinstance(r, list) for o in r]
    errors = [r for r in results if isinstance(r, Exception)] + [
        o for o in outcomes if o.result != "registered"
    ]
    registered = {o.volume_id for o in outcomes if o.result == "registered"}
    counts = server.emulator.counts()
    pv_posts = counts["POST /api/v1/persistentvolumes"]
    stored = [key[2] for key in server.emulator.objects  # PVs: cluster-scoped, no namespace
              if key[1] is None and key[2].startswith("burst-")]
    stamps = server.emulator.stamps
    peak = max_in_window(stamps)
    ceiling = args.concurrency * (args.qps + args.burst)
    steady = args.concurrency * args.qps
    print("\n| events | concurrency | qps / burst per worker | Kubernetes requests | "
          "max requests in any 1 s (ceiling) | mean rate | PV creations | duplicates | "
          "errors | AWS calls | total time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    span = (max(stamps) - min(stamps)) if stamps else 0.0
    print(f"| {len(events)} | {args.concurrency} | {args.qps:g} / {args.burst} | "
          f"{sum(counts.values())} | {peak} ({ceiling:g}) | "
          f"{sum(counts.values()) / span if span else 0:.1f}/s (steady ceiling {steady:g}/s) | "
          f"{pv_posts} | {pv_posts - len(set(stored))} | {len(errors)} | "
          f"{sum(proxy.actions.values())} {dict(proxy.actions)} | {took:.1f} s |")
    print(f"\nrequests by call: {dict(counts)}")
    ok = (len(registered) == len(ids) == pv_posts == len(stored) and not errors
          and peak <= ceiling)
    for error in errors[:5]:
        print(f"error: {error}")
    print("burst: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    urllib.request.getproxies = dict  # no proxies for loopback
    main()
