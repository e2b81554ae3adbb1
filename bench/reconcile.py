"""Sweep cost at 1,000 and 10,000 tagged volumes: our sweep (list in pages, plan, write only
the gaps) against a naive one (one GET per volume for the PV and one for the PVC), on an
in-sync fleet, in the same run.

Servers run in this process or beside it: moto (a subprocess) behind a counting proxy that also
paginates DescribeVolumes (moto ignores MaxResults and answers everything at once; the proxy
answers in pages of MaxResults with a NextToken as EC2 does, fetching moto's full answer once
per pagination chain), and kmock over TLS as `PagingEmulator` (limit/continue, label
selectors, request timestamps; tests/integration/test_sweep_scale.py). Objects are seeded
straight into the emulator's in-memory store, volumes into moto over HTTP with a thread pool.

Each measured sweep runs in a fresh child process (the client only): wall time, tracemalloc
peak and peak RSS (VmHWM) are the child's; AWS calls are counted at the proxy and Kubernetes
requests at the server. The client's rate limiter is lifted (qps=1e6) to measure the sweep
itself; `limited` shows what client-go's default qps=5, burst=10 makes of those request counts.

Usage: .venv/bin/python -m bench.reconcile [--sizes 1000,10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.standins.loopback import Loopback, QuietHandler, forward
from devcluster.standins.motoserver import MotoServer
from devcluster.standins.scale import (
    PagingKmockThread,
    as_served,
    create_volume,
    objects_for,
)
from devcluster.standins.tlsapi import make_tls

REPO = Path(__file__).resolve().parent.parent
AWS_PAGE = 500  # Ec2Volumes.tagged_volumes
KUBE_PAGE = 500  # eks.SWEEP_PAGE_SIZE
WRITE_ACTIONS = ("CreateTags", "DeleteTags")

CLIENT = r"""
import json, os, sys, time
from collections import Counter
sys.path[:0] = json.loads(sys.argv[1])
kind, url, ca, page = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
traced = os.environ.get("BENCH_TRACEMALLOC") == "1"
if os.environ.get("BENCH_IMPORT"):
    __import__(os.environ["BENCH_IMPORT"])
if kind == "ours":
    import registrar.handler as handler  # the function's Init: what its handler imports
from botocore.config import Config
from registrar.adapters.aws import CLIENT_CONFIG, Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RateLimit
from registrar.core import tags as t
from registrar.core.errors import NotFoundError
from registrar.core.objects import conflict_reason
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from registrar.engine.service import Registrar

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
SCHEDULED = {"version": "0", "id": "bench", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-05-04T10:00:00Z",
             "region": "us-east-1", "resources": [], "detail": {}}

class OneCluster:
    def __init__(self, gateway):
        self.gateway = gateway
    def kube_for(self, cluster):
        return self.gateway

def naive(volumes, kube):
    rows = []
    for facts in volumes.tagged_volumes():
        plan = plan_volume(facts, SETTINGS)
        if not isinstance(plan, Plan):
            continue
        state = "unchanged"
        for item in plan.items:
            meta = item["metadata"]
            try:
                found = kube.get(item["kind"], meta["name"], meta.get("namespace"))
            except NotFoundError:
                state = "create"
                continue
            if conflict_reason(item, found) is not None:
                state = "drift"
        rows.append(state)
    return rows

def held(volumes, kube):
    # The sweep before the page-by-page one: every object of ours held whole (managedFields
    # dropped), the foreign PVs as a map, every row kept.
    from registrar.core.objects import ebs_volume_of, is_ours
    from registrar.core.sweep import plan_sweep
    pvs, pvcs, foreign = [], [], {}
    for pv in kube.list("PersistentVolume"):
        if is_ours(pv):
            pv["metadata"].pop("managedFields", None)
            pvs.append(pv)
        elif ebs_volume_of(pv):
            foreign.setdefault(ebs_volume_of(pv), pv["metadata"]["name"])
    for claim in kube.list("PersistentVolumeClaim", t.MANAGED_SELECTOR):
        claim["metadata"].pop("managedFields", None)
        pvcs.append(claim)
    rows = plan_sweep(volumes.tagged_volumes(), pvs, pvcs, SETTINGS, "prod", foreign=foreign)
    return [r.action for r in rows]

gateway = KubeGateway(url, open(ca, "rb").read(), lambda _f: "token", page_size=page,
                      rate_limit=RateLimit(qps=1e6, burst=1000000))
volumes = Ec2Volumes("us-east-1", config=CLIENT_CONFIG.merge(Config(read_timeout=600)))
volumes._ec2.get_paginator("describe_volumes")  # load the service model before measuring
if traced:
    import tracemalloc
    tracemalloc.start()
started, cpu = time.perf_counter(), time.process_time()
if kind == "ours":  # the scheduled reconcile as the function runs it: rows counted, not kept
    service = Registrar(SETTINGS, volumes, OneCluster(gateway))
    [outcome] = handler.respond(SCHEDULED, service, lambda: 900.0)["outcomes"]
    parts = (p.split(" ", 1) for p in outcome["detail"].split(": ", 1)[1].split(", "))
    counts = {action: int(n) for n, action in parts}
elif kind == "held":
    counts = Counter(held(volumes, gateway))
else:
    counts = Counter(naive(volumes, gateway))
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1] if traced else 0
# VmHWM, not ru_maxrss: a child forked from a large parent starts its ru_maxrss at the
# parent's size (it survives the exec), so ru_maxrss reports the bench's own seeding.
rss_kib = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": sum(counts.values()),
                  "in_sync": counts.get("unchanged", 0), "python": sys.version.split()[0],
                  "tracemalloc": peak, "rss": rss_kib * 1024}))
"""


class PagingProxy:
    """Forwards to moto, counts AWS actions, and pages DescribeVolumes by MaxResults."""

    def __init__(self, upstream: str) -> None:
        self.actions: Counter[str] = Counter()
        self.lock = threading.Lock()
        # When set, a tag-filtered DescribeVolumes is answered from the seeded volumes: moto's
        # tag filter scans every tag of every resource per volume (O(n^2): minutes at 10,000).
        self.inventory: list[bytes] | None = None
        chains: dict[str, tuple[bytes, list[bytes]]] = {}
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.body()
                form = urllib.parse.parse_qs(body.decode())
                action = form.get("Action", ["?"])[0]
                with proxy.lock:
                    proxy.actions[action] += 1
                limit = int(form.get("MaxResults", ["0"])[0])
                token = form.get("NextToken", [""])[0]
                if action == "DescribeVolumes" and limit and token in chains:
                    status, data = 200, proxy.page(chains, token, limit)
                elif action == "DescribeVolumes" and limit and proxy.inventory is not None:
                    with proxy.lock:
                        first = f"chain{len(chains)}-0"
                        chains[first] = (INVENTORY_SHELL, proxy.inventory)
                    status, data = 200, proxy.page(chains, first, limit)
                else:
                    status, data, _ = forward(upstream, "POST", self.path, body,
                                              dict(self.headers), timeout=120)  # fmt: skip
                    if action == "DescribeVolumes" and limit and status == 200:
                        data = proxy.start_chain(chains, data, limit)
                self.reply(status, data, {"Content-Type": "text/xml"})

        self._loopback = Loopback(Handler)
        self.url = self._loopback.url

    def start_chain(self, chains: dict[str, tuple[bytes, list[bytes]]], data: bytes,
                    limit: int) -> bytes:
        root = ET.fromstring(data)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        if ns:
            ET.register_namespace("", ns[1:-1])
        volume_set = root.find(f"{ns}volumeSet")
        assert volume_set is not None
        items = [ET.tostring(item) for item in volume_set]
        for item in list(volume_set):
            volume_set.remove(item)
        with self.lock:
            token = f"chain{len(chains)}-0"
            chains[token] = (ET.tostring(root), items)
        return self.page(chains, token, limit)

    def page(self, chains: dict[str, tuple[bytes, list[bytes]]], token: str, limit: int) -> bytes:
        shell, items = chains[token]
        chain, offset = token.rsplit("-", 1)
        start = int(offset)
        end = start + limit
        root = ET.fromstring(shell)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        volume_set = root.find(f"{ns}volumeSet")
        assert volume_set is not None
        for raw in items[start:end]:
            volume_set.append(ET.fromstring(raw))
        if end < len(items):
            following = f"{chain}-{end}"
            with self.lock:
                chains[following] = (shell, items)
            ET.SubElement(root, f"{ns}nextToken").text = following
        return ET.tostring(root)

    def close(self) -> None:
        self._loopback.close()


INVENTORY_SHELL = (
    b'<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>bench</requestId><volumeSet></volumeSet></DescribeVolumesResponse>"
)


def volume_item(created: dict[str, Any]) -> bytes:
    """One DescribeVolumes <item>, as EC2 writes it, for a CreateVolume answer."""
    item = ET.Element("item")
    for tag, value in (
        ("volumeId", created["VolumeId"]), ("size", str(created["Size"])),
        ("availabilityZone", created["AvailabilityZone"]), ("status", "available"),
        ("volumeType", created["VolumeType"]), ("multiAttachEnabled", "false"),
    ):
        ET.SubElement(item, tag).text = value
    tag_set = ET.SubElement(item, "tagSet")
    for tag in created.get("Tags", []):
        entry = ET.SubElement(tag_set, "item")
        ET.SubElement(entry, "key").text = tag["Key"]
        ET.SubElement(entry, "value").text = tag["Value"]
    return ET.tostring(item)


def seed(ec2: Any, emulator: Any, size: int, workers: int, inventory: list[bytes],
         served: bool) -> float:
    started = time.perf_counter()
    step = max(1, size // 10)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for created in pool.map(lambda i: create_volume(ec2, i), range(size)):
            objects = objects_for(created)
            emulator.seed([as_served(o, done) for o in objects] if served else objects)
            inventory.append(volume_item(created))
            done += 1
            if done % step == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  seeded {done}/{size} volumes (+{2 * done} objects), {rate:.0f}/s",
                      file=sys.stderr, flush=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Variant:
    """One measured child: which sweep, on which interpreter and code, traced or not."""

    label: str
    kind: str  # ours (the function's scheduled reconcile), held (before), naive
    python: str
    path: tuple[str, ...]
    traced: bool = False  # tracemalloc on: its own bookkeeping inflates RSS, so RSS is not read


def variants(asset: bool, naive: bool) -> list[Variant]:
    dev = (str(REPO), str(REPO / "lambdas"))
    found = [
        Variant("ours", "ours", sys.executable, dev),
        Variant("ours", "ours", sys.executable, dev, traced=True),
        Variant("held (before)", "held", sys.executable, dev),
        Variant("held (before)", "held", sys.executable, dev, traced=True),
    ]
    if naive:
        found.append(Variant("naive", "naive", sys.executable, dev, traced=True))
    if asset:
        from asset import build  # noqa: PLC0415
        from bench import _build  # noqa: PLC0415
        from devcluster.standins.lambda_rie import runtime_parts  # noqa: PLC0415

        python = build.target_python()
        if python is None:
            raise SystemExit(f"no python{build.PYTHON_VERSION} to run the asset with")
        # The function's sys.path: the asset, then the runtime's own packages; the runtime
        # client's modules are imported too (awslambdaric), as in the function's process.
        path = (str(_build.asset(host=True)), str(runtime_parts() / "ric"),
                str(_build.runtime_dir()))  # fmt: skip
        found.insert(0, Variant("ours, built asset", "ours", python, path))
    return found


def measure(variant: Variant, size: int, env: dict[str, str], kmock_url: str, ca: str,
            proxy: PagingProxy, server: PagingKmockThread) -> dict[str, Any]:
    assert server.emulator is not None
    proxy.actions.clear()
    before = server.emulator.counts()
    flags = {"BENCH_TRACEMALLOC": "1" if variant.traced else "0"}
    if "built asset" in variant.label:
        flags["BENCH_IMPORT"] = "awslambdaric.bootstrap"
    out = subprocess.run(
        [variant.python, "-c", CLIENT, json.dumps(variant.path), variant.kind, kmock_url, ca,
         str(KUBE_PAGE)],
        env=env | flags, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"{variant.label} sweep of {size} failed:\n{out.stderr[-3000:]}")
    child = json.loads(out.stdout.strip().splitlines()[-1])  # the handler logs to stdout
    kube = server.emulator.counts() - before
    aws = sum(proxy.actions.values())
    writes = sum(proxy.actions[a] for a in WRITE_ACTIONS) + sum(
        n for call, n in kube.items() if not call.startswith("GET ")
    )
    kube_calls = sum(kube.values())
    return {
        "size": size, "kind": variant.kind, "label": variant.label, "traced": variant.traced,
        "seconds": child["seconds"], "cpu": child["cpu"], "aws": aws, "python": child["python"],
        "aws_detail": dict(proxy.actions), "kube": kube_calls, "writes": writes,
        "tracemalloc": child["tracemalloc"], "rss": child["rss"], "rows": child["rows"],
        "in_sync": child["in_sync"],
        # What client-go's default limit (qps 5, burst 10) adds, for these request counts.
        "limited": max(0.0, (kube_calls - 10) / 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--asset", action="store_true",
                        help="also run our sweep from the built asset on the runtime's Python")
    parser.add_argument("--naive", action="store_true", help="also the naive sweep (slow)")
    parser.add_argument("--bare", action="store_true",
                        help="objects as kmock stores them, without the API server's fields")
    args = parser.parse_args()
    chosen = variants(args.asset, args.naive)
    sizes = [int(s) for s in args.sizes.split(",")]

    import botocore.session  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    tls = make_tls(tmp)
    ca = tmp / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    moto = MotoServer()
    moto.start()
    moto_url = moto.url
    proxy = PagingProxy(moto_url)
    env = {
        "PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": proxy.url, "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    }
    session = botocore.session.get_session()
    from botocore.config import Config  # noqa: PLC0415

    ec2 = session.create_client(
        "ec2", region_name="us-east-1", endpoint_url=moto_url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(max_pool_connections=args.workers * 2),
    )
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            urllib.request.urlopen(
                urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=30
            ).close()
            server = PagingKmockThread(tls)
            try:
                print(f"fleet {size}: seeding moto over HTTP ({args.workers} threads) and "
                      "kmock's store directly", file=sys.stderr, flush=True)
                inventory: list[bytes] = []
                took = seed(ec2, server.emulator, size, args.workers, inventory, not args.bare)
                proxy.inventory = inventory
                print(f"  seeded in {took:.1f} s", file=sys.stderr, flush=True)
                for variant in chosen:
                    row = measure(variant, size, env, server.url, str(ca), proxy, server)
                    assert row["rows"] == size and row["in_sync"] == size, row
                    print(f"  {variant.label}{' (traced)' if variant.traced else ''}: "
                          f"{row['seconds']:.2f} s, AWS {row['aws_detail']}, "
                          f"kube {row['kube']}, writes {row['writes']}",
                          file=sys.stderr, flush=True)
                    results.append(row)
            finally:
                server.close()
    finally:
        proxy.close()
        moto.stop()
    report(results, sizes)


def report(results: list[dict[str, Any]], sizes: list[int]) -> None:
    mib = 1024 * 1024
    print("| fleet | sweep | Python | time | client CPU | AWS calls | Kubernetes calls | writes "
          "| tracemalloc peak | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        memory = (f"{r['tracemalloc'] / mib:.1f} MiB | (traced)" if r["traced"]
                  else f"| **{r['rss'] / mib:.1f} MiB**")  # fmt: skip
        print(f"| {r['size']:,} | {r['label']} | {r['python']} | {r['seconds']:.2f} s | "
              f"{r['cpu']:.2f} s | {r['aws']} | {r['kube']} | {r['writes']} | {memory} |")

    def find(size: int, label: str, traced: bool) -> dict[str, Any] | None:
        return next((r for r in results if r["size"] == size and r["label"] == label
                     and r["traced"] == traced), None)  # fmt: skip

    print()
    for size in sizes:
        ours, before = find(size, "ours", True), find(size, "held (before)", True)
        ours_rss, before_rss = find(size, "ours", False), find(size, "held (before)", False)
        if ours and before and ours_rss and before_rss:
            traced = ours["tracemalloc"] / before["tracemalloc"]
            rss = ours_rss["rss"] / before_rss["rss"]
            cpu = ours_rss["cpu"] / before_rss["cpu"]
            print(f"{size:,}: ours / before: tracemalloc {traced:.2f}, RSS {rss:.2f}, "
                  f"client CPU {cpu:.2f}")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for label in ("ours, built asset", "ours", "held (before)"):
            for traced, key in ((False, "rss"), (True, "tracemalloc")):
                a, b = find(small, label, traced), find(large, label, traced)
                if a and b:
                    growth = (b[key] - a[key]) / (large - small)
                    print(f"{label}: {key} grows {growth / 1024:.2f} KiB per volume from "
                          f"{small:,} to {large:,}")
    for r in results:
        pages = math.ceil(r["size"] / AWS_PAGE)
        expected_kube = 2 * math.ceil(r["size"] / KUBE_PAGE) if r["kind"] != "naive" \
            else 2 * r["size"]
        ok = r["aws"] == pages and r["kube"] == expected_kube and r["writes"] == 0
        print(f"check {r['size']} {r['label']}: AWS pages {pages}, kube expected "
              f"{expected_kube}: {'ok' if ok else 'MISMATCH'}")


if __name__ == "__main__":
    main()
