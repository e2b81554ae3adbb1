"""The built asset under the real runtime parts: the Runtime Interface Emulator and
awslambdaric (devcluster/standins/build_lambda_runtime.sh), the code directory read-only as
/var/task is."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.standins.lambda_rie import Emulator, runtime_parts
from devcluster.standins.lambda_runtime import lambda_env
from tests.support import eventfactory as ef

pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")}


def test_the_runtime_client_runs_the_read_only_asset(
    target_python: str, asset: Path, runtime_dir: Path
) -> None:
    before = snapshot(asset)
    emulator = Emulator(runtime_parts(), target_python)
    event = ef.create_volume("vol-0123456789abcdef0", {"Name": "scratch"})
    env = lambda_env(asset, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_SESSION_TOKEN="token")
    sample = emulator.cold_start(
        asset, "registrar.handler.lambda_handler", [runtime_dir], env, event
    )
    assert [o["result"] for o in sample.response["outcomes"]] == ["ignored"]
    assert sample.init_ms > 0 and sample.invoke_ms > 0 and sample.peak_rss_kib > 0
    assert snapshot(asset) == before  # no bytecode or anything else written
