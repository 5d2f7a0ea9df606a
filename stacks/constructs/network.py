"""The VPC a stack runs in: a new two-AZ VPC with private subnets, or an existing one by id."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import NetworkConfig


class Network(Construct):
    """Creates or looks up the VPC; GPU hosts always go in private subnets with egress."""

    def __init__(self, scope: Construct, construct_id: str, *, config: NetworkConfig) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id:
            # Lookup needs a concrete account/region (CDK_DEFAULT_*); cdk.context.json caches it.
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
            return
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
        )
        # VPC flow logs (cdk-nag VPC7): who talked to the endpoint and the instances, kept as long
        # as the container logs.
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays(config.log_retention_days)
        )
        vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))
        # S3 traffic (weights, job inputs/outputs) skips the NAT gateway and its per-GB charge.
        vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.vpc = vpc

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
