"""Peak memory of one registration, from the built asset, in a fresh `python3.13 -I -S`.

The measured process imports registrar.handler, builds the registrar as the Lambda does, then
registers one volume end to end: a complete CloudTrail CreateVolume -> PV + PVC + 2 Events on a
kmock API server over TLS -> CreateTags on a moto server. The servers run outside the measured
process. Reported: peak RSS (VmHWM; Lambda's "Max Memory Used" is the sandbox's peak) and the
tracemalloc peak (Python objects only) in a second run.

Usage: .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench import _build
from devcluster import eventfactory as ef
from devcluster.kmockthread import KmockThread
from devcluster.lambda_runtime import lambda_env
from devcluster.motoserver import MotoServer
from devcluster.tlsapi import make_tls
from stacks import bundling

CHILD = """
import json, sys

def hwm_kib():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])

trace = sys.argv[5] == "1"
if trace:
    import tracemalloc
    tracemalloc.start()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import registrar.handler as handler
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.engine.service import Registrar
from registrar.core.settings import Settings
after_import = hwm_kib()
handler.registrar()  # the Lambda's own wiring, as on a cold start
gateway = KubeGateway(sys.argv[3], open(sys.argv[4], "rb").read(), lambda _force: "token")

class OneCluster:
    def kube_for(self, cluster):
        return gateway

service = Registrar(Settings.from_env(), Ec2Volumes("us-east-1"), OneCluster())
result = handler.handle(json.loads(sys.stdin.read()), service)
print(json.dumps({
    "result": result,
    "rss_after_import_kib": after_import,
    "peak_rss_kib": hwm_kib(),
    "tracemalloc_peak": tracemalloc.get_traced_memory()[1] if trace else None,
}))
"""


def main() -> None:
    python = bundling.target_python()
    asset, runtime = _build.asset(), _build.runtime_dir()
    env = lambda_env(asset)
    moto = MotoServer()
    moto.start()
    moto_url = moto.url
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    import boto3  # noqa: PLC0415 - the parent only

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)
    with tempfile.TemporaryDirectory() as tmp:
        tls = make_tls(Path(tmp))
        ca = Path(tmp) / "ca.pem"
        ca.write_bytes(tls.ca_pem)
        kube = KmockThread(tls)
        try:
            rows = []
            for n, trace in enumerate(("0", "1", "0")):
                tags = {"k8s-pv": f"data-{n}", "k8s-pvc": f"apps/data-{n}"}
                items = [{"Key": k, "Value": v} for k, v in tags.items()]
                spec = [{"ResourceType": "volume", "Tags": items}]
                volume = ec2.create_volume(
                    AvailabilityZone="us-east-1a", Size=8, VolumeType="gp3", TagSpecifications=spec
                )["VolumeId"]
                paths = [str(asset), str(runtime), kube.url, str(ca), trace]
                argv = [str(python), "-I", "-S", "-c", CHILD, *paths]
                done = subprocess.run(
                    argv,
                    input=json.dumps(ef.create_volume(volume, tags)),
                    env=env | {"AWS_ENDPOINT_URL": moto_url},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        finally:
            kube.close()
            moto.stop()
    for row in rows:
        outcome = row["result"]["outcomes"][0]
        assert outcome["result"] == "registered", outcome
    rss = max(r["peak_rss_kib"] for r in rows if r["tracemalloc_peak"] is None)
    after_import = min(r["rss_after_import_kib"] for r in rows if r["tracemalloc_peak"] is None)
    traced = next(r["tracemalloc_peak"] for r in rows if r["tracemalloc_peak"] is not None)
    print(f"outcome: {rows[0]['result']['outcomes'][0]['objects']}")
    print(f"RSS after imports: {after_import / 1024:.1f} MiB")
    print(f"peak RSS over a registration: {rss / 1024:.1f} MiB (max of 2 runs)")
    print(f"tracemalloc peak (Python objects): {traced / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
