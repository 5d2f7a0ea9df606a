"""An Application Load Balancer in front of the reasoner's key-checking proxy: TLS, allowed CIDRs, logs."""

from __future__ import annotations

import ipaddress

from aws_cdk import Annotations, Aws, CfnCondition, CfnMapping, Duration, Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

from stacks.nag import acknowledge

HEALTH_CHECK_PATH = "/v1/health/ready"
ACCESS_LOG_PREFIX = "alb"


class AuthenticatedAlb(Construct):
    """ALB + target group. The load balancer holds no key and checks none.

    Every request goes to the tasks' key proxy (stacks/constructs/key_proxy.py), which checks the
    Bearer key at run time, answers 401/404/413 in OpenAI's error shape and forwards only the API's
    paths to the NIM. Listener rules are readable by anyone with `elasticloadbalancing:DescribeRules`,
    so a key there would leak (and could not be rotated without a template change). Ingress is
    opened only to `allowed_cidrs`; health checks reach the proxy's keyless /v1/health/ready.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        internet_facing: bool,
        allowed_cidrs: list[str],
        certificate_arn: str | None,
        idle_timeout_seconds: int,
        deregistration_delay_seconds: int,
        target_port: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.https = certificate_arn is not None
        self.scheme = "https" if self.https else "http"

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Reasoner load balancer: inbound only from allowedCidrs",
            allow_all_outbound=False,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # ALB access logs support SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            # Access logs are an audit record: keep them when the stack goes.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket only receives the load balancer's access logs; logging access to the log "
            "bucket itself would need yet another bucket.",
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=internet_facing,
            vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PUBLIC if internet_facing else ec2.SubnetType.PRIVATE_WITH_EGRESS
            ),
            security_group=self.security_group,
            # Long non-streamed answers (video prompts) outlive the 60 s default and end in 504.
            idle_timeout=Duration.seconds(idle_timeout_seconds),
            drop_invalid_header_fields=True,
        )
        _log_access_logs(self, self.load_balancer, self.access_logs, ACCESS_LOG_PREFIX)

        if deregistration_delay_seconds < idle_timeout_seconds:
            Annotations.of(self).add_warning_v2(
                "cosmos3:short-deregistration-delay",
                f"deregistrationDelaySeconds ({deregistration_delay_seconds}) is below idleTimeoutSeconds "
                f"({idle_timeout_seconds}): requests still running {deregistration_delay_seconds} s after a "
                "task starts stopping (deploy, key change, scale-in) are cut. Raise it to keep them.",
            )
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "TargetGroup",
            vpc=vpc,
            port=target_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            # Requests take milliseconds to minutes: send new ones to the least busy replica.
            load_balancing_algorithm_type=elbv2.TargetGroupLoadBalancingAlgorithmType.LEAST_OUTSTANDING_REQUESTS,
            # A stopping task keeps serving its in-flight requests this long; the ALB ends the wait
            # early once none are left ("Deregistration delay", ELB target group docs).
            deregistration_delay=Duration.seconds(deregistration_delay_seconds),
            health_check=elbv2.HealthCheck(
                # Ready only once weights are downloaded and compiled.
                path=HEALTH_CHECK_PATH,
                port=str(target_port),
                protocol=elbv2.Protocol.HTTP,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )

        # The proxy decides what is served; the listener only forwards.
        forward = elbv2.ListenerAction.forward([self.target_group])
        if certificate_arn is not None:
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_action=forward,
                open=False,
            )
            self.redirect_listener: elbv2.ApplicationListener | None = self.load_balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443", permanent=True),
                open=False,
            )
            ports = [443, 80]
        else:
            self.listener = self.load_balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_action=forward,
                open=False,
            )
            self.redirect_listener = None
            ports = [80]

        # Closed by default: no ingress rule at all until allowedCidrs names someone.
        # IPv4 only: the load balancer is IPv4-only, and config refuses IPv6 ranges at synth.
        for cidr in allowed_cidrs:
            peer = ec2.Peer.ipv4(cidr)
            for port in ports:
                self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), f"allowedCidrs {cidr}")
        if any(ipaddress.ip_network(c).prefixlen == 0 for c in allowed_cidrs):
            acknowledge(
                self.security_group,
                "AwsSolutions-EC23",
                "The deployer set allowedCidrs to the whole internet on purpose; the tasks' key proxy "
                "still refuses every API request without a valid Bearer key.",
            )

    @property
    def endpoint_url(self) -> str:
        return f"{self.scheme}://{self.load_balancer.load_balancer_dns_name}"


def _log_access_logs(
    scope: Construct, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.Bucket, prefix: str
) -> None:
    """Access logs to `bucket`, for a stack whose region may be unknown until deploy time.

    CDK's `log_access_logs` needs a concrete region to pick the writer. Regions opened before
    August 2022 deliver from a regional ELB account, later ones from the log-delivery service
    principal: allow the service principal always, and the regional ELB account where one exists
    (elsewhere that slot names the stack's own account, which changes nothing).
    """
    objects = bucket.arn_for_objects(f"{prefix}/AWSLogs/{Aws.ACCOUNT_ID}/*")
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[objects],
        )
    )
    regions = RegionInfo.regions
    mapping = CfnMapping(
        scope,
        "ElbLogAccounts",
        mapping={r.name: {"account": r.elbv2_account or "none"} for r in regions},
    )
    legacy = [Fn.condition_equals(Aws.REGION, r.name) for r in regions if r.elbv2_account]
    # Fn::Or takes at most ten conditions: OR groups of ten.
    groups = [legacy[i : i + 10] for i in range(0, len(legacy), 10)]
    expressions = [Fn.condition_or(*g) if len(g) > 1 else g[0] for g in groups]
    legacy_region = CfnCondition(
        scope,
        "LegacyElbLogRegion",
        expression=Fn.condition_or(*expressions) if len(expressions) > 1 else expressions[0],
    )
    writer = Fn.condition_if(
        legacy_region.logical_id,
        Fn.sub(
            "arn:${AWS::Partition}:iam::${Account}:root",
            {"Account": mapping.find_in_map(Aws.REGION, "account")},
        ),
        Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"),
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ArnPrincipal(writer.to_string())],
            actions=["s3:PutObject"],
            resources=[objects],
        )
    )
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    load_balancer.set_attribute("access_logs.s3.prefix", prefix)
    # The ALB checks it may write when the attribute is set: the policy must exist first.
    assert bucket.policy is not None
    load_balancer.node.add_dependency(bucket.policy)
