#!/usr/bin/env python3
"""CDK app: `npx cdk deploy -c clusterName=NAME` ships the whole registrar."""

from __future__ import annotations

import aws_cdk as cdk

from stacks import nag
from stacks.config import RegistrarConfig
from stacks.registrar_stack import EbsPvRegistrar

REGISTRAR = "Default"


def build(app: cdk.App) -> cdk.Stack:
    """The registrar's stack for the app's context keys; the construct is its child REGISTRAR."""
    config = RegistrarConfig.from_context(app.node)
    stack = cdk.Stack(
        app,
        config.stack_name,
        # Environment-agnostic: synth needs no credentials; deploy targets the CLI's account.
        description="ebs-pv-registrar: registers tagged EBS volumes as Kubernetes PVs",
    )
    # "Default" adds nothing to the logical ids: they stay those of the earlier stack class.
    registrar = EbsPvRegistrar(stack, REGISTRAR, config=config)
    cdk.Tags.of(stack).add("app", "ebs-pv-registrar")
    nag.add_checks(app)
    nag.acknowledge(registrar)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
