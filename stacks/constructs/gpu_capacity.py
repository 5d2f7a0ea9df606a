"""GPU hosts for an ECS cluster: an Auto Scaling group of ECS GPU AMIs as a managed capacity provider."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.gpu_host import root_volume
from stacks.gpu_catalog import ECS_RESERVED_MEMORY_MIB
from stacks.nag import acknowledge

# Appended to /etc/ecs/ecs.config on every host (the cluster join line comes from ECS itself).
ECS_AGENT_SETTINGS = (
    # A restarted task on the same host reuses the multi-GB NIM image instead of pulling it again.
    "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
    # awsvpc tasks must use their task role, never the instance role through IMDS.
    "ECS_AWSVPC_BLOCK_IMDS=true",
    # Give vLLM time to finish in-flight requests before SIGKILL.
    "ECS_CONTAINER_STOP_TIMEOUT=120s",
    # Keep memory for the agent, containerd, the SSM agent and the NVIDIA persistence daemon out
    # of task placement; the agent registers MemTotal minus this (0 by default):
    # docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html
    f"ECS_RESERVED_MEMORY={ECS_RESERVED_MEMORY_MIB}",
)


class GpuCapacity(Construct):
    """Private GPU instances that join `cluster` through a capacity provider with managed scaling.

    ECS asks the Auto Scaling group for exactly the instances its tasks need (target capacity
    100 %), and managed termination protection keeps scale-in from killing a host that still
    runs a task. Instances have no SSH key: use SSM Session Manager. IMDSv2 only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: ecs.Cluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        instance_type: str,
        root_volume_gib: int,
        max_instances: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="GPU hosts: no inbound; outbound for the ECS agent, SSM and image pulls",
            allow_all_outbound=True,
        )
        self.role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ECS GPU container instances (ECS agent, SSM Session Manager)",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "AmazonSSMManagedInstanceCore is AWS's maintained minimum for Session Manager, which "
            "replaces SSH (the hosts have no key pair and no inbound rule).",
        )
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*(f"echo {line} >> /etc/ecs/ecs.config" for line in ECS_AGENT_SETTINGS))
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            # The ECS GPU AMI carries the NVIDIA driver, the container toolkit and
            # ECS_ENABLE_GPU_SUPPORT, so tasks can reserve GPUs without privileged containers.
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(hardware_type=ecs.AmiHardwareType.GPU),
            instance_type=ec2.InstanceType(instance_type),
            role=self.role,
            security_group=self.security_group,
            user_data=user_data,
            require_imdsv2=True,
            # The 30 GB default root volume runs out ("no space left on device") on the NIM image.
            block_devices=[root_volume(root_volume_gib)],
        )
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "AutoScalingGroup",
            vpc=vpc,
            vpc_subnets=subnets,
            launch_template=self.launch_template,
            # ECS managed scaling sets the desired capacity; zero hosts when no task needs one.
            min_capacity=0,
            max_capacity=max_instances,
            cooldown=Duration.minutes(5),
        )
        acknowledge(
            self.auto_scaling_group,
            "AwsSolutions-AS2",
            "Hosts are not load balancer targets (awsvpc tasks register by IP); ECS replaces unhealthy "
            "tasks, and ELB health checks on the group would kill hosts during the long first start.",
        )
        acknowledge(
            self.auto_scaling_group,
            "AwsSolutions-AS3",
            "Launch failures (capacity, quota) reach the stack's alarm topic through an EventBridge rule "
            "on 'EC2 Instance Launch Unsuccessful' instead of ASG notifications.",
        )
        self.capacity_provider = ecs.AsgCapacityProvider(
            self,
            "CapacityProvider",
            auto_scaling_group=self.auto_scaling_group,
            enable_managed_scaling=True,
            enable_managed_termination_protection=True,
            target_capacity_percent=100,
            # The GPU AMI boots and joins the cluster in a few minutes.
            instance_warmup_period=300,
        )
        cluster.add_asg_capacity_provider(self.capacity_provider)
        # The ECS agent policy CDK attaches to the instance role when the hosts join the cluster.
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Action::ecs:Submit*]",
            "ecs:Submit* is the ECS agent's task/container/attachment state reporting, and the "
            "statement is scoped to this cluster's ARN.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken have no resource-level permissions; "
            "ecs:Poll and ecs:StartTelemetrySession are conditioned on this cluster (ecs:cluster).",
        )
