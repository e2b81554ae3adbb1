"""Optional CloudTrail trail: CloudTrail-delivered events reach EventBridge only with a trail."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

TRAIL_LOG_EXPIRY = cdk.Duration.days(90)
NONCURRENT_EXPIRY = cdk.Duration.days(7)


class RegistrarTrail(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireTrailLogs",
                    expiration=TRAIL_LOG_EXPIRY,
                    noncurrent_version_expiration=NONCURRENT_EXPIRY,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        stack = cdk.Stack.of(self)
        # A name known at synthesis: the bucket policy names the trail's ARN (aws:SourceArn)
        # without a reference to the trail, which itself must wait for that policy.
        self.trail_name = f"{stack.stack_name}-registrar"
        self.trail_arn = stack.format_arn(
            service="cloudtrail", resource="trail", resource_name=self.trail_name
        )
        cloudtrail_service = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        only_this_trail = {"aws:SourceArn": self.trail_arn}
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailAclCheck",
                principals=[cloudtrail_service],
                actions=["s3:GetBucketAcl"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringEquals": only_this_trail},
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailWrite",
                principals=[cloudtrail_service],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
                conditions={
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **only_this_trail}
                },
            )
        )
        # Write-only management events in this region: the EC2 calls the rules watch. (The L1
        # resource: aws-cloudtrail's Trail writes its own bucket policy without aws:SourceArn.)
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=self.trail_name,
            s3_bucket_name=self.bucket.bucket_name,
            is_logging=True,
            is_multi_region_trail=False,
            include_global_service_events=False,
            enable_log_file_validation=True,
            event_selectors=[
                cloudtrail.CfnTrail.EventSelectorProperty(
                    include_management_events=True, read_write_type="WriteOnly"
                )
            ],
        )
        assert self.bucket.policy is not None
        self.trail.node.add_dependency(self.bucket.policy)
