"""The registrar as a CDK construct, for an app that defines its own EKS cluster:

    from ebs_pv_registrar import EbsPvRegistrar, RegistrarOptions
"""

from stacks.options import RegistrarOptions
from stacks.registrar_stack import EbsPvRegistrar

__all__ = ["EbsPvRegistrar", "RegistrarOptions"]
