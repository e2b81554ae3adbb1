"""EKS access entries: the registrar's role joins the Kubernetes group bound by k8s/rbac.yaml."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

KUBERNETES_GROUP = "ebs-pv-registrar"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


class EksAccess(Construct):
    """One access entry per allowed cluster (clusters must use the API authentication mode)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        clusters: tuple[str, ...],
        cluster_admin: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        policy_arn = cdk.Stack.of(self).format_arn(
            service="eks",
            region="",
            account="aws",
            resource="cluster-access-policy",
            resource_name=CLUSTER_ADMIN_POLICY,
        )
        self.entries: list[eks.CfnAccessEntry] = []
        for index, cluster in enumerate(clusters):
            self.entries.append(
                eks.CfnAccessEntry(
                    self,
                    f"AccessEntry{index}",
                    cluster_name=cluster,
                    principal_arn=role.role_arn,
                    type="STANDARD",
                    # The group of k8s/rbac.yaml, also with cluster admin: the admission policy
                    # matches the group, so it still holds the role to its own PVs and claims.
                    kubernetes_groups=[KUBERNETES_GROUP],
                    access_policies=[
                        eks.CfnAccessEntry.AccessPolicyProperty(
                            policy_arn=policy_arn,
                            access_scope=eks.CfnAccessEntry.AccessScopeProperty(type="cluster"),
                        )
                    ]
                    if cluster_admin
                    else None,
                )
            )
