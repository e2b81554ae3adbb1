"""Infrastructure tier: the app synthesized once per configuration and session (bundling skipped),
and the Lambda asset built once by the local bundling the CDK runs."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as registrar_app
from asset import build as bundling
from devcluster.standins.lambda_runtime import copy_runtime
from stacks.registrar_stack import EbsPvRegistrar

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "vpcSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "clusterSecurityGroupId": "sg-0123456789abcdef0",
}
KUBECTL_ROLE = "arn:aws:iam::111122223333:role/EksClusterAdmin"
KUBERNETES_VERSION = "1.37"
KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Every optional part switched on, two allowed clusters, in a VPC.
FULL = {
    "clusterName": "demo",
    "allowedClusters": "demo,staging",
    "createTrail": True,
    "installCsiDriver": True,
    "installPodIdentityAgent": True,
    **VPC,
    "createVpcEndpoints": True,
    "applyManifests": True,
    "kubectlRoleArn": KUBECTL_ROLE,
    "kubernetesVersion": KUBERNETES_VERSION,
}
MINIMAL = {"clusterName": "demo"}


@dataclass
class Synth:
    stack: cdk.Stack
    registrar: EbsPvRegistrar
    template: Template
    raw: dict[str, Any]
    outdir: Path

    @property
    def template_file(self) -> Path:
        return self.outdir / self.stack.template_file

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {
            key: value for key, value in self.raw["Resources"].items() if value["Type"] == cfn_type
        }


def synthesize(outdir: Path, context: dict[str, Any], *, skip_bundling: bool = True) -> Synth:
    """The app as `cdk synth` builds it, cdk-nag included (an open finding raises)."""
    app = cdk.App(
        context={**(SKIP_BUNDLING if skip_bundling else {}), **context}, outdir=str(outdir)
    )
    stack = registrar_app.build(app)
    registrar = stack.node.find_child(registrar_app.REGISTRAR)
    assert isinstance(registrar, EbsPvRegistrar)
    assembly = app.synth()
    raw = json.loads(json.dumps(assembly.get_stack_by_name(stack.stack_name).template))
    return Synth(
        stack=stack, registrar=registrar, template=Template.from_json(raw), raw=raw, outdir=outdir
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synth]:
    """synth(**context): one synthesis per distinct context, shared by the session."""
    cache: dict[str, Synth] = {}

    def build(**context: Any) -> Synth:
        key = json.dumps(context, sort_keys=True)
        if key not in cache:
            cache[key] = synthesize(tmp_path_factory.mktemp("cdk"), context)
        return cache[key]

    return build


@pytest.fixture(scope="session")
def full(synth: Callable[..., Synth]) -> Synth:
    return synth(**FULL)


@pytest.fixture(scope="session")
def minimal(synth: Callable[..., Synth]) -> Synth:
    return synth(**MINIMAL)


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
    if python is None:  # scripts/setup provides it; a missing one must fail, not skip
        pytest.fail(f"no python{bundling.PYTHON_VERSION} to run the asset with (run scripts/setup)")
    return python


# What a checkout of the repository does not hold: pip builds the wheel from the rest.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "cdk.out", "build", "*.egg-info", "__pycache__", "*.pyc",
    ".*_cache", ".hypothesis",
)  # fmt: skip
CACHE = Path.home() / ".cache" / "ebs-pv-registrar"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel as `pip install <repo>` builds it, from a copy of the checkout:
    setuptools writes build/ and *.egg-info beside the sources, never into ours, and never
    reuses files of an earlier build."""
    directory = tmp_path_factory.mktemp("wheel")
    source = directory / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_IN_A_CHECKOUT)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(directory)]
    subprocess.run([*command, str(source)], check=True, capture_output=True)
    [built] = directory.glob("ebs_pv_registrar-*.whl")
    return built


def _dependencies_venv(wheel: Path) -> Path:
    """A venv holding the wheel's dependencies with its [cdk] extra, nothing of ours: made once
    per set of pinned versions (~850 MB: aws-cdk-lib and five kubectl layers; a minute)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = [sys.version, project["dependencies"], (REPO_ROOT / "requirements.txt").read_text()]
    key = hashlib.sha256(json.dumps(pins).encode()).hexdigest()[:12]
    venv = CACHE / f"wheel-dependencies-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{venv.name}.lock").open("w") as lock:  # other checkouts' sessions wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "-q"]
            subprocess.run([*pip, "install", f"{wheel}[cdk]"], check=True)
            subprocess.run([*pip, "uninstall", "-y", "ebs-pv-registrar"], check=True)
            (venv / "complete").touch()
    return venv


@pytest.fixture(scope="session")
def installed_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv outside the checkout where pip installed the wheel as
    `pip install 'ebs-pv-registrar[cdk]'` does; its dependencies come from the cached venv
    (a .pth line after the venv's own site-packages, so the wheel's files come first)."""
    dependencies = _dependencies_venv(wheel)
    venv = tmp_path_factory.mktemp("installed") / "venv"
    assert not venv.resolve().is_relative_to(REPO_ROOT)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    shared = sysconfig.get_path("purelib", vars={"base": str(dependencies), "platbase": ""})
    (Path(purelib) / "dependencies.pth").write_text(shared + "\n")
    pip = [str(dependencies / "bin" / "python"), "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-deps", str(wheel)], check=True)
    return python
