"""The Lambda asset built once per session by the local bundling the CDK runs, and a stand-in
for the python3.13 runtime's own boto3/botocore (/var/runtime)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from stacks import bundling

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")


@pytest.fixture(scope="session")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`LocalPipBundling.try_bundle`, the very call the CDK makes, into a temporary directory."""
    out = tmp_path_factory.mktemp("asset")
    assert bundling.LocalPipBundling(bundling.ASSET_ROOT).try_bundle(str(out))
    return out


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime provides boto3/botocore: here the venv's copies, in a directory of their own."""
    out = tmp_path_factory.mktemp("runtime")
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, out / name)
    return out


@pytest.fixture(scope="session")
def target_python() -> str:
    python = bundling.target_python()
    if python is None:
        pytest.skip(f"no python{bundling.PYTHON_VERSION} to run the asset with")
    return python
