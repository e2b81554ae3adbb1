"""Lambda code asset: local pip bundling without Docker, Docker bundling as the fallback.

Both paths run the same steps: pip install for the Lambda's platform, copy the registrar
package, then asset/trim.py (prune what the function never imports, trim botocore to the
operations the registrar declares, precompile bytecode for the runtime's Python).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from . import trim

# The function's sources beside this package: the repository's lambdas/ (the registrar package and
# requirements.txt), or their copy _lambdas/ beside the wheel's ebs_pv_registrar._asset.
_HERE = Path(__file__).resolve().parent
ASSET_ROOT = _HERE.parent / (_HERE.name.removesuffix("asset") + "lambdas")
PACKAGE = "registrar"
REQUIREMENTS = "requirements.txt"
HANDLER = "registrar.handler.lambda_handler"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
PYTHON_VERSION = RUNTIME.name.removeprefix("python")  # "3.13"
PIP_PLATFORM = "manylinux2014_aarch64"
# Lambda unpacks the asset here; compiled bytecode names its sources under this path.
TASK_ROOT = "/var/task"

# Kept out of the asset and out of its hash: caches and local build litter.
EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", "**/*.egg-info"]

# The post-install step (asset/trim.py, standard library only), run by the target Python
# in both bundling paths. Its text is part of the asset hash (via the bundling environment):
# a changed recipe re-bundles.
TRIM_MODULE = Path(trim.__file__)
FINISH_SCRIPT = TRIM_MODULE.read_text(encoding="utf-8")
RECIPE = hashlib.sha256(FINISH_SCRIPT.encode("utf-8")).hexdigest()[:16]


def pip_command(output_dir: str, requirements: str, platform: str = PIP_PLATFORM) -> list[str]:
    """pip install for the Lambda's platform, whatever the build machine runs."""
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--requirement", requirements,
        "--target", output_dir,
        "--platform", platform,
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
    ]  # fmt: skip


def target_python() -> str | None:
    """An interpreter of the runtime's exact minor version, to compile bytecode the runtime
    will load (pyc files are tied to the minor version). None when there is none."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return sys.executable
    wanted = f"python{PYTHON_VERSION}"
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(glob.glob(str(pyenv / f"{PYTHON_VERSION}.*" / "bin" / wanted)))
    found = shutil.which(wanted)
    for python in [*reversed(candidates), *([found] if found else [])]:
        probe = [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == PYTHON_VERSION:
            return python
    return None


def finish_command(output_dir: str, python: str | None) -> list[str]:
    """asset/trim.py on `output_dir`; bytecode only with an interpreter of the runtime's version."""
    compile_flag = "1" if python else "0"
    interpreter = python or sys.executable
    return [interpreter, "-I", str(TRIM_MODULE), output_dir, compile_flag, TASK_ROOT]


def copy_package(source: Path, output_dir: str) -> None:
    shutil.copytree(
        source / PACKAGE,
        Path(output_dir) / PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )


def bundle(source: Path, output_dir: str, platform: str = PIP_PLATFORM) -> None:
    """The local bundle: pip, the registrar package, then asset/trim.py (prune, trim, compile).
    Raises when a step fails. `platform`: another machine's wheels (benchmarks on this host)."""
    subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        pip_command(output_dir, str(source / REQUIREMENTS), platform), check=True
    )
    copy_package(source, output_dir)
    python = target_python()
    if python is None:
        print(f"no python{PYTHON_VERSION} found: bundling without bytecode", file=sys.stderr)
    subprocess.run(finish_command(output_dir, python), check=True)  # noqa: S603


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Bundles on the build machine; CDK falls back to Docker when this returns False."""

    def __init__(self, source: Path = ASSET_ROOT) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        try:
            bundle(self._source, output_dir)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"local bundling failed ({exc}); trying Docker", file=sys.stderr)
            return False
        return True


def docker_command() -> list[str]:
    """The same bundle inside the runtime's bundling image (only where Docker runs); the
    image's python is the runtime's version, so it compiles bytecode too."""
    script = (
        f"pip install --no-compile -r {REQUIREMENTS} -t /asset-output"
        f" && cp -r {PACKAGE} /asset-output/"
        ' && python -I -c "$REGISTRAR_FINISH" /asset-output 1 ' + TASK_ROOT
    )
    return ["bash", "-c", script]


def registrar_code(root: Path = ASSET_ROOT) -> lambda_.Code:
    """lambdas/ bundled; the hash is taken from the sources and the bundling recipe (the
    options, trim.py's text included, are hashed), so equal inputs give equal hashes."""
    return lambda_.Code.from_asset(
        str(root),
        asset_hash_type=cdk.AssetHashType.SOURCE,
        exclude=EXCLUDE,
        bundling=cdk.BundlingOptions(
            image=RUNTIME.bundling_image,
            platform="linux/arm64",
            command=docker_command(),
            environment={"REGISTRAR_FINISH": FINISH_SCRIPT, "REGISTRAR_RECIPE": RECIPE},
            local=LocalPipBundling(root),
        ),
    )
