"""Cold start as Lambda reports it: Init Duration and the first invocation's Duration, measured
through the real runtime parts (devcluster/standins/lambda_rie.py: the Runtime Interface
Emulator and awslambdaric on the runtime's Python, code directories read-only, a fresh
interpreter per cold start), for three bundles handling the same two events:

  ours    the asset as asset/build.py builds it (this machine's wheels, same recipe)
  naive   powertools (Logger, Metrics, Tracer) + the full kubernetes client + boto3 clients at
          module level (bench/handlers/naive_handler.py)
  empty   an empty handler: the interpreter and the runtime client alone

  ignored     an untagged CreateVolume (no network)
  registers   a tagged, complete CreateVolume: DescribeCluster, POST PV, POST PVC, 2 Events,
              CreateTags, against bench/standin.py (loopback)

All runs of one invocation of this script are interleaved (the order rotates every round) so
background load hits every variant alike; figures are medians, ratios are within the run.
`--floors` adds handlers that only import what the registrar cannot do without, to show the
dependencies' floor. Peak RSS: the runtime process's VmHWM after the first invocation.

Usage: .venv/bin/python -m bench.coldstart [--runs 15] [--floors] [--tracing] [--rebuild]
       [--importtime]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asset import build
from bench import _build
from bench.standin import StandIn
from devcluster.demo.events import create_volume_event
from devcluster.standins.lambda_rie import Emulator, Sample, runtime_parts

REGION = "us-east-1"
CLUSTER = "prod"
MEMORY_MB = "128"
TAGS = {"k8s-pv": "data-0", "k8s-pvc": "apps/data-0"}
VOLUME = {
    "VolumeId": "vol-0123456789abcdef0",
    "Size": 8,
    "AvailabilityZone": f"{REGION}a",
    "VolumeType": "gp3",
}

# Floors: what remains when everything we could cut is cut (each imports at module level).
FLOORS = {
    "floor_powertools": "from aws_lambda_powertools import Logger, Metrics\n"
    "logger = Logger(service='x'); metrics = Metrics(namespace='x', service='x')\n",
    "floor_botocore": "import botocore.session\n",
    "floor_urllib3": "import urllib3\n",
    "floor_all": "from aws_lambda_powertools import Logger, Metrics\nimport botocore.session\n"
    "import urllib3\nlogger = Logger(service='x'); metrics = Metrics(namespace='x', service='x')\n",
}
# The OpenTelemetry path for tracing (the X-Ray SDKs' successor): the SDK, the botocore
# instrumentation and the OTLP/HTTP exporter around our handler, one span per invocation
# flushed before returning (a frozen sandbox sends nothing).
OTEL_REQUIREMENTS = (
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-instrumentation-botocore==0.66b2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
)
OTEL_HANDLER = """\
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
BotocoreInstrumentor().instrument()
tracer = trace.get_tracer("ebs-pv-registrar")

from registrar.handler import lambda_handler as registrar_handler


def lambda_handler(event, context):
    with tracer.start_as_current_span("lambda_handler"):
        result = registrar_handler(event, context)
    provider.force_flush()
    return result
"""
# The tracing the function had before: Powertools' Tracer over the X-Ray SDK, patching botocore.
XRAY_REQUIREMENTS = ("aws-xray-sdk==2.15.0",)
XRAY_HANDLER = """\
from aws_lambda_powertools import Tracer

tracer = Tracer(service="ebs-pv-registrar", patch_modules=("botocore",))

from registrar.handler import lambda_handler as registrar_handler

lambda_handler = tracer.capture_lambda_handler(registrar_handler)
"""
FLOOR_HANDLER = "\n\ndef lambda_handler(event, context):\n    return {'outcomes': []}\n"


@dataclass
class Variant:
    name: str
    task: Path
    handler: str
    events: tuple[str, ...] = ("ignored", "registers")
    libraries: tuple[Path, ...] = ()  # on the path after the code, before the runtime's


def events() -> dict[str, dict[str, Any]]:
    tagged = VOLUME | {"Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]}
    untagged = VOLUME | {"Tags": [{"Key": "Name", "Value": "scratch"}]}
    return {
        "ignored": create_volume_event(untagged, REGION),
        "registers": create_volume_event(tagged, REGION),
    }


def function_env(aws_url: str) -> dict[str, str]:
    """What Lambda sets for a python3.13 function, our settings, dummy keys, the stand-in."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": aws_url,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{aws_url}/v1/traces",  # the stand-in answers 400
        "OTEL_SERVICE_NAME": "ebs-pv-registrar",
        "AWS_LAMBDA_FUNCTION_NAME": "ebs-pv-registrar",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": MEMORY_MB,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_SERVICE_NAME": "ebs-pv-registrar",
        "POWERTOOLS_METRICS_NAMESPACE": "EbsPvRegistrar",
        "REGISTRAR_DEFAULT_CLUSTER": CLUSTER,
    }


def task_with_handlers(name: str, base: Path | None, handlers: dict[str, str]) -> Path:
    """A code directory: a copy of `base` (or nothing) plus handler modules, compiled."""
    out = _build.WORK / name
    shutil.rmtree(out, ignore_errors=True)
    if base is None:
        out.mkdir(parents=True)
    else:
        shutil.copytree(base, out, symlinks=True)
    for module, source in handlers.items():
        (out / f"{module}.py").write_text(source)
    python = build.target_python()
    files = [str(out / f"{module}.py") for module in handlers]
    subprocess.run([str(python), "-m", "py_compile", *files], check=True)
    return out


def libraries(name: str, requirements_list: tuple[str, ...], rebuild: bool) -> Path:
    """pip install --target for this machine, compiled: a tracing option's packages."""
    out = _build.WORK / f"{name}-libraries"
    if rebuild or not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        requirements = _build.WORK / f"{name}-requirements.txt"
        requirements.write_text("\n".join(requirements_list) + "\n")
        arch = f"manylinux2014_{os.uname().machine}"
        subprocess.run(build.pip_command(str(out), str(requirements), arch), check=True)
        subprocess.run(
            [str(build.target_python()), "-m", "compileall", "-q", "-j0", str(out)], check=False
        )
        (out / ".complete").touch()
    return out


def variants(rebuild: bool, floors: bool, tracing: bool) -> list[Variant]:
    empty_source = (_build.HANDLERS / "empty_handler.py").read_text()
    found = [
        Variant("ours", _build.asset(rebuild, host=True), "registrar.handler.lambda_handler"),
        Variant("naive", _build.naive(rebuild), "naive_handler.lambda_handler"),
        Variant(
            "empty",
            task_with_handlers("empty-task", None, {"empty_handler": empty_source}),
            "empty_handler.lambda_handler",
            ("ignored",),
        ),
    ]
    if tracing:
        handlers = {"otel_handler": OTEL_HANDLER, "xray_handler": XRAY_HANDLER}
        task = task_with_handlers("asset-tracing", found[0].task, handlers)
        otel = libraries("otel", OTEL_REQUIREMENTS, rebuild)
        xray = libraries("xray", XRAY_REQUIREMENTS, rebuild)
        found[1:1] = [
            Variant("ours + X-Ray SDK", task, "xray_handler.lambda_handler", libraries=(xray,)),
            Variant("ours + OTel", task, "otel_handler.lambda_handler", libraries=(otel,)),
        ]
    if floors:
        floor_sources = {name: body + FLOOR_HANDLER for name, body in FLOORS.items()}
        task = task_with_handlers("asset-floors", found[0].task, floor_sources)
        found += [Variant(n, task, f"{n}.lambda_handler", ("ignored",)) for n in FLOORS]
    return found


Key = tuple[str, str]


def measure(
    emulator: Emulator, chosen: list[Variant], runs: int
) -> tuple[dict[Key, list[Sample]], StandIn]:
    samples: dict[Key, list[Sample]] = defaultdict(list)
    sample_events = events()
    runtime = [_build.runtime_dir()]
    with tempfile.TemporaryDirectory() as tmp, StandIn(Path(tmp)) as standin:
        env = function_env(standin.aws_url)
        jobs = [(v, e) for v in chosen for e in v.events]
        for variant, event in jobs:  # one untimed run each: page cache, and it must work
            sample = emulator.cold_start(
                variant.task,
                variant.handler,
                [*variant.libraries, *runtime],
                env,
                sample_events[event],
            )
            check(variant, event, sample)
        standin.calls.clear()
        for i in range(runs):
            shift = i % len(jobs)
            for variant, event in jobs[shift:] + jobs[:shift]:
                sample = emulator.cold_start(
                    variant.task,
                    variant.handler,
                    [*variant.libraries, *runtime],
                    env,
                    sample_events[event],
                )
                samples[(variant.name, event)].append(sample)
    return samples, standin


def check(variant: Variant, event: str, sample: Sample) -> None:
    if variant.name.startswith(("empty", "floor")):
        return
    results = [o["result"] for o in sample.response["outcomes"]]
    expected = "registered" if event == "registers" else "ignored"
    if results != [expected]:
        raise SystemExit(f"{variant.name} {event}: {sample.response}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(samples: dict[Key, list[Sample]], runs: int, asset: Path) -> None:
    print(
        f"\nmedians of {runs} interleaved cold starts (ms; peak RSS: the highest, and CPU time:"
        " the median, of the runtime process)"
    )
    header = f"{'bundle':18} {'event':10} {'Init':>7} {'invoke':>7} {'total':>7} {'/naive':>7}"
    print(header + f" {'Init/empty':>10} {'peak RSS':>9} {'CPU':>6}")
    empty_init = median([s.init_ms for s in samples[("empty", "ignored")]])
    for (name, event), rows in samples.items():
        total = median([s.total_ms for s in rows])
        naive_rows = samples.get(("naive", event))
        ratio = total / median([s.total_ms for s in naive_rows]) if naive_rows else float("nan")
        init = median([s.init_ms for s in rows])
        print(
            f"{name:18} {event:10} {init:7.0f} {median([s.invoke_ms for s in rows]):7.1f}"
            f" {total:7.0f} {ratio:7.2f} {init / empty_init:10.1f}"
            f" {max(s.peak_rss_kib for s in rows) / 1024:7.1f}Mi"
            f" {median([s.cpu_ms for s in rows]):6.0f}"
        )
    size = _build.tree_size(asset)
    print(f"\nasset (this machine's wheels), unzipped: {size / 1e6:.1f} MB")
    arm = _build.WORK / "asset"
    if arm.is_dir():
        print(f"asset as deployed (aarch64 wheels), unzipped: {_build.tree_size(arm) / 1e6:.1f} MB")
    goals(samples, empty_init, size)


def goals(samples: dict[Key, list[Sample]], empty_init: float, size: int) -> None:
    print("\ngoals:")
    for event in ("ignored", "registers"):
        ours = median([s.total_ms for s in samples[("ours", event)]])
        naive = median([s.total_ms for s in samples[("naive", event)]])
        verdict = "met" if ours <= 0.18 * naive else "NOT met"
        ratio = ours / naive
        print(f"  Init + first invoke, {event}: {ratio:.2f} x naive (goal <= 0.18) {verdict}")
    ours_init = median([s.init_ms for s in samples[("ours", "ignored")]])
    verdict = "met" if ours_init <= 4 * empty_init else "NOT met"
    print(f"  Init: {ours_init / empty_init:.1f} x the empty handler's (goal <= 4) {verdict}")
    verdict = "met" if size <= 20e6 else "NOT met"
    print(f"  asset: {size / 1e6:.1f} MB (goal <= 20 MB) {verdict}")


def importtime(asset: Path) -> None:
    """`python -X importtime` of ours (inflated by the profiler): self time by package."""
    python = build.target_python()
    code = f"import sys; sys.path[:0] = [{str(asset)!r}]; import registrar.handler"
    argv = [str(python), "-I", "-S", "-X", "importtime", "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    by_package: dict[str, int] = defaultdict(int)
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, _cumulative, name = line.removeprefix("import time:").split("|")
            by_package[name.strip().split(".")[0]] += int(own)
    print(f"\nimporttime of ours: {sum(by_package.values()) / 1000:.0f} ms, self time by package:")
    for package, self_us in sorted(by_package.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {self_us / 1000:7.1f} ms  {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--floors", action="store_true")
    parser.add_argument(
        "--tracing", action="store_true", help="add ours with the X-Ray SDK / OpenTelemetry"
    )
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    python = build.target_python()
    if python is None:
        raise SystemExit(f"no python{build.PYTHON_VERSION} to run the asset with")
    print(f"host: {os.uname().machine}, {os.cpu_count()} cores; runtime Python {python}")
    emulator = Emulator(runtime_parts(), python)
    chosen = variants(args.rebuild, args.floors, args.tracing)
    samples, standin = measure(emulator, chosen, args.runs)
    report(samples, args.runs, chosen[0].task)
    registering = sum("registers" in v.events for v in chosen)
    per_run = {k: v / (registering * args.runs) for k, v in standin.calls.items()}
    print(f"stand-in calls per registering cold start: {per_run}")
    if args.importtime:
        importtime(chosen[0].task)


if __name__ == "__main__":
    main()
