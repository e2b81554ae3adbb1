"""Lambda code asset: local pip bundling without Docker, Docker bundling as the fallback.

Both paths run the same steps: pip install for the Lambda's platform, then FINISH_SCRIPT
(prune what the function never imports, trim botocore to the services it calls, precompile
bytecode for the runtime's Python), then copy the registrar package.
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

REPO = Path(__file__).resolve().parent.parent
ASSET_ROOT = REPO / "lambdas"
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

# Post-install step, run by the target Python in both bundling paths (stdlib only).
# argv: output_dir, compile ("1"/"0"). Measured with `python -X importtime` on the handler
# path and the token path (see bench/README.md): of `kubernetes` only client.{configuration,
# rest,exceptions} and utils are imported; aiohttp/pydantic/requests/websocket never are;
# boto3/s3transfer are not imported since adapters/aws.py builds botocore clients directly.
FINISH_SCRIPT = r"""
import compileall, gzip, json, os, re, shutil, sys
out, do_compile, prefix = sys.argv[1], sys.argv[2] == "1", sys.argv[3]

DROP = [
    "aiohttp", "aiohappyeyeballs", "aiohttp_retry", "aiosignal", "frozenlist", "multidict",
    "yarl", "propcache", "attr", "attrs", "pydantic", "pydantic_core", "annotated_types",
    "typing_inspection", "requests", "requests_oauthlib", "oauthlib", "charset_normalizer",
    "idna", "websocket", "websocket_client", "boto3", "s3transfer", "bin", "wrapt-stubs",
    "kubernetes/aio", "kubernetes/client/api", "kubernetes/client/models",
    "kubernetes/e2e_test", "kubernetes/test", "kubernetes/client/test",
]
for rel in DROP:
    shutil.rmtree(os.path.join(out, rel), ignore_errors=True)
dropped = {re.sub(r"[-_.]+", "_", d).lower() for d in DROP if "/" not in d}
for name in os.listdir(out):
    if name.endswith(".dist-info"):
        dist = re.sub(r"[-_.]+", "_", name.removesuffix(".dist-info").rsplit("-", 1)[0]).lower()
        if dist in dropped:
            shutil.rmtree(os.path.join(out, name))
for root, dirs, files in os.walk(out):
    for d in [d for d in dirs if d in ("tests", "test", "__pycache__")]:
        shutil.rmtree(os.path.join(root, d))
        dirs.remove(d)

# botocore: only the services the function calls (xray: the X-Ray SDK's sampling client),
# only their current API version, and for the big models only the operations it uses.
KEEP = {
    "ec2": ["DescribeVolumes", "CreateTags"],
    "eks": ["DescribeCluster"],
    "sts": ["AssumeRole", "GetCallerIdentity"],
    "cloudtrail": ["LookupEvents"],
    "xray": None,
}
data = os.path.join(out, "botocore", "data")

def load(path):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    with gzip.open(path + ".gz", "rt", encoding="utf-8") as f:
        return json.load(f)

def dump(path, obj):
    for old in (path, path + ".gz"):
        if os.path.exists(old):
            os.remove(old)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))

def refs(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "shape" and isinstance(value, str):
                found.append(value)
            else:
                refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)

def trim_model(model, ops):
    model["operations"] = {k: v for k, v in model["operations"].items() if k in ops}
    wanted, queue = set(), []
    refs(model["operations"], queue)
    while queue:
        name = queue.pop()
        if name not in wanted:
            wanted.add(name)
            refs(model["shapes"][name], queue)
    model["shapes"] = {k: v for k, v in model["shapes"].items() if k in wanted}
    strip_docs(model)
    return model

def strip_docs(node):
    if isinstance(node, dict):
        node.pop("documentation", None)
        node.pop("documentationUrl", None)
        for value in node.values():
            strip_docs(value)
    elif isinstance(node, list):
        for value in node:
            strip_docs(value)

if os.path.isdir(data):
    for service in sorted(os.listdir(data)):
        path = os.path.join(data, service)
        if not os.path.isdir(path):
            continue
        if service not in KEEP:
            shutil.rmtree(path)
            continue
        versions = sorted(os.listdir(path))
        for old in versions[:-1]:
            shutil.rmtree(os.path.join(path, old))
        current = os.path.join(path, versions[-1])
        for name in os.listdir(current):
            if name.startswith("examples-"):
                os.remove(os.path.join(current, name))
        ops = KEEP[service]
        if ops is not None:
            model_path = os.path.join(current, "service-2.json")
            dump(model_path, trim_model(load(model_path), set(ops)))
            pages = os.path.join(current, "paginators-1.json")
            if os.path.exists(pages):
                paginators = load(pages)
                paginators["pagination"] = {
                    k: v for k, v in paginators["pagination"].items() if k in ops
                }
                dump(pages, paginators)
            for name in os.listdir(current):
                if name.startswith("waiters-"):
                    os.remove(os.path.join(current, name))
    endpoints = os.path.join(data, "endpoints.json")
    doc = load(endpoints)
    for partition in doc["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in KEEP}
    dump(endpoints, doc)

if do_compile:
    # unchecked-hash: the read-only code directory never triggers a recompile or a stat check
    # of the source; -s/-p: tracebacks name /var/task, and the bytes do not depend on `out`.
    ok = compileall.compile_dir(
        out, quiet=1, workers=0, stripdir=out, prependdir=prefix,
        invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    sys.exit(0 if ok else 1)
"""

# Part of the asset hash (via the bundling environment): a changed recipe re-bundles.
RECIPE = hashlib.sha256(FINISH_SCRIPT.encode("utf-8")).hexdigest()[:16]


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
    """FINISH_SCRIPT on `output_dir`; bytecode only with an interpreter of the runtime's version."""
    compile_flag = "1" if python else "0"
    interpreter = python or sys.executable
    return [interpreter, "-I", "-c", FINISH_SCRIPT, output_dir, compile_flag, TASK_ROOT]


def copy_package(source: Path, output_dir: str) -> None:
    shutil.copytree(
        source / PACKAGE,
        Path(output_dir) / PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )


def bundle(source: Path, output_dir: str) -> None:
    """The local bundle: pip, the registrar package, then FINISH_SCRIPT (prune, trim, compile).
    Raises when a step fails."""
    subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        pip_command(output_dir, str(source / REQUIREMENTS)), check=True
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
    options, FINISH_SCRIPT included, are hashed), so equal inputs give equal hashes."""
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
