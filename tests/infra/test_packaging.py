"""The registrar installs like any Python tool: a wheel of the Lambda package, the CDK
construct and one command."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_wheel_holds_the_registrar_package_and_its_command(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("ebs_pv_registrar-")}
    # The function's package and the CDK construct; never devcluster, tests or bench, and no
    # generic name (stacks, asset, render) that would take a CDK app's own folder's place.
    assert packages == {"registrar", "ebs_pv_registrar"}
    assert "ebs_pv_registrar/__init__.py" in names
    assert "ebs_pv_registrar/_stacks/options.py" in names
    assert "registrar/core/planner.py" in names and "registrar/adapters/kube.py" in names
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "registrar = registrar.cli.main:main" in text


def sources(folder: Path, pattern: str = "*.py") -> set[str]:
    return {
        path.relative_to(folder).as_posix() for path in folder.rglob(pattern)
        if "__pycache__" not in path.parts and ".egg-info" not in str(path)
    }  # fmt: skip


@pytest.mark.parametrize(
    ("folder", "shipped", "pattern"),
    [
        ("lambdas/registrar", "registrar", "*.py"),
        ("stacks", "ebs_pv_registrar/_stacks", "*.py"),
        ("asset", "ebs_pv_registrar/_asset", "*.py"),
        ("render", "ebs_pv_registrar/_render", "*.py"),
        # What the construct reads at synthesis: k8s/ and the Lambda asset's source.
        ("k8s", "ebs_pv_registrar/_k8s", "*.yaml"),
        ("lambdas", "ebs_pv_registrar/_lambdas", "*.py"),
        ("lambdas", "ebs_pv_registrar/_lambdas", "requirements*.txt"),
    ],
)
def test_the_wheel_ships_every_file_of_the_folders_it_is_built_from(
    wheel: Path, folder: str, shipped: str, pattern: str
) -> None:
    """A new subpackage is listed in pyproject's packages, or this names it."""
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n.removeprefix(f"{shipped}/") for n in names if n.startswith(f"{shipped}/")}
    assert sources(REPO / folder, pattern) <= in_wheel


def test_the_installed_command_runs() -> None:
    command = Path(sys.executable).parent / "registrar"
    done = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True)
    assert "render" in done.stdout and "reconcile" in done.stdout


def test_demo_outside_a_checkout_says_where_to_run_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "registrar", "demo"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "run it from a checkout of the repository" in done.stderr


def absolute_imports(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]  # fmt: skip
    found += [node.module or "" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.level == 0
              and not _under_type_checking(tree, node)]  # fmt: skip
    return [f"{path.relative_to(REPO)}: {module}" for module in found
            if module.split(".")[0] in names]  # fmt: skip


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    return any(
        isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING"
        and any(node is child for stmt in branch.body for child in ast.walk(stmt))
        for branch in ast.walk(tree)
    )  # fmt: skip


def test_the_shipped_packages_import_each_other_in_either_layout() -> None:
    """In the wheel stacks, asset and render are ebs_pv_registrar._stacks, ._asset, ._render:
    an absolute `from stacks.x import y` inside them works from the checkout only. Within a
    package import relatively (`from .x import y`); another one through `stacks.sibling`."""
    shipped = {"stacks", "asset", "render"}
    found = [hit for folder in shipped for path in sorted((REPO / folder).rglob("*.py"))
             for hit in absolute_imports(path, shipped)]  # fmt: skip
    assert found == []
