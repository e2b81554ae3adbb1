"""Builds shared by the benchmarks: the real asset (stacks.bundling.bundle, the code path the
CDK runs), the naive bundle (plain pip install of lambdas/requirements.txt) and a stand-in for
the Lambda runtime's own boto3/botocore (/var/runtime)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from devcluster.lambda_runtime import copy_runtime
from stacks import bundling

REPO = Path(__file__).resolve().parent.parent


WORK = Path(os.environ.get("BENCH_WORK", "/tmp/ebs-pv-registrar-bench"))


def asset(rebuild: bool = False) -> Path:
    """The Lambda asset as the CDK builds it (aarch64 wheels; x86_64 hosts use pure fallbacks)."""
    out = WORK / "asset"
    if rebuild or not (out / bundling.PACKAGE).is_dir():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        bundling.bundle(bundling.ASSET_ROOT, str(out))
    return out


def asset_without_bytecode(rebuild: bool = False) -> Path:
    out = WORK / "asset-nopyc"
    if rebuild or not out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(asset(), out, ignore=shutil.ignore_patterns("__pycache__"))
    return out


def asset_with_runtime_botocore(rebuild: bool = False) -> Path:
    """The asset without its trimmed botocore: the runtime's full botocore answers instead."""
    out = WORK / "asset-runtime-botocore"
    if rebuild or not out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
        source = asset()

        def top_level_botocore(folder: str, names: list[str]) -> list[str]:
            # Only the shipped botocore: aws_xray_sdk/ext/botocore (its patcher) stays.
            if Path(folder) != source:
                return []
            return [n for n in names if n == "botocore" or n.startswith("botocore-")]

        shutil.copytree(source, out, ignore=top_level_botocore)
    return out


def naive(rebuild: bool = False, *, host: bool = True, compile_: bool = True) -> Path:
    """The naive bundle: pip install -r lambdas/requirements.txt --target, nothing trimmed.
    host=True installs wheels for this machine so native modules load in the benchmark."""
    arch = platform.machine() if host else "aarch64"
    out = WORK / f"naive-{arch}{'' if compile_ else '-nopyc'}"
    if rebuild or not (out / "kubernetes").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        command = bundling.pip_command(str(out), str(bundling.ASSET_ROOT / bundling.REQUIREMENTS))
        command[command.index("--platform") + 1] = f"manylinux2014_{arch}"
        subprocess.run(command, check=True)
        python = bundling.target_python()
        if compile_ and python:
            subprocess.run([python, "-m", "compileall", "-q", "-j0", str(out)], check=False)
    return out


def runtime_dir() -> Path:
    """What the python3.13 Lambda runtime provides besides the stdlib: boto3 and botocore."""
    out = WORK / "runtime"
    if not (out / "boto3").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        copy_runtime(out, bundling.target_python())
    return out


def tree_size(path: Path, *, pyc: bool = True) -> int:
    """Unzipped bytes (apparent sizes of regular files)."""
    total = 0
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink() and (pyc or file.suffix != ".pyc"):
            total += file.stat().st_size
    return total
