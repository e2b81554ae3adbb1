"""Cost of the one-volume-one-PV check per registration with 1,000 and 10,000 PVs in the cluster:
one paginated LIST of every PV (there is no field selector on spec.csi.volumeHandle), filtered
page by page. Measured against the same registration's other requests (the baseline: what a
registration cost before the check), in the same run.

kmock over TLS as `PagingEmulator` (devcluster/standins/scale.py: limit/continue like a real API
server), seeded straight into its store: 9 of 10 PVs ours, 1 of 10 hand-written. Each
measurement runs in a fresh child process (the client only), page size 500 as the function's
gateway uses (adapters/eks.py: SWEEP_PAGE_SIZE): wall time, response bytes read, tracemalloc
peak and peak RSS (VmHWM) are the child's; requests are counted at the server. The client's
rate limiter is lifted to measure the check itself; `at qps 5` is what REGISTRAR_KUBE_QPS=5,
burst 10 makes of those requests.

Usage: .venv/bin/python -m bench.one_pv [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from devcluster.standins.scale import PagingKmockThread
from devcluster.standins.tlsapi import make_tls
from registrar.core.manifests import VolumeSpec, persistent_volume

REPO = Path(__file__).resolve().parent.parent
PAGE = 500

CLIENT = r"""
import json, sys, time, tracemalloc
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/lambdas"]
url, ca, page, volume_id = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
from registrar.adapters import kube_transport
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RateLimit
from registrar.core.objects import ClusterView

read = [0]
send = kube_transport.KubeTransport._send
def counting(self, *args, **kwargs):
    status, headers, data = send(self, *args, **kwargs)
    read[0] += len(data)
    return status, headers, data
kube_transport.KubeTransport._send = counting

gateway = KubeGateway(url, open(ca, "rb").read(), lambda _f: "t", page_size=page,
                      rate_limit=RateLimit(qps=1e6, burst=1_000_000))
tracemalloc.start()
start = time.perf_counter()
found = ClusterView(gateway.list("PersistentVolume")).holders(volume_id)
elapsed = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"found": found, "seconds": elapsed, "bytes": read[0],
                  "tracemalloc_peak": peak,
                  # VmHWM: ru_maxrss would start at the forking parent's size
                  "maxrss_kib": next(int(line.split()[1]) for line in open("/proc/self/status")
                                     if line.startswith("VmHWM:"))}))
"""


def pv(index: int) -> dict[str, Any]:
    volume_id = f"vol-{index:017x}"
    spec = VolumeSpec(
        volume_id=volume_id, pv_name=f"data-{index:05d}", capacity="10Gi", zone="us-east-1a",
        zone_label="topology.kubernetes.io/zone", csi_driver="ebs.csi.aws.com",
        access_mode="ReadWriteOnce", volume_mode="Filesystem", fs_type="ext4",
        reclaim_policy="Retain", storage_class="", cluster="prod",
        claim=("apps", f"claim-{index:05d}"),
    )
    manifest = persistent_volume(spec)
    if index % 10 == 9:  # hand-written: no label, no annotations
        manifest["metadata"] = {"name": f"by-hand-{index:05d}"}
    manifest["metadata"] |= {"uid": f"uid-{index}", "resourceVersion": str(index + 1)}
    manifest["status"] = {"phase": "Bound"}
    return manifest


def measure(size: int, folder: Path) -> dict[str, Any]:
    (folder / f"tls-{size}").mkdir()
    tls = make_tls(folder / f"tls-{size}")
    server = PagingKmockThread(tls)
    try:
        assert server.emulator is not None
        server.emulator.seed(pv(i) for i in range(size))
        ca = folder / f"ca-{size}.pem"
        ca.write_bytes(tls.ca_pem)
        target = f"vol-{size - 1:017x}"  # the hand-written PV of the last page
        server.emulator.log.clear()
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, str(REPO), server.url, str(ca), str(PAGE), target],
            capture_output=True, text=True, check=True, timeout=600,
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["requests"] = sum(server.emulator.counts().values())
        return result
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    # A registration without the check: POST PV, POST PVC, 2 POST Event (bench/README.md).
    baseline_requests = 4
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            r = measure(size, Path(tmp))
            limited = max(0.0, (r["requests"] + baseline_requests - 10) / 5)
            print(
                f"{size:>6} PVs: {r['requests']} LIST requests "
                f"(+{r['requests'] / baseline_requests:.2f}x the registration's 4), "
                f"{r['bytes'] / 2**20:.1f} MiB read, {r['seconds'] * 1000:.0f} ms, "
                f"tracemalloc peak {r['tracemalloc_peak'] / 2**20:.1f} MiB, "
                f"RSS {r['maxrss_kib'] / 1024:.1f} MiB, at qps 5: +{limited:.1f} s; "
                f"found {r['found']}"
            )


if __name__ == "__main__":
    main()
