"""What the python3.13 Lambda runtime gives a function besides its asset: boto3 and botocore
in /var/runtime, and its environment. Shared by tests/infra and the benchmarks
(a stand-in, like the rest of devcluster/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")


def copy_runtime(out: Path, compile_with: str | None = None) -> Path:
    """This venv's boto3/botocore in a directory of their own (compiled, as the image ships)."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    out.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, out / name)
    if compile_with:
        subprocess.run([compile_with, "-m", "compileall", "-q", "-j0", str(out)], check=False)
    return out


def lambda_env(asset: Path, **extra: str) -> dict[str, str]:
    """A function's environment: region, dummy keys, no profile, the task root."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "ebs-pv-registrar",
        "LAMBDA_TASK_ROOT": str(asset),
        "POWERTOOLS_SERVICE_NAME": "ebs-pv-registrar",
        "POWERTOOLS_METRICS_NAMESPACE": "EbsPvRegistrar",
        "REGISTRAR_DEFAULT_CLUSTER": "prod",
        **extra,
    }
