"""The Lambda asset built once per session by the local bundling the CDK runs, and a stand-in
for the python3.13 runtime's own boto3/botocore (/var/runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.lambda_runtime import copy_runtime
from stacks import bundling


@pytest.fixture(scope="session")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`LocalPipBundling.try_bundle`, the very call the CDK makes, into a temporary directory."""
    out = tmp_path_factory.mktemp("asset")
    assert bundling.LocalPipBundling(bundling.ASSET_ROOT).try_bundle(str(out))
    return out


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime provides boto3/botocore: here the venv's copies, in a directory of their own."""
    return copy_runtime(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="session")
def target_python() -> str:
    python = bundling.target_python()
    if python is None:
        pytest.skip(f"no python{bundling.PYTHON_VERSION} to run the asset with")
    return python
