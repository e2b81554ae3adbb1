"""Lambda asset: source-based hash, and a real Docker-free local bundling."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest

from asset import build as bundling
from tests.infra.conftest import synthesize


def asset_key(root: Path) -> str:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "Probe")
    config = bundling.registrar_code(root).bind(stack)
    assert config.s3_location is not None
    return config.s3_location.object_key


@pytest.fixture
def copy_of_sources(tmp_path: Path) -> Path:
    root = tmp_path / "lambdas"
    shutil.copytree(bundling.ASSET_ROOT, root, ignore=shutil.ignore_patterns(*IGNORED))
    return root


IGNORED = ("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", "*.egg-info")


def test_same_inputs_same_hash(copy_of_sources: Path) -> None:
    assert asset_key(copy_of_sources) == asset_key(bundling.ASSET_ROOT)


def test_caches_do_not_change_the_hash(copy_of_sources: Path) -> None:
    before = asset_key(copy_of_sources)
    cache = copy_of_sources / bundling.PACKAGE / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "handler.cpython-313.pyc").write_bytes(b"\x00stale")
    assert asset_key(copy_of_sources) == before


def test_source_change_changes_the_hash(copy_of_sources: Path) -> None:
    before = asset_key(copy_of_sources)
    (copy_of_sources / bundling.PACKAGE / "__init__.py").write_text("# changed\n", "utf-8")
    assert asset_key(copy_of_sources) != before


def test_pip_targets_the_lambda_platform() -> None:
    command = bundling.pip_command("/out", "requirements.txt")
    for flag, value in (("--platform", "manylinux2014_aarch64"), ("--python-version", "3.13"),
                        ("--implementation", "cp"), ("--target", "/out")):  # fmt: skip
        assert command[command.index(flag) + 1] == value
    assert "--only-binary=:all:" in command
    assert bundling.RUNTIME.name.removeprefix("python") == bundling.PYTHON_VERSION


@pytest.mark.slow
def test_real_local_bundling_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No docker binary reachable: a Docker fallback would fail, so local bundling must do.
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "docker").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    result = synthesize(tmp_path, {"clusterName": "demo"}, skip_bundling=False)
    code = next(iter(result.resources("AWS::Lambda::Function").values()))["Properties"]["Code"]
    asset = tmp_path / f"asset.{code['S3Key'].removesuffix('.zip')}"
    assert (asset / "registrar" / "handler.py").is_file()
    assert (asset / "kubernetes").is_dir()
    assert (asset / "aws_lambda_powertools").is_dir()
    assert not (asset / "boto3").exists()
    assert not (asset / "kubernetes" / "aio").exists()
    # Bytecode for the runtime's Python, never checked against the (read-only) sources.
    tag = "cpython-" + bundling.PYTHON_VERSION.replace(".", "")
    pyc = asset / "registrar" / "__pycache__" / f"handler.{tag}.pyc"
    assert pyc.is_file()
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, unchecked
    native = [p.name for p in asset.rglob("*.so")]
    assert native and all("x86_64" not in n for n in native)
    assert any("aarch64" in n for n in native)
