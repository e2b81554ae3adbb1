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
peak and peak RSS (ru_maxrss) are the child's; AWS calls are counted at the proxy and Kubernetes
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devcluster.motoserver import MotoServer
from devcluster.scale import (
    PagingKmockThread,
    create_volume,
    objects_for,
)
from devcluster.tlsapi import make_tls

REPO = Path(__file__).resolve().parent.parent
AWS_PAGE = 500  # Ec2Volumes.tagged_volumes
KUBE_PAGE = 500  # eks.SWEEP_PAGE_SIZE
WRITE_ACTIONS = ("CreateTags", "DeleteTags")

CLIENT = r"""
import json, resource, sys, time, tracemalloc
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/lambdas"]
kind, url, ca, page = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
from botocore.config import Config
from registrar.adapters.aws import CLIENT_CONFIG, Ec2Volumes
from registrar.core.objects import conflict_reason
from registrar.core.errors import NotFoundError
from registrar.adapters.kube_transport import RateLimit
from registrar.adapters.kube import KubeGateway
from registrar.core.planner import Plan, plan_volume
from registrar.engine.reconcile import Reconciler
from devcluster.kmockthread import OneCluster
from devcluster.scale import SETTINGS

def naive(volumes, kube):
    rows = []
    for facts in volumes.tagged_volumes():
        plan = plan_volume(facts, SETTINGS)
        if not isinstance(plan, Plan):
            continue
        state = "in-sync"
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

gateway = KubeGateway(url, open(ca, "rb").read(), lambda _f: "token", page_size=page,
                      rate_limit=RateLimit(qps=1e6, burst=1000000))
# moto answers a 10,000-volume DescribeVolumes in tens of seconds (the proxy pages it after):
# a stand-in's slowness, so the read timeout is lifted for the bench only.
volumes = Ec2Volumes("us-east-1", config=CLIENT_CONFIG.merge(Config(read_timeout=600)))
volumes._ec2.get_paginator("describe_volumes")  # load the service model before measuring
tracemalloc.start()
started, cpu = time.perf_counter(), time.process_time()
if kind == "ours":
    rows = [r.action for r in Reconciler(SETTINGS, volumes, OneCluster(gateway)).sweep("prod")]
else:
    rows = naive(volumes, gateway)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1]
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": len(rows),
                  "in_sync": rows.count("in-sync"),
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

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
                    status, data = proxy.forward(upstream, self.path, body, dict(self.headers))
                    if action == "DescribeVolumes" and limit and status == 200:
                        data = proxy.start_chain(chains, data, limit)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def forward(
        upstream: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        request = urllib.request.Request(upstream + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

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
        self._server.shutdown()
        self._server.server_close()


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


def seed(ec2: Any, emulator: Any, size: int, workers: int, inventory: list[bytes]) -> float:
    started = time.perf_counter()
    step = max(1, size // 10)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for created in pool.map(lambda i: create_volume(ec2, i), range(size)):
            emulator.seed(objects_for(created))
            inventory.append(volume_item(created))
            done += 1
            if done % step == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  seeded {done}/{size} volumes (+{2 * done} objects), {rate:.0f}/s",
                      file=sys.stderr, flush=True)
    return time.perf_counter() - started


def measure(kind: str, size: int, env: dict[str, str], kmock_url: str, ca: str,
            proxy: PagingProxy, server: PagingKmockThread) -> dict[str, Any]:
    assert server.emulator is not None
    proxy.actions.clear()
    before = server.emulator.counts()
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(REPO), kind, kmock_url, ca, str(KUBE_PAGE)],
        env=env, check=False, capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"{kind} sweep of {size} failed:\n{out.stderr[-3000:]}")
    child = json.loads(out.stdout)
    kube = server.emulator.counts() - before
    aws = sum(proxy.actions.values())
    writes = sum(proxy.actions[a] for a in WRITE_ACTIONS) + sum(
        n for call, n in kube.items() if not call.startswith("GET ")
    )
    kube_calls = sum(kube.values())
    return {
        "size": size, "kind": kind, "seconds": child["seconds"], "cpu": child["cpu"], "aws": aws,
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
    args = parser.parse_args()
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
                took = seed(ec2, server.emulator, size, args.workers, inventory)
                proxy.inventory = inventory
                print(f"  seeded in {took:.1f} s", file=sys.stderr, flush=True)
                for kind in ("ours", "naive"):
                    row = measure(kind, size, env, server.url, str(ca), proxy, server)
                    assert row["rows"] == size and row["in_sync"] == size, row
                    print(f"  {kind}: {row['seconds']:.2f} s, AWS {row['aws_detail']}, "
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
    print("| fleet | sweep | time | client CPU | AWS calls | Kubernetes calls | writes | peak "
          "memory (tracemalloc / RSS) | per volume (time, calls, tracemalloc) | at qps 5 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        n = r["size"]
        per = (f"{1000 * r['seconds'] / n:.3f} ms, {(r['aws'] + r['kube']) / n:.3f}, "
               f"{r['tracemalloc'] / n / 1024:.1f} KiB")
        print(f"| {n:,} | {r['kind']} | {r['seconds']:.2f} s | {r['cpu']:.2f} s | "
              f"{r['aws']} | {r['kube']} | "
              f"{r['writes']} | {r['tracemalloc'] / mib:.1f} / {r['rss'] / mib:.1f} MiB | "
              f"{per} | +{r['limited']:.0f} s |")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\nper-volume cost ratio, {large:,} vs {small:,} (1.0 = linear):")
        for kind in ("ours", "naive"):
            a = next(r for r in results if r["size"] == small and r["kind"] == kind)
            b = next(r for r in results if r["size"] == large and r["kind"] == kind)
            def ratio(key: str, a: dict[str, Any] = a, b: dict[str, Any] = b) -> float:
                return float((b[key] / large) / (a[key] / small))
            calls = ((b["aws"] + b["kube"]) / large) / ((a["aws"] + a["kube"]) / small)
            print(f"  {kind}: time {ratio('seconds'):.2f}, client CPU {ratio('cpu'):.2f}, "
                  f"calls {calls:.2f}, "
                  f"tracemalloc {ratio('tracemalloc'):.2f}, RSS {ratio('rss'):.2f}")
    for r in results:
        pages = math.ceil(r["size"] / AWS_PAGE)
        expected_kube = 2 * math.ceil(r["size"] / KUBE_PAGE) if r["kind"] == "ours" \
            else 2 * r["size"]
        ok = r["aws"] == pages and r["kube"] == expected_kube and r["writes"] == 0
        print(f"check {r['size']} {r['kind']}: AWS pages {pages}, kube expected "
              f"{expected_kube}: {'ok' if ok else 'MISMATCH'}")


if __name__ == "__main__":
    main()
