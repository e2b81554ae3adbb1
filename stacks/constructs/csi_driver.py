"""Optional EBS CSI driver: its IAM role (Pod Identity or IRSA) and the EKS add-on."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from ..config import CSI_POLICIES

ADDON_NAME = "aws-ebs-csi-driver"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "ebs-csi-controller-sa"
KMS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)
CLUSTER_NAME_PRINCIPAL_TAG = "eks-cluster-name"


class CsiDriver(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        identity: str,
        policy: str,
        addon_version: str = "",
        oidc_provider_arn: str = "",
        resolve_conflicts: str = "PRESERVE",
        preserve_on_delete: bool = True,
        kms_key_arns: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        pod_identity = identity == "pod-identity"
        self.role = iam.Role(
            self,
            "Role",
            description=f"EBS CSI driver controller ({NAMESPACE}/{SERVICE_ACCOUNT})",
            assumed_by=_pod_identity_principal()
            if pod_identity
            else _irsa_principal(oidc_provider_arn),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CSI_POLICIES[policy])],
            # Inline, so that a retained role keeps them.
            inline_policies={"CustomerManagedKeys": _kms_policy(kms_key_arns)}
            if kms_key_arns
            else None,
        )
        if preserve_on_delete:
            # The driver keeps running after `cdk destroy` and keeps using this role (EKS
            # DeleteAddon, preserve: "If an IAM account is associated with the add-on, it isn't
            # removed"), so the role stays too; its permissions live inside it.
            self.role.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        if policy == "cluster-scoped":
            # Its conditions compare the volume's ebs.csi.aws.com/cluster-name with the principal
            # tag eks-cluster-name: Pod Identity sets it as a session tag, IRSA sets none, so
            # the role carries it.
            cdk.Tags.of(self.role).add(CLUSTER_NAME_PRINCIPAL_TAG, cluster_name)
        self.addon = eks.CfnAddon(
            self,
            "Addon",
            addon_name=ADDON_NAME,
            cluster_name=cluster_name,
            addon_version=addon_version or None,
            # AWS::EKS::Addon ResolveConflicts: PRESERVE (or NONE) never rewrites a driver that
            # was installed by hand: creation fails on a conflict instead; on update PRESERVE
            # keeps fields edited on the cluster. OVERWRITE takes the driver over.
            resolve_conflicts=resolve_conflicts,
            # PreserveOnDelete: deleting the stack stops EKS managing the add-on but leaves the
            # driver running, so mounted volumes keep working.
            preserve_on_delete=preserve_on_delete,
            pod_identity_associations=[
                eks.CfnAddon.PodIdentityAssociationProperty(
                    role_arn=self.role.role_arn, service_account=SERVICE_ACCOUNT
                )
            ]
            if pod_identity
            else None,
            service_account_role_arn=None if pod_identity else self.role.role_arn,
        )


def _kms_policy(key_arns: tuple[str, ...]) -> iam.PolicyDocument:
    """What the driver needs to create and attach volumes encrypted with customer managed keys:
    the statements of the EKS User Guide's EBS CSI driver role (kms-key-for-encryption-on-ebs)
    and the Amazon EBS User Guide ("Requirements for Amazon EBS encryption": CreateGrant only
    with kms:GrantIsForAWSResource, so grants go to EBS and EC2, never to a person). Their
    ReEncrypt* and GenerateDataKey* are written out: EBS uses symmetric keys only, so the data
    key pair actions are left out; no action here ends in *."""
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="GrantsForEbsOnly",
                actions=["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                resources=list(key_arns),
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="UseKeysForEbs",
                actions=list(KMS_KEY_ACTIONS),
                resources=list(key_arns),
            ),
        ]
    )


def _pod_identity_principal() -> iam.IPrincipal:
    # EKS Pod Identity assumes the role with sts:AssumeRole plus sts:TagSession.
    return iam.SessionTagsPrincipal(iam.ServicePrincipal("pods.eks.amazonaws.com"))


def _irsa_principal(oidc_provider_arn: str) -> iam.IPrincipal:
    issuer = oidc_provider_arn.split(":oidc-provider/", 1)[-1]
    return iam.FederatedPrincipal(
        oidc_provider_arn,
        conditions={
            "StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }
        },
        assume_role_action="sts:AssumeRoleWithWebIdentity",
    )
