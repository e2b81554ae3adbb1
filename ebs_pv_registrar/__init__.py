"""The registrar as a CDK construct, for an app that defines its own EKS cluster:

    from ebs_pv_registrar import EbsPvRegistrar, RegistrarOptions

Installed, the construct's packages live under this one (`_stacks`, `_asset`, `_render`, with the
files they read: `_k8s/`, `_lambdas/`), so that no generic name such as `stacks` lands in
site-packages; a checkout of the repository has them at its top level (stacks/__init__.py).
The repository's own code imports `stacks` itself: with its editable install this package loads
the same files under the installed names, as other modules (two ConfigError classes).
"""

from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING or find_spec(f"{__name__}._stacks") is not None:
    from ._stacks.config import ConfigError
    from ._stacks.options import RegistrarOptions
    from ._stacks.registrar_stack import EbsPvRegistrar
else:  # the repository's checkout, without an install
    from stacks.config import ConfigError
    from stacks.options import RegistrarOptions
    from stacks.registrar_stack import EbsPvRegistrar

__all__ = ["ConfigError", "EbsPvRegistrar", "RegistrarOptions"]
