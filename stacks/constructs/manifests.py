"""Optional: the k8s/ manifests applied at deploy time through CDK's kubectl provider.

The cluster is imported (never created here); CDK's kubectl provider assumes `kubectlRoleArn`,
a role that may administer the cluster, and runs kubectl from the pinned kubectl layer.

What each of the provider's functions calls (aws-cdk-lib, aws-eks/lib/kubectl-provider.ts and
custom-resources/lib/provider-framework/runtime/{framework,cfn-response,outbound}.ts, and the
kubectl handler's apply/__init__.py):

- the kubectl handler: `aws eks update-kubeconfig` (eks:DescribeCluster with its own role),
  then kubectl, whose `aws eks get-token --role-arn` calls sts:AssumeRole, then the cluster's
  API endpoint. It runs in the VPC when the cluster's endpoint is private.
- the provider framework's onEvent function: lambda:Invoke of the handler, then an HTTPS PUT of
  the result to CloudFormation's presigned S3 `ResponseURL`. CDK places it in the same subnets
  as the handler, where neither Lambda nor S3 is reachable without a NAT gateway: the stack
  would wait an hour for an answer. It needs no VPC, so it is taken out of it here
  (tests/infra/test_stack_vpc_calls.py checks each call has a route).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import yaml
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .. import sibling, sibling_dir
from .network import RegistrarNetwork, acknowledge_imported_subnets

if TYPE_CHECKING:
    from render import manifests as k8s_manifests
else:
    k8s_manifests = sibling("render.manifests")

K8S_DIR = sibling_dir("k8s")
# The files of k8s/ that `applyManifests` applies, in order: add a new one here. The policy
# comes first, so that the group's rights never exist without it.
MANIFEST_FILES: tuple[str, ...] = (
    k8s_manifests.POLICY_FILE,
    k8s_manifests.RBAC_FILE,
    "storageclass-gp3.yaml",
)
# The provisioner written in k8s/storageclass-gp3.yaml; the deployment's csiDriver replaces it
# (EKS Auto Mode: ebs.csi.eks.amazonaws.com).
DEFAULT_PROVISIONER = "ebs.csi.aws.com"
BASIC_EXECUTION = "service-role/AWSLambdaBasicExecutionRole"
VPC_EXECUTION = "service-role/AWSLambdaVPCAccessExecutionRole"


def load_manifests(
    csi_driver: str,
    allowed_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_ALLOWED,
    denied_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_DENIED,
) -> dict[str, list[dict[str, Any]]]:
    """Each file of MANIFEST_FILES as its list of objects: the policy and the RBAC rendered for
    the deployment's namespace lists (k8s/ holds them for the defaults), the StorageClass with
    the deployment's driver."""
    rendered = {
        k8s_manifests.POLICY_FILE: k8s_manifests.policy(allowed_namespaces, denied_namespaces),
        k8s_manifests.RBAC_FILE: k8s_manifests.rbac(allowed_namespaces, denied_namespaces),
    }
    loaded: dict[str, list[dict[str, Any]]] = {}
    for name in MANIFEST_FILES:
        documents = rendered.get(name) or [
            doc for doc in yaml.safe_load_all((K8S_DIR / name).read_text()) if doc is not None
        ]
        for doc in documents:
            if doc.get("kind") == "StorageClass" and doc.get("provisioner") == DEFAULT_PROVISIONER:
                doc["provisioner"] = csi_driver
        loaded[name] = documents
    return loaded


def kubectl_layer(scope: Construct, construct_id: str, minor: int) -> lambda_.ILayerVersion:
    """The KubectlV<minor>Layer of aws-cdk.lambda-layer-kubectl-v<minor>; only the chosen
    package is loaded (each carries a kubectl binary)."""
    module = importlib.import_module(f"aws_cdk.lambda_layer_kubectl_v{minor}")
    layer: lambda_.ILayerVersion = getattr(module, f"KubectlV{minor}Layer")(scope, construct_id)
    return layer


def _construct_id(file_name: str) -> str:
    stem = file_name.rsplit(".", 1)[0]
    return "".join(part.capitalize() for part in stem.replace("_", "-").split("-"))


class ClusterManifests(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        kubectl_role_arn: str,
        kubectl_layer_minor: int,
        csi_driver: str,
        cluster: eks.ICluster | None = None,
        allowed_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_ALLOWED,
        denied_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_DENIED,
        network: RegistrarNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The user's cluster object brings its own kubectl provider: nothing to import.
        self.cluster = cluster or self._import_cluster(
            cluster_name, kubectl_role_arn, kubectl_layer_minor, network
        )
        self.manifests: dict[str, eks.KubernetesManifest] = {}
        loaded = load_manifests(csi_driver, allowed_namespaces, denied_namespaces)
        previous: eks.KubernetesManifest | None = None
        for file_name, documents in loaded.items():
            manifest = self.manifests[file_name] = eks.KubernetesManifest(
                self,
                _construct_id(file_name),
                cluster=self.cluster,
                manifest=documents,
                # kubectl apply, not create: objects already applied by hand (the documented
                # `kubectl apply`) are updated instead of failing the deployment.
                overwrite=True,
            )
            if previous is not None:  # in MANIFEST_FILES order, removed in reverse
                manifest.node.add_dependency(previous)
            previous = manifest
        # CDK's provider (a nested stack, one per imported cluster) that runs kubectl for the
        # manifests; a cluster object's provider is its owner's, left as it is.
        self.kubectl_provider: eks.IKubectlProvider | None = None
        if cluster is None:
            self.kubectl_provider = eks.KubectlProvider.get_or_create(self, self.cluster)
            _fit_kubectl_provider(self.kubectl_provider, in_vpc=network is not None)

    def _import_cluster(
        self,
        cluster_name: str,
        kubectl_role_arn: str,
        kubectl_layer_minor: int,
        network: RegistrarNetwork | None,
    ) -> eks.ICluster:
        # kubectl from the pinned layer package of the minor version stacks/config.py chose for
        # the cluster's (kubectl talks to servers one minor version either side).
        self.kubectl_layer = kubectl_layer(self, "KubectlLayer", kubectl_layer_minor)
        cluster = eks.Cluster.from_cluster_attributes(
            self,
            "Cluster",
            cluster_name=cluster_name,
            kubectl_role_arn=kubectl_role_arn,
            kubectl_layer=self.kubectl_layer,
            # A private endpoint: the kubectl handler runs in the same subnets and group as the
            # registrar (the group the cluster's security group admits on 443).
            vpc=network.vpc if network else None,
            kubectl_private_subnet_ids=list(network.config.subnet_ids) if network else None,
            kubectl_security_group_id=network.security_groups[0].security_group_id
            if network
            else None,
        )
        if network is not None:
            acknowledge_imported_subnets(cluster)
        return cluster


def _fit_kubectl_provider(provider: eks.IKubectlProvider, *, in_vpc: bool) -> None:
    handler: lambda_.Function = provider.node.find_child("Handler")  # type: ignore[assignment]
    framework: lambda_.Function = provider.node.find_child("Provider").node.find_child(  # type: ignore[assignment]
        "framework-onEvent"
    )
    _trim_kubectl_handler_role(handler, in_vpc=in_vpc)
    if in_vpc:
        _out_of_the_vpc(framework)


def _managed_policy_arns(*names: str) -> list[str]:
    return [iam.ManagedPolicy.from_aws_managed_policy_name(n).managed_policy_arn for n in names]


def _trim_kubectl_handler_role(handler: lambda_.Function, *, in_vpc: bool) -> None:
    """CDK gives the kubectl handler ECR pull rights (and ECR Public's, in the aws partition)
    for Helm charts from OCI registries; this app applies plain manifests only, so the role
    keeps its logs and, in a VPC, Lambda's network-interface policy."""
    names = [BASIC_EXECUTION] + ([VPC_EXECUTION] if in_vpc else [])
    _role(handler).managed_policy_arns = _managed_policy_arns(*names)
    # The condition that chose ECR Public's policy has nothing left to choose.
    handler.node.try_remove_child("HasEcrPublic")


def _out_of_the_vpc(function: lambda_.Function) -> None:
    """The provider framework calls Lambda and S3 only: outside the VPC both are reachable
    without a NAT gateway or endpoints, and it needs no network interface policy."""
    cfn = function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    cfn.vpc_config = None
    _role(function).managed_policy_arns = _managed_policy_arns(BASIC_EXECUTION)


def _role(function: lambda_.Function) -> iam.CfnRole:
    assert function.role is not None
    cfn = function.role.node.default_child
    assert isinstance(cfn, iam.CfnRole)
    return cfn
