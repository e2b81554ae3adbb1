"""What kube-scheduler and the workload controllers cost the local control plane at start-up.

Each run starts the control plane (devcluster/standins/controlplane.py) in a fresh directory and
measures, in the same run:
- ready: from the process start until /readyz answers and the `default` namespace exists
  (what the demo and the e2e fixture wait for);
- first pod: from ready until a Deployment's pod is bound to a node (nodes created through the
  API, the `default` service account created by its controller, a ReplicaSet, the pod, the
  scheduler's binding): when the workload part is usable;
- RSS of the process after that (VmHWM, VmRSS).
With `--baseline BINARY` (a build of earlier sources, e.g. without the scheduler) the same
start-up is measured for it, interleaved run by run, and `ready` is printed as a ratio.

Usage: .venv/bin/python -m bench.controlplane [--runs 5] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from devcluster.demo.workload import wait_scheduled
from devcluster.standins.certs import make_tls
from devcluster.standins.controlplane import ControlPlane, build_binary
from devcluster.standins.nodes import add_zone_node

REPO = Path(__file__).resolve().parent.parent

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "bench"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "bench"}},
        "template": {
            "metadata": {"labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.37"}]},
        },
    },
}


def memory_kib(pid: int | None) -> dict[str, int]:
    if pid is None:
        return {}
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmHWM", "VmRSS") if key in fields}


def one_run(binary: Path, workload: bool) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-controlplane-"))
    plane = ControlPlane(workdir, make_tls(workdir), "http://127.0.0.1:9")
    try:
        plane.start(binary)
        result = {"ready": plane.startup_seconds}
        if workload:
            started = time.monotonic()
            for zone in ZONES:
                add_zone_node(plane, zone, "us-east-1")
            plane.admin_request("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT)
            wait_scheduled(plane, "default", "app=bench", timeout=120)
            result["first_pod"] = time.monotonic() - started
        result |= {k: v / 1024 for k, v in memory_kib(plane.pid).items()}
        return result
    finally:
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="an earlier build, for the ratio")
    args = parser.parse_args()
    binary = build_binary()
    size = binary.stat().st_size / 1e6
    ours: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    for _ in range(args.runs):
        ours.append(one_run(binary, workload=True))
        if args.baseline:
            baseline.append(one_run(args.baseline, workload=False))
    print(f"binary {binary}: {size:.1f} MB; {args.runs} runs, medians")
    print(f"  ready      {median(ours, 'ready'):6.2f} s")
    print(f"  first pod  {median(ours, 'first_pod'):6.2f} s after ready")
    print(f"  RSS        {median(ours, 'VmRSS'):6.0f} MiB (peak {median(ours, 'VmHWM'):.0f})")
    if args.baseline:
        base_size = args.baseline.stat().st_size / 1e6
        ratio = median(ours, "ready") / median(baseline, "ready")
        print(f"baseline {args.baseline}: {base_size:.1f} MB")
        print(f"  ready      {median(baseline, 'ready'):6.2f} s   ours/baseline {ratio:.2f}")
        rss, peak = median(baseline, "VmRSS"), median(baseline, "VmHWM")
        print(f"  RSS        {rss:6.0f} MiB (peak {peak:.0f})")
        print(f"  size       ours/baseline {size / base_size:.3f}")


if __name__ == "__main__":
    main()
