"""Builds shared by the benchmarks: the real asset (asset.build.bundle, the code path the
CDK runs), the naive bundle (plain pip install of lambdas/requirements.txt) and a stand-in for
the Lambda runtime's own boto3/botocore (/var/runtime)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from asset import build
from devcluster.standins.lambda_runtime import copy_runtime

REPO = Path(__file__).resolve().parent.parent


HANDLERS = REPO / "bench" / "handlers"
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/ebs-pv-registrar-bench"))


def asset(rebuild: bool = False, *, host: bool = False) -> Path:
    """The Lambda asset as the CDK builds it (aarch64 wheels); host=True: the same recipe with
    this machine's wheels, so native modules load here as they do in Lambda."""
    arch = platform.machine() if host else "aarch64"
    out = WORK / ("asset" if not host else f"asset-{arch}")
    if rebuild or not (out / build.PACKAGE).is_dir():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        build.bundle(build.ASSET_ROOT, str(out), f"manylinux2014_{arch}")
    return out


# The naive bundle's requirements: powertools with its Tracer (the X-Ray SDK), the full
# kubernetes client; boto3 comes from the runtime.
NAIVE_REQUIREMENTS = """\
aws-lambda-powertools[tracer]==3.37.0
kubernetes==37.0.1
python-dateutil>=2.8,<3
"""


def naive(rebuild: bool = False, *, host: bool = True, compile_: bool = True) -> Path:
    """pip install --target of NAIVE_REQUIREMENTS plus bench/handlers/naive_handler.py.
    host=True installs wheels for this machine so native modules load in the benchmark."""
    arch = platform.machine() if host else "aarch64"
    out = WORK / f"naive-{arch}{'' if compile_ else '-nopyc'}"
    if rebuild or not (out / "kubernetes").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        requirements = WORK / "naive-requirements.txt"
        requirements.write_text(NAIVE_REQUIREMENTS)
        command = build.pip_command(str(out), str(requirements), f"manylinux2014_{arch}")
        subprocess.run(command, check=True)
        shutil.copy2(HANDLERS / "naive_handler.py", out / "naive_handler.py")
        python = build.target_python()
        if compile_ and python:
            subprocess.run([python, "-m", "compileall", "-q", "-j0", str(out)], check=False)
    return out


def runtime_dir() -> Path:
    """What the python3.13 Lambda runtime provides besides the stdlib: boto3 and botocore."""
    out = WORK / "runtime"
    if not (out / "boto3").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        copy_runtime(out, build.target_python())
    return out


def tree_size(path: Path, *, pyc: bool = True) -> int:
    """Unzipped bytes (apparent sizes of regular files)."""
    total = 0
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink() and (pyc or file.suffix != ".pyc"):
            total += file.stat().st_size
    return total
