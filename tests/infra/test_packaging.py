"""The registrar installs like any Python tool: a wheel of the Lambda package, the CDK
construct and one command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_holds_the_registrar_package_and_its_command(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools writes build/ beside the sources: not in ours
    for tree in ("lambdas", "stacks", "asset", "render", "ebs_pv_registrar"):
        shutil.copytree(REPO / tree, source / tree, ignore=shutil.ignore_patterns("*.pyc"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path)]
    subprocess.run([*command, str(source)], check=True)
    [wheel] = tmp_path.glob("ebs_pv_registrar-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("ebs_pv_registrar-")}
    # The function's package and the CDK construct; never devcluster, tests or bench.
    assert packages == {"registrar", "stacks", "asset", "render", "ebs_pv_registrar"}
    assert "ebs_pv_registrar/__init__.py" in names and "stacks/options.py" in names
    assert "registrar/core/planner.py" in names and "registrar/adapters/kube.py" in names
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "registrar = registrar.cli.main:main" in text


def test_the_installed_command_runs() -> None:
    command = Path(sys.executable).parent / "registrar"
    done = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True)
    assert "render" in done.stdout and "reconcile" in done.stdout


def test_demo_outside_a_checkout_says_where_to_run_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "registrar", "demo"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "run it from a checkout of the repository" in done.stderr
