"""Cold start: import + initialise registrar.handler vs the naive client, in fresh processes.

Each run is a new interpreter. "ours" imports registrar.handler and builds the registrar
(registrar.handler.registrar(): the EC2 and EKS clients, region and fake credentials set, no
network). "naive" does `import boto3; import kubernetes.client; from kubernetes.client.api
import core_v1_api; from aws_lambda_powertools import Logger, Metrics, Tracer` and creates an
EC2 client and a CoreV1Api. Runs are interleaved (order rotated every round) so background load
hits both alike; figures are medians.

Modes:
  dev    the venv's interpreter; ours from lambdas/ with the venv's packages.
  asset  the built Lambda asset under `python3.13 -I -S`, sys.path = [asset, runtime], where
         runtime holds boto3/botocore as the python3.13 Lambda runtime does; naive = a plain
         pip install of lambdas/requirements.txt (compiled, the favourable case for it).
         Also ours without the precompiled bytecode, run with -B (a read-only code dir).

Usage: .venv/bin/python -m bench.coldstart [--runs 15] [--mode both|dev|asset] [--rebuild]
       [--importtime]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import _build
from stacks import bundling

OURS = """
import time
t0 = time.perf_counter()
import registrar.handler as h
t1 = time.perf_counter()
h.registrar()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, int(h.tracer.disabled))
"""

NAIVE = """
import time
t0 = time.perf_counter()
import boto3
import kubernetes.client
from kubernetes.client.api import core_v1_api
from aws_lambda_powertools import Logger, Metrics, Tracer
t1 = time.perf_counter()
boto3.client("ec2", region_name="us-east-1")
core_v1_api.CoreV1Api()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, -1)
"""


def lambda_env(task_root: Path) -> dict[str, str]:
    """What the Lambda runtime sets (tracing active), fake credentials, no profile files."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "ebs-pv-registrar",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": "registrar.handler.lambda_handler",
        "POWERTOOLS_SERVICE_NAME": "ebs-pv-registrar",
        "POWERTOOLS_METRICS_NAMESPACE": "EbsPvRegistrar",
        "REGISTRAR_DEFAULT_CLUSTER": "prod",
    }


class Variant:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.imports: list[float] = []
        self.inits: list[float] = []
        self.walls: list[float] = []
        self.tracer = ""

    def run(self) -> None:
        start = time.perf_counter()
        done = subprocess.run(self.argv, env=self.env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} failed:\n{done.stderr[-3000:]}")
        imp, init, tracer = done.stdout.split()[-3:]
        self.imports.append(float(imp))
        self.inits.append(float(init))
        self.walls.append(wall)
        self.tracer = {"1": "off", "0": "on", "-1": "-"}[tracer]

    def medians(self) -> tuple[float, float, float, float]:
        totals = [a + b for a, b in zip(self.imports, self.inits, strict=True)]
        return (
            statistics.median(self.imports),
            statistics.median(self.inits),
            statistics.median(totals),
            statistics.median(self.walls),
        )


def python_code(paths: list[Path], body: str) -> str:
    return f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}\n{body}"


def dev_variants() -> list[Variant]:
    lambdas = _build.REPO / "lambdas"
    env = lambda_env(lambdas) | {"PYTHONPATH": str(lambdas)}
    return [
        Variant("dev ours", [sys.executable, "-c", OURS], env),
        Variant("dev naive", [sys.executable, "-c", NAIVE], env),
    ]


def asset_variants(rebuild: bool) -> list[Variant]:
    python = bundling.target_python()
    if python is None:
        raise SystemExit(f"no python{bundling.PYTHON_VERSION} to run the asset with")
    asset, runtime = _build.asset(rebuild), _build.runtime_dir()
    nopyc, naive = _build.asset_without_bytecode(rebuild), _build.naive(rebuild)
    no_botocore = _build.asset_with_runtime_botocore(rebuild)
    clean = [python, "-I", "-S"]
    return [
        Variant(
            "asset ours", [*clean, "-c", python_code([asset, runtime], OURS)], lambda_env(asset)
        ),
        Variant(
            "asset ours, no pyc (-B)",
            [*clean, "-B", "-c", python_code([nopyc, runtime], OURS)],
            lambda_env(nopyc),
        ),
        Variant(
            "asset ours, runtime botocore",
            [*clean, "-c", python_code([no_botocore, runtime], OURS)],
            lambda_env(no_botocore),
        ),
        Variant(
            "asset naive", [*clean, "-c", python_code([naive, runtime], NAIVE)], lambda_env(naive)
        ),
    ]


def measure(variants: list[Variant], runs: int) -> None:
    for variant in variants:  # one untimed run each: fills the page cache, checks it works
        variant.run()
        variant.imports.clear()
        variant.inits.clear()
        variant.walls.clear()
    for i in range(runs):
        shift = i % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.run()


def report(variants: list[Variant], baseline: Variant, runs: int) -> None:
    print(
        f"\n{'variant':26} {'import':>8} {'init':>8} {'total':>8} {'process':>8}"
        f" {'ratio':>6} tracer"
    )
    base_total = baseline.medians()[2]
    base_wall = baseline.medians()[3]
    for v in variants:
        imp, init, total, wall = v.medians()
        ratio = total / base_total
        print(
            f"{v.name:26} {imp * 1000:7.0f}ms {init * 1000:7.0f}ms {total * 1000:7.0f}ms"
            f" {wall * 1000:7.0f}ms {ratio:6.2f} {v.tracer}"
        )
    print(
        f"(medians of {runs} interleaved runs; total = import + init in the process; process ="
        f" wall time of the whole fresh interpreter; ratio = total / {baseline.name}"
        f" total; process ratio {variants[0].medians()[3] / base_wall:.2f})"
    )


def importtime(rebuild: bool) -> None:
    """`python -X importtime` of ours in the asset: where the remaining milliseconds go."""
    python = bundling.target_python()
    asset, runtime = _build.asset(rebuild), _build.runtime_dir()
    argv = [str(python), "-I", "-S", "-X", "importtime", "-c", python_code([asset, runtime], OURS)]
    done = subprocess.run(argv, env=lambda_env(asset), capture_output=True, text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_text, cumulative_text, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_text), int(self_text), name.rstrip()))
    by_package: dict[str, int] = {}
    for _cumulative, self_us, name in rows:
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
    total = sum(by_package.values())
    print(f"\nimporttime of ours in the asset: {total / 1000:.0f} ms, self time by package:")
    for package, self_us in sorted(by_package.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {self_us / 1000:7.1f} ms  {package}")
    print("direct imports of registrar.handler (cumulative):")
    direct = [r for r in rows if r[2].startswith("   ") and not r[2].startswith("     ")]
    for cumulative, _self_us, name in sorted(direct, reverse=True)[:10]:
        print(f"  {cumulative / 1000:7.1f} ms  {name.strip()}")
    print("  init (registrar()):", done.stdout.split()[1][:6], "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--mode", choices=("both", "dev", "asset"), default="both")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    print(f"host: {os.uname().machine}, {os.cpu_count()} cores, {sys.version.split()[0]} (dev)")
    if args.mode in ("both", "asset"):
        variants = asset_variants(args.rebuild)
        measure(variants, args.runs)
        report(variants, variants[-1], args.runs)
        if args.importtime:
            importtime(False)
    if args.mode in ("both", "dev"):
        variants = dev_variants()
        measure(variants, args.runs)
        report(variants, variants[-1], args.runs)


if __name__ == "__main__":
    main()
