"""Optional EKS Pod Identity Agent add-on: without it a Pod Identity association gives no
credentials (the EBS CSI controller with csiDriverIdentity=pod-identity would fail)."""

from __future__ import annotations

from aws_cdk import aws_eks as eks
from constructs import Construct

ADDON_NAME = "eks-pod-identity-agent"


class PodIdentityAgent(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        resolve_conflicts: str,
        preserve_on_delete: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.addon = eks.CfnAddon(
            self,
            "Addon",
            addon_name=ADDON_NAME,
            cluster_name=cluster_name,
            # The same safety as the CSI driver: never take over an agent installed by hand,
            # never remove it from the cluster with the stack (unless asked).
            resolve_conflicts=resolve_conflicts,
            preserve_on_delete=preserve_on_delete,
        )
