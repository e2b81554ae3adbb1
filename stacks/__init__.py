"""The CDK app of ebs-pv-registrar: one stack, one construct per concern.

In the repository `stacks`, `asset` and `render` are top-level packages beside `k8s/` and
`lambdas/`. The wheel installs them as `ebs_pv_registrar._stacks`, `._asset` and `._render` beside
`_k8s/` and `_lambdas/`: a CDK app keeps its own `stacks/` folder, no installed package takes its
name. Inside this package imports are relative; `sibling` and `sibling_dir` reach the others in
either layout.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

# "" as the repository imports it, "ebs_pv_registrar._" as installed (a wheel, or editable).
_PREFIX = __name__.removesuffix("stacks")


def sibling(module: str) -> ModuleType:
    """`sibling("asset.build")`: the repository's asset.build, or the wheel's _asset.build."""
    return importlib.import_module(_PREFIX + module)


def sibling_dir(name: str) -> Path:
    """`sibling_dir("k8s")`: the repository's k8s/, or the wheel's ebs_pv_registrar/_k8s/.
    By this folder's name, not the module's: an editable install imports the repository's
    folders under the wheel's module names."""
    here = Path(__file__).resolve().parent
    return here.parent / (here.name.removesuffix("stacks") + name)
