"""Failure handling, trail, EKS access and the EBS CSI driver constructs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from aws_cdk.assertions import Match

from stacks.constructs.eks_access import KUBERNETES_GROUP
from tests.infra.conftest import Synth

CLUSTER_ADMIN = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def test_dead_letter_queue_encrypted_tls_only(minimal: Synth) -> None:
    # The events' DLQ, the work queue and its DLQ (test_stack_queue.py): each encrypted, each
    # refusing plain HTTP.
    minimal.template.resource_count_is("AWS::SQS::Queue", 3)
    minimal.template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 86400}
    )
    assert all(q["Properties"]["SqsManagedSseEnabled"]
               for q in minimal.resources("AWS::SQS::Queue").values())  # fmt: skip
    minimal.template.resource_count_is("AWS::SQS::QueuePolicy", 3)
    minimal.template.all_resources_properties(
        "AWS::SQS::QueuePolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}},
    )  # fmt: skip


def test_events_may_send_to_the_queue_only_from_our_rules(minimal: Synth) -> None:
    policies = minimal.resources("AWS::SQS::QueuePolicy").values()
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]


def test_alarms(minimal: Synth) -> None:
    minimal.template.resource_count_is("AWS::CloudWatch::Alarm", 5)  # 2: test_stack_queue.py
    common = {"Threshold": 1, "EvaluationPeriods": 1, "TreatMissingData": "notBreaching",
              "ComparisonOperator": "GreaterThanOrEqualToThreshold"}  # fmt: skip
    minimal.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {**common, "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible"},
    )
    minimal.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {**common, "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum"},
    )
    minimal.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {**common, "Namespace": "EbsPvRegistrar", "MetricName": "RegistrationFailed",
         "Statistic": "Sum", "Dimensions": [{"Name": "service", "Value": "ebs-pv-registrar"}]},
    )  # fmt: skip


def test_no_trail_by_default(minimal: Synth) -> None:
    minimal.template.resource_count_is("AWS::CloudTrail::Trail", 0)
    minimal.template.resource_count_is("AWS::S3::Bucket", 0)


def test_trail_and_its_bucket(full: Synth) -> None:
    full.template.resource_count_is("AWS::CloudTrail::Trail", 1)
    full.template.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {"IsLogging": True, "IsMultiRegionTrail": False, "EnableLogFileValidation": True,
         "EventSelectors": [{"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}]},
    )  # fmt: skip
    full.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True,
                "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [Match.object_like(
                {"ExpirationInDays": 90, "Status": "Enabled"})]},
        },
    )  # fmt: skip


def test_trail_bucket_only_for_this_trail(full: Synth) -> None:
    """CloudTrail may check the ACL and write only as this trail (aws:SourceArn)."""
    [policy] = full.resources("AWS::S3::BucketPolicy").values()
    allows = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    assert sorted(s["Action"] for s in allows) == ["s3:GetBucketAcl", "s3:PutObject"]
    [trail] = full.resources("AWS::CloudTrail::Trail").values()
    assert trail["Properties"]["TrailName"] == "EbsPvRegistrar-registrar"
    for statement in allows:
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        source = statement["Condition"]["StringEquals"]["aws:SourceArn"]
        parts = source["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else f"${{{p['Ref']}}}" for p in parts)
        assert text == (
            "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}"
            ":trail/EbsPvRegistrar-registrar"
        )
    assert trail["DependsOn"] == [next(iter(full.resources("AWS::S3::BucketPolicy")))]


def test_access_entry_per_allowed_cluster_with_rbac_group(full: Synth) -> None:
    role = full.stack.get_logical_id(full.registrar.registrar.role.node.default_child)  # type: ignore[arg-type]
    entries = full.resources("AWS::EKS::AccessEntry").values()
    assert sorted(e["Properties"]["ClusterName"] for e in entries) == ["demo", "staging"]
    for entry in entries:
        props = entry["Properties"]
        assert props["PrincipalArn"] == {"Fn::GetAtt": [role, "Arn"]}
        assert props["Type"] == "STANDARD"
        assert props["KubernetesGroups"] == ["ebs-pv-registrar"]
        assert "AccessPolicies" not in props


def test_cluster_admin_policy_keeps_the_group(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", clusterAdminPolicy=True)
    props = next(iter(result.resources("AWS::EKS::AccessEntry").values()))["Properties"]
    assert props["KubernetesGroups"] == ["ebs-pv-registrar"]  # the admission policy matches it
    [policy] = props["AccessPolicies"]
    assert policy["AccessScope"] == {"Type": "cluster"}
    parts = policy["PolicyArn"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else f"${{{p['Ref']}}}" for p in parts)
    assert text == CLUSTER_ADMIN


def test_no_cluster_synthesizes_with_a_warning(synth: Callable[..., Synth]) -> None:
    result = synth()
    result.template.resource_count_is("AWS::EKS::AccessEntry", 0)
    messages = [m.data for m in result.registrar.node.metadata if m.type == "aws:cdk:warning"]
    assert any("clusterName" in str(m) for m in messages)


def test_no_csi_driver_by_default(minimal: Synth) -> None:
    minimal.template.resource_count_is("AWS::EKS::Addon", 0)


def test_csi_driver_pod_identity_v2(full: Synth) -> None:
    role = full.stack.get_logical_id(full.registrar.csi_driver.role.node.default_child)  # type: ignore[union-attr, arg-type]
    full.template.has_resource_properties(
        "AWS::EKS::Addon",
        {
            "AddonName": "aws-ebs-csi-driver",
            "ClusterName": "demo",
            "ResolveConflicts": "PRESERVE",
            "PreserveOnDelete": True,
            "PodIdentityAssociations": [
                {"RoleArn": {"Fn::GetAtt": [role, "Arn"]},
                 "ServiceAccount": "ebs-csi-controller-sa"}],
            "ServiceAccountRoleArn": Match.absent(),
            "AddonVersion": Match.absent(),
        },
    )  # fmt: skip
    props = full.raw["Resources"][role]["Properties"]
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": ["sts:AssumeRole", "sts:TagSession"], "Effect": "Allow",
         "Principal": {"Service": "pods.eks.amazonaws.com"}}
    ]  # fmt: skip
    v2 = ":iam::aws:policy/AmazonEBSCSIDriverPolicyV2"
    assert props["ManagedPolicyArns"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, v2]]}
    ]


OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"


def test_csi_driver_irsa_classic(synth: Callable[..., Synth]) -> None:
    result = synth(
        clusterName="demo",
        installCsiDriver=True,
        csiDriverIdentity="irsa",
        csiDriverPolicy="classic",
        oidcProviderArn=OIDC,
        csiDriverAddonVersion="v1.50.0-eksbuild.1",
    )
    role = result.stack.get_logical_id(result.registrar.csi_driver.role.node.default_child)  # type: ignore[union-attr, arg-type]
    result.template.has_resource_properties(
        "AWS::EKS::Addon",
        {"ServiceAccountRoleArn": {"Fn::GetAtt": [role, "Arn"]},
         "PodIdentityAssociations": Match.absent(), "AddonVersion": "v1.50.0-eksbuild.1"},
    )  # fmt: skip
    props = result.raw["Resources"][role]["Properties"]
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/ABC123"
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRoleWithWebIdentity", "Effect": "Allow",
         "Principal": {"Federated": OIDC},
         "Condition": {"StringEquals": {
             f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
             f"{issuer}:aud": "sts.amazonaws.com"}}}
    ]  # fmt: skip
    assert props["ManagedPolicyArns"] == [{"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"},
        ":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]]}]  # fmt: skip


def test_legacy_aws_auth_cluster_gets_no_access_entry(synth: Callable[..., Synth]) -> None:
    result = synth(clusterName="demo", createAccessEntries=False)
    result.template.resource_count_is("AWS::EKS::AccessEntry", 0)
    assert not [m for m in result.registrar.node.metadata if m.type == "aws:cdk:warning"]


def test_access_entry_group_is_the_one_rbac_binds() -> None:
    rbac = Path(__file__).resolve().parents[2] / "k8s" / "rbac.yaml"
    documents = [d for d in yaml.safe_load_all(rbac.read_text()) if d]
    subjects = [s for d in documents if d["kind"] == "ClusterRoleBinding" for s in d["subjects"]]
    assert {"kind": "Group", "name": KUBERNETES_GROUP} in [
        {"kind": s["kind"], "name": s["name"]} for s in subjects
    ]
