"""Lambda code asset: local pip bundling without Docker, Docker bundling as the fallback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO = Path(__file__).resolve().parent.parent
ASSET_ROOT = REPO / "lambdas"
PACKAGE = "registrar"
REQUIREMENTS = "requirements.txt"
HANDLER = "registrar.handler.lambda_handler"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
PYTHON_VERSION = RUNTIME.name.removeprefix("python")  # "3.13"
PIP_PLATFORM = "manylinux2014_aarch64"

# Kept out of the asset and out of its hash: caches and local build litter.
EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", "**/*.egg-info"]


def pip_command(output_dir: str, requirements: str) -> list[str]:
    """pip install for the Lambda's platform, whatever the build machine runs."""
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--requirement", requirements,
        "--target", output_dir,
        "--platform", PIP_PLATFORM,
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
    ]  # fmt: skip


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Bundles on the build machine; CDK falls back to Docker when this returns False."""

    def __init__(self, source: Path = ASSET_ROOT) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        try:
            subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                pip_command(output_dir, str(self._source / REQUIREMENTS)), check=True
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"local bundling failed ({exc}); trying Docker", file=sys.stderr)
            return False
        shutil.copytree(
            self._source / PACKAGE,
            Path(output_dir) / PACKAGE,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def docker_command() -> list[str]:
    """The same bundle inside the runtime's bundling image (only where Docker runs)."""
    script = (
        f"pip install --no-compile -r {REQUIREMENTS} -t /asset-output"
        f" && cp -r {PACKAGE} /asset-output/"
        " && find /asset-output -name __pycache__ -prune -exec rm -rf {} +"
    )
    return ["bash", "-c", script]


def registrar_code(root: Path = ASSET_ROOT) -> lambda_.Code:
    """lambdas/ bundled; the hash is taken from the sources, so equal inputs give equal hashes."""
    return lambda_.Code.from_asset(
        str(root),
        asset_hash_type=cdk.AssetHashType.SOURCE,
        exclude=EXCLUDE,
        bundling=cdk.BundlingOptions(
            image=RUNTIME.bundling_image,
            platform="linux/arm64",
            command=docker_command(),
            local=LocalPipBundling(root),
        ),
    )
