"""Optional VPC placement: the cluster's private subnets, a security group, interface endpoints.

A private-only (or CIDR-restricted) EKS endpoint is reachable only from inside the cluster's
VPC. Everything is imported by id, so synthesis needs no AWS credentials (no context lookups).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IConstruct

from ..config import VpcConfig

HTTPS = 443
# The interface endpoint of each AWS API the registrar calls (EC2 AWS service names).
ENDPOINT_SERVICES: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "ec2": ec2.InterfaceVpcEndpointAwsService.EC2,
    "eks": ec2.InterfaceVpcEndpointAwsService.EKS,
    "xray": ec2.InterfaceVpcEndpointAwsService.XRAY,
    "cloudtrail": ec2.InterfaceVpcEndpointAwsService.CLOUDTRAIL,
    "sqs": ec2.InterfaceVpcEndpointAwsService.SQS,  # the splitter's SendMessageBatch
}


def acknowledge_imported_subnets(scope: IConstruct) -> None:
    """CDK's warnings about imported ids that nothing here relies on."""
    annotations = cdk.Annotations.of(scope)
    annotations.acknowledge_warning(
        "@aws-cdk/aws-ec2:noSubnetRouteTableId",
        "Only the subnet ids are used (Lambda VpcConfig, endpoints); no route table is read.",
    )
    annotations.acknowledge_warning(
        "@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones",
        "Subnets are always selected explicitly by id, never by zone.",
    )


class RegistrarNetwork(Construct):
    """The VPC, subnets and security groups the function (and the kubectl provider) run in."""

    def __init__(self, scope: Construct, construct_id: str, *, config: VpcConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.subnets: list[ec2.ISubnet] = [
            ec2.Subnet.from_subnet_id(self, f"Subnet{index}", subnet_id)
            for index, subnet_id in enumerate(config.subnet_ids)
        ]
        # Availability zones only matter to CDK's subnet grouping, which the explicit subnet
        # list bypasses; the region's (Fn::GetAZs, resolved at deploy time) satisfy the API.
        self.vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=config.vpc_id, availability_zones=cdk.Fn.get_azs()
        )
        acknowledge_imported_subnets(self)
        self.security_groups: list[ec2.ISecurityGroup]
        if config.security_group_ids:
            self.security_groups = [
                ec2.SecurityGroup.from_security_group_id(
                    self, f"SecurityGroup{index}", group_id, mutable=False
                )
                for index, group_id in enumerate(config.security_group_ids)
            ]
        else:
            created = ec2.SecurityGroup(
                self,
                "FunctionSecurityGroup",
                vpc=self.vpc,
                description="ebs-pv-registrar: HTTPS out to the EKS API and AWS endpoints",
                allow_all_outbound=False,
            )
            # The cluster endpoint, the interface endpoints or a NAT gateway: all on 443.
            created.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "HTTPS to AWS APIs")
            self.security_groups = [created]

        if config.cluster_security_group_id:
            self._https_from_registrar(
                "ClusterIngress",
                config.cluster_security_group_id,
                "ebs-pv-registrar: the registrar calls the Kubernetes API",
            )

        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        if config.create_endpoints:
            self._create_endpoints()

    def _https_from_registrar(self, id_prefix: str, group_id: str, description: str) -> None:
        """TCP 443 into `group_id` from each of the function's security groups."""
        for index, group in enumerate(self.security_groups):
            ec2.CfnSecurityGroupIngress(
                self,
                f"{id_prefix}{index}",
                group_id=group_id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                source_security_group_id=group.security_group_id,
                description=description,
            )

    @property
    def subnet_selection(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnets=self.subnets)

    def _create_endpoints(self) -> None:
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="ebs-pv-registrar: interface endpoints, HTTPS from the registrar only",
            allow_all_outbound=False,
        )
        self._https_from_registrar(
            "EndpointIngress",
            endpoint_group.security_group_id,
            "ebs-pv-registrar: calls to AWS APIs",
        )
        for name in self.config.endpoint_services:
            self.endpoints[name] = ec2.InterfaceVpcEndpoint(
                self,
                f"Endpoint-{name}",
                vpc=self.vpc,
                service=ENDPOINT_SERVICES[name],
                subnets=self.subnet_selection,
                security_groups=[endpoint_group],
                # The default: the service's public DNS name resolves to the endpoint.
                private_dns_enabled=True,
                # Open would allow the whole VPC CIDR, which an imported VPC does not state.
                open=False,
            )
