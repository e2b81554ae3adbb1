"""The Lambda asset's finishing step, run by the runtime's Python after `pip install --target`.

    python -I trim.py OUTPUT_DIR COMPILE(1|0) TASK_ROOT

Standard library only: the local bundling runs this file, the Docker bundling runs the same
text (passed through the bundling environment, which the asset hash covers). Steps:

1. drop what the function never imports (measured with `python -X importtime` and
   `sys.modules` on the handler and token paths, see bench/README.md);
2. trim botocore's data to the AWS operations the registrar declares beside its calls
   (`AWS_OPERATIONS` in the registrar package, read here without importing it);
3. defer botocore's documentation machinery to the first docstring read (it never happens in
   the function): exact text edits that fail the build when botocore's source differs;
4. precompile bytecode for a read-only /var/task.

Every step is guarded by tests/infra/test_trim.py and test_asset.py (the built asset runs each
declared operation with the trimmed botocore, under the real runtime client, without writing a
byte).
"""

from __future__ import annotations

import ast
import compileall
import gzip
import json
import os
import py_compile
import re
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGE = "registrar"
DECLARATION = "AWS_OPERATIONS"

# Never imported by the function: the lean Kubernetes gateway imports only kubernetes'
# client.{configuration,rest,exceptions} and utils; aws.py builds botocore clients directly.
DROP = (
    "aiohttp", "aiohappyeyeballs", "aiohttp_retry", "aiosignal", "frozenlist", "multidict",
    "yarl", "propcache", "attr", "attrs", "pydantic", "pydantic_core", "annotated_types",
    "typing_inspection", "requests", "requests_oauthlib", "oauthlib", "charset_normalizer",
    "idna", "websocket", "websocket_client", "boto3", "s3transfer", "bin", "wrapt-stubs",
    "kubernetes/aio", "kubernetes/client/api", "kubernetes/client/models",
    "kubernetes/e2e_test", "kubernetes/test", "kubernetes/client/test",
)  # fmt: skip
TEST_DIRS = ("tests", "test", "__pycache__")


class TrimError(RuntimeError):
    """The recipe no longer fits the installed packages: fix the recipe, do not ship."""


# botocore imports its documentation generators at import time (botocore.docs' package init
# imports the whole ServiceDocumenter; docs.docstring imports the method/paginator/waiter
# writers) although they only run when a docstring is read (help(), Sphinx). Each edit moves an
# import into the function that uses it; the text must match exactly once or the build fails.
LAZY_DOCS: tuple[tuple[str, str, str], ...] = (
    (
        "botocore/docs/__init__.py",
        "from botocore.docs.service import ServiceDocumenter\n",
        "",
    ),
    (
        "botocore/docs/__init__.py",
        "def generate_docs(root_dir, session):\n",
        "def generate_docs(root_dir, session):\n"
        "    from botocore.docs.service import ServiceDocumenter\n\n",
    ),
    (
        "botocore/docs/docstring.py",
        "from botocore.docs.bcdoc.restdoc import DocumentStructure\n"
        "from botocore.docs.method import document_model_driven_method\n"
        "from botocore.docs.paginator import document_paginate_method\n"
        "from botocore.docs.waiter import document_wait_method\n",
        "",
    ),
    (
        "botocore/docs/docstring.py",
        "    def _create_docstring(self):\n",
        "    def _create_docstring(self):\n"
        "        from botocore.docs.bcdoc.restdoc import DocumentStructure\n\n",
    ),
    (
        "botocore/docs/docstring.py",
        "        document_model_driven_method(*args, **kwargs)\n",
        "        from botocore.docs.method import document_model_driven_method\n\n"
        "        document_model_driven_method(*args, **kwargs)\n",
    ),
    (
        "botocore/docs/docstring.py",
        "        document_wait_method(*args, **kwargs)\n",
        "        from botocore.docs.waiter import document_wait_method\n\n"
        "        document_wait_method(*args, **kwargs)\n",
    ),
    (
        "botocore/docs/docstring.py",
        "        document_paginate_method(*args, **kwargs)\n",
        "        from botocore.docs.paginator import document_paginate_method\n\n"
        "        document_paginate_method(*args, **kwargs)\n",
    ),
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def drop_unused(out: Path) -> None:
    for rel in DROP:
        shutil.rmtree(out / rel, ignore_errors=True)
    dropped = {_normalise(d) for d in DROP if "/" not in d}
    for info in out.glob("*.dist-info"):
        if _normalise(info.name.removesuffix(".dist-info").rsplit("-", 1)[0]) in dropped:
            shutil.rmtree(info)
    for root, dirs, _files in os.walk(out):
        for name in [d for d in dirs if d in TEST_DIRS]:
            shutil.rmtree(Path(root) / name)
            dirs.remove(name)


def declared_operations(package: Path) -> dict[str, set[str]]:
    """Every `AWS_OPERATIONS = {"service": ("Operation", ...)}` in the package (module or class
    level), merged. The registrar declares the operations beside the code that calls them."""
    found: dict[str, set[str]] = {}
    for source in sorted(package.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
        for node in ast.walk(tree):
            value = _declaration_value(node)
            if value is None:
                continue
            declared = ast.literal_eval(value)
            if not isinstance(declared, dict):
                raise TrimError(f"{source}: {DECLARATION} must be a dict of service -> operations")
            for service, operations in declared.items():
                found.setdefault(str(service), set()).update(str(op) for op in operations)
    if not found:
        raise TrimError(f"no {DECLARATION} found under {package}")
    return found


def _declaration_value(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == DECLARATION for t in node.targets
    ):
        return node.value
    if (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == DECLARATION
    ):
        return node.value
    return None


def _load(path: Path) -> Any:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    with gzip.open(f"{path}.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def _dump(path: Path, obj: Any) -> None:
    for old in (path, Path(f"{path}.gz")):
        old.unlink(missing_ok=True)
    path.write_text(json.dumps(obj, separators=(",", ":")), encoding="utf-8")


def _shape_refs(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "shape" and isinstance(value, str):
                found.append(value)
            else:
                _shape_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _shape_refs(value, found)


def _strip_docs(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("documentation", None)
        node.pop("documentationUrl", None)
        for value in node.values():
            _strip_docs(value)
    elif isinstance(node, list):
        for value in node:
            _strip_docs(value)


def trim_model(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """Only `operations` and the shapes they reach, without documentation."""
    wanted_ops = set(operations)
    missing = wanted_ops - set(model["operations"])
    if missing:
        raise TrimError(f"operations not in the model: {sorted(missing)}")
    model["operations"] = {k: v for k, v in model["operations"].items() if k in wanted_ops}
    wanted: set[str] = set()
    queue: list[str] = []
    _shape_refs(model["operations"], queue)
    while queue:
        name = queue.pop()
        if name not in wanted:
            wanted.add(name)
            _shape_refs(model["shapes"][name], queue)
    model["shapes"] = {k: v for k, v in model["shapes"].items() if k in wanted}
    _strip_docs(model)
    return model


def trim_botocore_data(data: Path, keep: dict[str, set[str]]) -> None:
    """botocore/data: the declared services, their newest API version, the declared operations
    (and their paginators); no waiters or examples; endpoints.json for those services only."""
    missing = set(keep) - {p.name for p in data.iterdir() if p.is_dir()}
    if missing:
        raise TrimError(f"services not in botocore's data: {sorted(missing)}")
    for service in sorted(p for p in data.iterdir() if p.is_dir()):
        if service.name not in keep:
            shutil.rmtree(service)
            continue
        versions = sorted(p for p in service.iterdir() if p.is_dir())
        for old in versions[:-1]:
            shutil.rmtree(old)
        current = versions[-1]
        for extra in current.iterdir():
            if extra.name.startswith(("examples-", "waiters-")):
                extra.unlink()
        operations = keep[service.name]
        model = current / "service-2.json"
        _dump(model, trim_model(_load(model), operations))
        pages = current / "paginators-1.json"
        if pages.exists() or Path(f"{pages}.gz").exists():
            paginators = _load(pages)
            paginators["pagination"] = {
                k: v for k, v in paginators["pagination"].items() if k in operations
            }
            _dump(pages, paginators)
    endpoints = data / "endpoints.json"
    doc = _load(endpoints)
    for partition in doc["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in keep}
    _dump(endpoints, doc)


def defer_botocore_docs(out: Path) -> None:
    for rel, old, new in LAZY_DOCS:
        path = out / rel
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise TrimError(f"{rel}: expected text not found once, botocore changed: {old!r}")
        path.write_text(text.replace(old, new), encoding="utf-8")


def precompile(out: Path, task_root: str) -> bool:
    """unchecked-hash: the read-only code directory never triggers a recompile or a stat of the
    source; stripdir/prependdir: tracebacks name the task root and the bytes do not depend on
    the build directory."""
    return bool(
        compileall.compile_dir(
            str(out),
            quiet=1,
            workers=0,
            stripdir=str(out),
            prependdir=task_root,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    )


def finish(out: Path, compile_bytecode: bool, task_root: str) -> bool:
    drop_unused(out)
    data = out / "botocore" / "data"
    if data.is_dir():
        trim_botocore_data(data, declared_operations(out / PACKAGE))
        defer_botocore_docs(out)
    return precompile(out, task_root) if compile_bytecode else True


def main(argv: list[str]) -> int:
    out, compile_flag, task_root = argv[1], argv[2], argv[3]
    try:
        ok = finish(Path(out), compile_flag == "1", task_root)
    except TrimError as error:
        print(f"asset trim: {error}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
