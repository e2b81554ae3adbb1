#!/usr/bin/env python3
"""CDK app: `npx cdk deploy -c clusterName=NAME` ships the whole registrar."""

from __future__ import annotations

import aws_cdk as cdk

from stacks import nag
from stacks.config import RegistrarConfig
from stacks.registrar_stack import RegistrarStack


def build(app: cdk.App) -> RegistrarStack:
    config = RegistrarConfig.from_context(app.node)
    stack = RegistrarStack(
        app,
        config.stack_name,
        config=config,
        # Environment-agnostic: synth needs no credentials; deploy targets the CLI's account.
        description="ebs-pv-registrar: registers tagged EBS volumes as Kubernetes PVs",
    )
    cdk.Tags.of(stack).add("app", "ebs-pv-registrar")
    nag.add_checks(app)
    nag.acknowledge(stack)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
