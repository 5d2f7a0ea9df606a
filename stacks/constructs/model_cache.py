"""An EFS file system that caches model weights (reasoner) or compiled kernels (generator) across
tasks, jobs and instance restarts."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from constructs import Construct


class ModelCache(Construct):
    """Encrypted EFS with Elastic throughput and one access point owned by the container's UID.

    A new EFS is root-owned; the access point creates `path` owned by `uid:gid` and forces every
    client to act as that user, so the non-root container can write its cache (no lchown or
    permission errors). Elastic throughput because bursting mode crawls once its credits are
    spent on tens of GB of weights. Clients must use TLS and IAM authorisation (see `grant`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        uid: int,
        path: str,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="EFS model cache: NFS from the GPU hosts only",
            allow_all_outbound=False,
        )
        self.file_system = efs.FileSystem(
            self,
            "FileSystem",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_group=self.security_group,
            encrypted=True,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            # Weights are re-downloadable, but tens of GB; keep them over a stack update.
            removal_policy=removal_policy,
            enable_automatic_backups=False,
            # Deny clients that are not TLS + IAM authorised; grants below give the task role access.
            allow_anonymous_access=False,
        )
        # Refuse NFS without TLS: the mount helper's `tls` option is then not optional.
        self.file_system.add_to_resource_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            )
        )
        self.access_point = self.file_system.add_access_point(
            "AccessPoint",
            path=path,
            create_acl=efs.Acl(owner_uid=str(uid), owner_gid=str(uid), permissions="0755"),
            posix_user=efs.PosixUser(uid=str(uid), gid=str(uid)),
        )

    def allow_from(self, peer: ec2.IConnectable) -> None:
        """Open NFS (2049) from `peer`'s security group, and nothing else."""
        self.file_system.connections.allow_default_port_from(peer, "NFS from the GPU hosts")

    def grant(self, role: iam.IGrantable) -> None:
        """Mount and write through this access point only, with IAM authorisation."""
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                resources=[self.file_system.file_system_arn],
                conditions={
                    "StringEquals": {"elasticfilesystem:AccessPointArn": self.access_point.access_point_arn}
                },
            )
        )
