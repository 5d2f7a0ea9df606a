"""A scale-to-zero AWS Batch compute environment of GPU instances, and the job queue in front of it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.gpu_host import root_volume
from stacks.nag import acknowledge


@dataclass(frozen=True, kw_only=True)
class GpuBatchComputeProps:
    """What the compute environment needs to know; the stack fills it from GeneratorConfig."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    instance_types: list[str]
    max_vcpus: int
    spot: bool
    root_volume_gib: int
    # gp3 throughput (MiB/s) and IOPS: the host's weights cache is read from this volume.
    root_volume_throughput: int
    root_volume_iops: int
    # ECS_RESERVED_MEMORY as a percentage of the host's MemTotal: kept back from the jobs for the
    # host's own processes.
    ecs_reserved_memory_percent: int
    # A directory on the root volume owned by `host_dir_uid` for the jobs to mount (the weights cache).
    host_dir: str
    host_dir_uid: int


class GpuBatchCompute(Construct):
    """Managed EC2 compute environment on the ECS GPU AMI (AL2023 + NVIDIA driver) and a job queue.

    `minvCpus` is 0: with no job in the queue Batch terminates every instance, so an idle stack
    costs nothing for compute. `security_group` is the hosts' group: open other resources (the
    EFS model cache) to it, not to the VPC.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: GpuBatchComputeProps) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description="Batch GPU hosts: no inbound; outbound for ECR, S3, Hugging Face and EFS",
            # Jobs download weights from the Hugging Face hub and talk to AWS APIs over HTTPS.
            allow_all_outbound=True,
        )

        # The ECS agent and SSM (Session Manager instead of SSH keys) on each host. The AWS
        # managed policies are the ones AWS keeps current for new ECS agent features.
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Batch GPU hosts: ECS agent and SSM Session Manager",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonEC2ContainerServiceforEC2Role"
                ),
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore"),
            ],
        )
        for policy in ("service-role/AmazonEC2ContainerServiceforEC2Role", "AmazonSSMManagedInstanceCore"):
            acknowledge(
                self.instance_role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                f"{policy.rsplit('/', 1)[-1]} is the AWS-maintained policy the ECS agent (or SSM "
                "agent) needs on a Batch host; AWS updates it together with the agent.",
            )

        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            block_devices=[
                # Above gp3's baseline (125 MiB/s, 3000 IOPS): ~30 GiB of weights load from the
                # host cache in ~30 s at 1000 MiB/s instead of ~4 min.
                root_volume(
                    props.root_volume_gib,
                    throughput=props.root_volume_throughput,
                    iops=props.root_volume_iops,
                )
            ],
            user_data=self._user_data(props),
            # IMDSv2 only, hop limit 1: containers (bridge network, one hop further) cannot read
            # the instance role's credentials; jobs get their own role through ECS.
            require_imdsv2=True,
            http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
            http_put_response_hop_limit=1,
            version_description="Cosmos 3 generator Batch hosts",
        )

        allocation = (
            batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
            if props.spot
            else batch.AllocationStrategy.BEST_FIT_PROGRESSIVE
        )
        self.compute_environment = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "ComputeEnvironment",
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            security_groups=[self.security_group],
            instance_types=[ec2.InstanceType(t) for t in props.instance_types],
            # Only the instance types the fit check approved, never Batch's "optimal" families.
            use_optimal_instance_classes=False,
            # The ECS GPU AMI: NVIDIA driver + container toolkit, so `resourceRequirements: GPU`
            # works without privileged containers or hand-mapped /dev/nvidia* devices.
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2023_NVIDIA)],
            instance_role=self.instance_role,
            launch_template=self.launch_template,
            minv_cpus=0,
            maxv_cpus=props.max_vcpus,
            spot=props.spot,
            allocation_strategy=allocation,
            # In-place infrastructure updates (new AMI release, launch template version, instance
            # types) instead of replacing the environment: the queue keeps its jobs, running jobs
            # finish (terminate_on_update=False, within update_timeout) and new instances get the
            # change. Needs BEST_FIT_PROGRESSIVE / SPOT_PRICE_CAPACITY_OPTIMIZED and the Batch
            # service-linked role, both set here.
            replace_compute_environment=False,
            terminate_on_update=False,
            update_timeout=Duration.minutes(30),
            update_to_latest_image_version=True,
        )
        cfn_ce = self.compute_environment.node.default_child
        assert isinstance(cfn_ce, batch.CfnComputeEnvironment)
        # Batch copies the launch template when the environment is created or updated, so
        # "$Latest" would silently keep the old copy: pin the concrete version this deploy made.
        # A new version (bigger root volume) changes this number and so updates the environment.
        cfn_ce.add_property_override(
            "ComputeResources.LaunchTemplate",
            {
                "LaunchTemplateId": self.launch_template.launch_template_id,
                "Version": self.launch_template.latest_version_number,
            },
        )
        # No ServiceRole: Batch then uses its service-linked role AWSServiceRoleForBatch, which
        # in-place infrastructure updates require (and which no custom policy can drift from).
        cfn_ce.add_property_deletion_override("ServiceRole")

        self.job_queue = batch.JobQueue(
            self,
            "JobQueue",
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.compute_environment, order=1)
            ],
            priority=1,
            # A job that can never be placed would sit RUNNABLE forever: cancel it after 10
            # minutes with a reason the user can read (only misconfigurations, never a wait for
            # Spot or GPU capacity, which resolves itself).
            job_state_time_limit_actions=[
                batch.JobStateTimeLimitAction(
                    max_time=Duration.minutes(10),
                    reason=batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
                    action=batch.JobStateTimeLimitActionsAction.CANCEL,
                ),
                batch.JobStateTimeLimitAction(
                    max_time=Duration.minutes(10),
                    reason=batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
                    action=batch.JobStateTimeLimitActionsAction.CANCEL,
                ),
            ],
        )

    @staticmethod
    def _user_data(props: GpuBatchComputeProps) -> ec2.MultipartUserData:
        """Host setup before the ECS agent starts, as MIME multi-part (Batch requires it: it adds its
        own part). Batch launch templates: docs.aws.amazon.com/batch/latest/userguide/launch-templates.html
        """
        script = ec2.UserData.for_linux()
        script.add_commands(
            # ECS registers the OS memory total minus this (ECS Developer Guide, "Reserving Amazon ECS
            # Linux container instance memory"); jobs are sized to the rest, so the host's own
            # daemons keep room. One launch template serves every instance size: compute it here.
            "total_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)",
            f'echo "ECS_RESERVED_MEMORY=$((total_mib * {props.ecs_reserved_memory_percent} / 100))" >> /etc/ecs/ecs.config',
            # The weights cache each job mounts: on the root volume, owned by the job's non-root
            # user (a new host directory would be root-owned and unwritable for the job).
            f"mkdir -p {props.host_dir}",
            f"chown {props.host_dir_uid}:{props.host_dir_uid} {props.host_dir}",
            f"chmod 0750 {props.host_dir}",
        )
        user_data = ec2.MultipartUserData()
        # A plain-text part (no base64) so the template shows exactly what runs on the host.
        user_data.add_part(
            ec2.MultipartBody.from_raw_body(
                content_type='text/x-shellscript; charset="us-ascii"', body=script.render()
            )
        )
        return user_data
