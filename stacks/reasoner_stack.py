"""ReasonerStack: the Cosmos 3 reasoner NIM on ECS GPU instances behind an ALB and a key-checking proxy."""

from __future__ import annotations

import math
import re
from typing import Any

import jsii
from aws_cdk import (
    Annotations,
    AspectPriority,
    Aspects,
    CfnOutput,
    CfnParameter,
    Duration,
    IAspect,
    RemovalPolicy,
    SecretValue,
    Stack,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from stacks.config import ReasonerConfig
from stacks.constructs.authenticated_alb import AuthenticatedAlb
from stacks.constructs.gpu_capacity import GpuCapacity
from stacks.constructs.key_proxy import CPU_UNITS as PROXY_CPU_UNITS
from stacks.constructs.key_proxy import PROXY_CONTAINER, KeyProxy
from stacks.constructs.model_cache import ModelCache
from stacks.constructs.model_prefetch import ModelPrefetch
from stacks.constructs.network import Network, log_retention
from stacks.constructs.region_check import warn_if_region_lacks
from stacks.constructs.scale_to_zero import ScaleToZero
from stacks.constructs.service_alarms import ServiceAlarms
from stacks.nag import acknowledge

NIM_PORT = 8000
NIM_CACHE_PATH = "/opt/nim/.cache"
# NGC's registry user name is this literal string; the password is the NGC API key.
NGC_USERNAME = "$oauthtoken"
# A key must not break the {"username", "password"} JSON the stack builds around it.
NGC_KEY_PATTERN = r'^[^"\\\s]+$'
# An ECR image reference: account, region, repository, tag (or sha256 digest).
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::|@)(.+)$")
# Secrets Manager appends "-" and six characters to a secret's name in its complete ARN.
_COMPLETE_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")
# ulimits from NVIDIA's reference `docker run` for vLLM-based NIMs.
ULIMITS = (
    ecs.Ulimit(name=ecs.UlimitName.MEMLOCK, soft_limit=-1, hard_limit=-1),
    ecs.Ulimit(name=ecs.UlimitName.STACK, soft_limit=67108864, hard_limit=67108864),
    ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536),
)


def nim_environment(config: ReasonerConfig) -> dict[str, str]:
    """The NIM's settings as environment variables; unset ones are left to the NIM's defaults.

    The two image families name some settings differently, so each gets its own map:
    - unified cosmos3 (NIM for Cosmos): NIM_MODEL_TYPE + NIM_MODEL_VARIANT pick the runtime and
      model, NIM_LOGGING_JSONL takes true/false (docs.nvidia.com/nim/cosmos/latest/configuration.html);
    - reasoner-only cosmos3-reasoner (a NIM for VLMs): NIM_MODEL_SIZE picks the model and
      NIM_JSONL_LOGGING turns on JSON lines
      (docs.nvidia.com/nim/vision-language-models/latest/environment-variables.html).
    """
    if config.unified_image:
        env = {
            "NIM_MODEL_TYPE": "reasoner",
            "NIM_MODEL_VARIANT": config.variant,
            "NIM_LOGGING_JSONL": "true",
        }
    else:
        env = {"NIM_MODEL_SIZE": config.variant, "NIM_JSONL_LOGGING": "true"}
    env.update(
        {
            "NIM_CACHE_PATH": NIM_CACHE_PATH,
            "NIM_LOG_LEVEL": config.log_level,
            "NIM_MAX_IMAGES_PER_PROMPT": str(config.max_images_per_prompt),
            "NIM_MAX_VIDEOS_PER_PROMPT": str(config.max_videos_per_prompt),
        }
    )
    optional = {
        # Unset means automatic: BF16 on cc 8.0-8.8, FP8 on 8.9-9.x, NVFP4 on >= 10.0.
        "NIM_PRECISION": None if config.precision == "auto" else config.precision,
        "NIM_MODEL_PROFILE": config.model_profile,
        "NIM_MAX_MODEL_LEN": config.max_model_len,
        "NIM_MAX_NUM_SEQS": config.max_num_seqs,
        "NIM_GPU_MEMORY_UTILIZATION": config.gpu_memory_utilization,
        "NIM_VIDEO_PRUNING_RATE": config.video_pruning_rate,
    }
    env.update({k: str(v) for k, v in optional.items() if v is not None})
    return dict(sorted(env.items()))


@jsii.implements(IAspect)
class _DependOnCapacityProviderAssociation:
    """Makes the ECS service depend on the cluster's capacity provider association."""

    def __init__(self, cluster: ecs.Cluster) -> None:
        self._cluster = cluster

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, ecs.CfnService):
            return
        associations = [
            c
            for c in self._cluster.node.children
            if isinstance(c, ecs.CfnClusterCapacityProviderAssociations)
        ]
        if not associations:
            raise AssertionError("the cluster has no capacity provider association to depend on")
        for association in associations:
            node.add_resource_dependency(association)


class ReasonerStack(Stack):
    """An OpenAI-compatible Cosmos 3 reasoner endpoint in the deployer's own account.

    ECS runs one NIM task per `fit.tensor_parallel` GPUs on private GPU hosts that a capacity
    provider adds and removes; weights are cached on EFS; the ALB forwards to an nginx sidecar in
    each task that lets through only requests with one of the named API keys (KeyProxy). Outputs
    give the URL, the secrets and a curl to try.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: ReasonerConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        fit = config.fit
        instance = config.instance
        # Several tasks share a multi-GPU host when the model needs fewer GPUs than it has; config
        # refuses a host whose GPUs this deployment could never all use (ENIs, maxTasks).
        tasks_per_instance = config.tasks_per_instance

        self.network = Network(self, "Network", config=config.network)
        vpc = self.network.vpc
        private = self.network.private_subnets

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENHANCED
        )
        self.gpu_capacity = GpuCapacity(
            self,
            "GpuCapacity",
            cluster=self.cluster,
            vpc=vpc,
            subnets=private,
            instance_type=config.instance_type,
            root_volume_gib=config.root_volume_gib,
            # One spare host lets a deployment start a new task before it stops an old one.
            max_instances=math.ceil(config.max_tasks / tasks_per_instance) + 1,
        )

        self.ngc_secret = self._ngc_secret(config)
        self.model_cache = ModelCache(
            self, "ModelCache", vpc=vpc, uid=config.container_uid, path="/reasoner-nim"
        )

        self.log_group = logs.LogGroup(
            self,
            "NimLogs",
            retention=log_retention(config.network.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )

        # awsvpc: each task gets its own ENI and security group (only the ALB may reach port 8000)
        # and registers by IP, so no host port mapping or instance-level opening is needed.
        self.task_definition = ecs.Ec2TaskDefinition(
            self, "TaskDefinition", network_mode=ecs.NetworkMode.AWS_VPC
        )
        cache_volume = ecs.Volume(
            name="nim-cache",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=self.model_cache.file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=self.model_cache.access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )
        self.task_definition.add_volume(
            name=cache_volume.name, efs_volume_configuration=cache_volume.efs_volume_configuration
        )
        self.model_cache.grant(self.task_definition.task_role)

        linux_parameters = ecs.LinuxParameters(
            self, "LinuxParameters", shared_memory_size=config.shm_size_mib, init_process_enabled=True
        )
        self.container = self.task_definition.add_container(
            "Nim",
            image=self._image(config),
            gpu_count=fit.tensor_parallel,
            # The key proxy next to it takes a small share of the task's part of the host.
            cpu=instance.vcpus * 1024 // tasks_per_instance - PROXY_CPU_UNITS,
            # A soft reservation of NVIDIA's host-memory floor for the profile (16 GiB): it decides
            # placement only, the NIM may use all the host's memory. Tests check that every host
            # the config allows registers enough for all its tasks (NIM + key proxy) after
            # ECS_RESERVED_MEMORY.
            memory_reservation_mib=config.task_memory_mib,
            user=f"{config.container_uid}:{config.container_uid}",
            environment=nim_environment(config),
            secrets={"NGC_API_KEY": ecs.Secret.from_secrets_manager(self.ngc_secret, "password")},
            linux_parameters=linux_parameters,
            ulimits=list(ULIMITS),
            port_mappings=[ecs.PortMapping(container_port=NIM_PORT, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="nim", log_group=self.log_group),
            # No container health check: NVIDIA's cosmos3 docs run Python as /opt/nim/.venv/bin/python
            # (no python3 on PATH), and the reasoner-only VLM image documents neither; a check
            # whose binary is missing marks every task unhealthy and ECS replaces them in a loop.
            # The target group's /v1/health/ready check (ECS replaces a task the load balancer
            # finds unhealthy, after the service's grace period) is the health signal.
            stop_timeout=Duration.seconds(120),
        )
        self.container.add_mount_points(
            ecs.MountPoint(source_volume="nim-cache", container_path=NIM_CACHE_PATH, read_only=False)
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret NIM settings (model, limits, log level); the NGC key "
            "comes from Secrets Manager through the container's secrets.",
        )

        # The API keys and the nginx that checks them: the load balancer reaches only this container.
        self.key_proxy = KeyProxy(
            self,
            "KeyProxy",
            task_definition=self.task_definition,
            log_group=self.log_group,
            upstream_port=NIM_PORT,
            idle_timeout_seconds=config.idle_timeout_seconds,
        )

        self.task_security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            description="Reasoner NIM tasks: the key proxy port from the load balancer only",
            # Out: HTTPS for NGC (weights, through the NAT gateway) and NFS to the model cache only,
            # so a key holder cannot make the NIM fetch image_url/video_url links from other
            # hosts in the VPC on other ports. DNS to the VPC resolver and the ECS task metadata
            # and credentials endpoints are not filtered by security groups
            # (docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html). Image pulls,
            # secrets and logs go through the host's ENI (ECS agent), not the task's.
            allow_all_outbound=False,
        )
        self.task_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: NGC model downloads and https media URLs"
        )
        # ECS mounts EFS for awsvpc tasks; allow NFS from the task and host groups alike.
        self.model_cache.allow_from(self.task_security_group)
        self.model_cache.allow_from(self.gpu_capacity.security_group)

        self.endpoint = AuthenticatedAlb(
            self,
            "Endpoint",
            vpc=vpc,
            internet_facing=config.internet_facing,
            allowed_cidrs=config.allowed_cidrs,
            certificate_arn=config.certificate_arn,
            idle_timeout_seconds=config.idle_timeout_seconds,
            deregistration_delay_seconds=config.deregistration_delay_seconds,
            target_port=self.key_proxy.port,
        )

        self.service = ecs.Ec2Service(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            # No desired_count: a DesiredCount in the template resets the autoscaled count on every
            # stack update. Without it CloudFormation starts a new service at 1 and leaves an
            # existing one's count alone (AWS::ECS::Service DesiredCount; aws/aws-cdk#13130);
            # the scalable target's min capacity (minTasks) holds the floor.
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(
                    capacity_provider=self.gpu_capacity.capacity_provider.capacity_provider_name, weight=1
                )
            ],
            security_groups=[self.task_security_group],
            vpc_subnets=private,
            # First start = host boot + image pull + weight download + compile: tens of minutes.
            health_check_grace_period=Duration.minutes(config.health_check_grace_minutes),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # Start the new task before stopping the old one: no gap in service during a deploy.
            min_healthy_percent=100,
            max_healthy_percent=200,
        )
        # Delete the service before the cluster's capacity provider association, or stack deletion
        # stalls on a capacity provider that a service still uses. ECS adds the association in an
        # aspect at synthesis, so the dependency is added by a later aspect.
        Aspects.of(self.service).add(
            _DependOnCapacityProviderAssociation(self.cluster), priority=AspectPriority.MUTATING + 1
        )
        # Register the key proxy, not the NIM: the ALB (and its security group rule) reaches only it.
        self.service.load_balancer_target(
            container_name=PROXY_CONTAINER, container_port=self.key_proxy.port
        ).attach_to_application_target_group(self.endpoint.target_group)

        scaling = self.service.auto_scale_task_count(
            min_capacity=config.min_capacity, max_capacity=config.max_tasks
        )
        scaling.scale_on_request_count(
            "RequestsPerTarget",
            requests_per_target=config.requests_per_target,
            target_group=self.endpoint.target_group,
            # A new replica needs minutes to become ready; do not flap.
            scale_out_cooldown=Duration.minutes(5),
            scale_in_cooldown=Duration.minutes(15),
        )

        # Scale to zero when idle and wake on the next request (idleMinutes); the prefetch task fills
        # the EFS cache before the first request either way (`cosmosctl endpoint prefetch`).
        self.scale_to_zero = (
            None
            if config.idle_minutes is None
            else ScaleToZero(
                self,
                "ScaleToZero",
                scaling=scaling,
                load_balancer=self.endpoint.load_balancer,
                target_group=self.endpoint.target_group,
                auto_scaling_group=self.gpu_capacity.auto_scaling_group,
                launch_template=self.gpu_capacity.launch_template,
                instance_role=self.gpu_capacity.role,
                image=config.image,
                registry_secret=self.ngc_secret,
                idle_minutes=config.idle_minutes,
            )
        )
        self.prefetch = ModelPrefetch(
            self,
            "ModelPrefetch",
            image=ecs.ContainerImage.from_registry(config.image, credentials=self.ngc_secret),
            environment=nim_environment(config),
            secrets={"NGC_API_KEY": ecs.Secret.from_secrets_manager(self.ngc_secret, "password")},
            gpu_count=fit.tensor_parallel,
            volume=cache_volume,
            mount_path=NIM_CACHE_PATH,
            model_cache=self.model_cache,
            user=f"{config.container_uid}:{config.container_uid}",
            log_group=self.log_group,
            model_profile=config.model_profile,
        )

        self.alarms = ServiceAlarms(
            self,
            "Alarms",
            service=self.service,
            cluster=self.cluster,
            target_group=self.endpoint.target_group,
            load_balancer=self.endpoint.load_balancer,
            auto_scaling_group=self.gpu_capacity.auto_scaling_group,
            email=config.alarm_email,
        )
        self._outputs(config)
        self._operations_outputs(config)

    def _image(self, config: ReasonerConfig) -> ecs.ContainerImage:
        """nvcr.io with the NGC key as registry credential; a mirror (reasonerImageMirror) without it."""
        if not config.image_mirror:
            return ecs.ContainerImage.from_registry(config.image, credentials=self.ngc_secret)
        ecr_image = _ECR_IMAGE.match(config.image)
        if ecr_image:
            # The execution role gets pull rights on exactly this repository.
            account, region, name, ref = ecr_image.groups()
            repository = ecr.Repository.from_repository_attributes(
                self,
                "MirrorRepository",
                repository_arn=f"arn:{Stack.of(self).partition}:ecr:{region}:{account}:repository/{name}",
                repository_name=name,
            )
            acknowledge(
                self.task_definition.obtain_execution_role(),
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken has no resource-level permissions; the pull actions "
                "(ecr:BatchGetImage, ecr:GetDownloadUrlForLayer) are scoped to the mirror repository.",
            )
            return ecs.ContainerImage.from_ecr_repository(repository, ref)
        return ecs.ContainerImage.from_registry(config.image)

    def _ngc_secret(self, config: ReasonerConfig) -> secretsmanager.ISecret:
        """An existing secret (ngcSecretArn), or one built from the NoEcho NgcApiKey parameter."""
        if config.ngc_secret_arn:
            arn = config.ngc_secret_arn
            if _COMPLETE_SECRET_ARN.search(arn):
                return secretsmanager.Secret.from_secret_complete_arn(self, "NgcSecret", arn)
            return secretsmanager.Secret.from_secret_partial_arn(self, "NgcSecret", arn)
        # Created here, at stack level, so `--parameters NgcApiKey=...` finds it by this exact id.
        # No default: a default would be a key in the template.
        key = CfnParameter(
            self,
            "NgcApiKey",
            type="String",
            no_echo=True,
            min_length=10,
            allowed_pattern=NGC_KEY_PATTERN,
            constraint_description="an NGC API key (no quotes, backslashes or spaces)",
            description="NGC API key (ngc.nvidia.com > Setup > API Key), kept in Secrets Manager",
        )
        secret = secretsmanager.Secret(
            self,
            "NgcSecret",
            description="NGC registry credentials and API key for the Cosmos 3 reasoner NIM",
            secret_object_value={
                "username": SecretValue.unsafe_plain_text(NGC_USERNAME),
                "password": SecretValue.cfn_parameter(key),
            },
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The NGC API key is issued by NVIDIA's NGC portal, which AWS cannot rotate; replace it with "
            "a new key and redeploy so running tasks pick it up.",
        )
        return secret

    def _operations_outputs(self, config: ReasonerConfig) -> None:
        """What `cosmosctl endpoint up|down|status|prefetch` needs to find the service and its hosts."""
        outputs = {
            "ClusterName": (self.cluster.cluster_name, "ECS cluster of the NIM service"),
            "ServiceName": (self.service.service_name, "ECS service of the NIM"),
            "TargetGroupArn": (self.endpoint.target_group.target_group_arn, "Target group of the NIM tasks"),
            "AutoScalingGroupName": (
                self.gpu_capacity.auto_scaling_group.auto_scaling_group_name,
                "Auto Scaling group of the GPU hosts",
            ),
            "CapacityProviderName": (
                self.gpu_capacity.capacity_provider.capacity_provider_name,
                "Capacity provider the NIM tasks run on",
            ),
            "TaskSubnets": (
                ",".join(
                    self.network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
                ),
                "Subnets of the NIM tasks (awsvpc)",
            ),
            "TaskSecurityGroupId": (
                self.task_security_group.security_group_id,
                "Security group of the NIM tasks",
            ),
            "PrefetchTaskDefinitionArn": (
                self.prefetch.task_definition.task_definition_arn,
                "One-off task that fills the EFS cache (cosmosctl endpoint prefetch)",
            ),
            "InstanceType": (config.instance_type, "GPU instance type of the hosts"),
            "IdleMinutes": (
                "off" if config.idle_minutes is None else str(config.idle_minutes),
                "Minutes without requests before the endpoint scales to zero (off = always one warm task)",
            ),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)

    def _outputs(self, config: ReasonerConfig) -> None:
        url = self.endpoint.endpoint_url
        region = Stack.of(self).region
        api_key_arn = self.key_proxy.api_keys.secret_arn
        CfnOutput(self, "EndpointUrl", value=url, description="OpenAI-compatible base URL (add /v1)")
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.endpoint.load_balancer.load_balancer_dns_name,
            description="Point your certificate's DNS name (CNAME) here when certificateArn is set",
        )
        CfnOutput(
            self,
            "ApiKeySecretArn",
            value=api_key_arn,
            description='Named Bearer API keys {"<name>": "<value>"}: cosmosctl endpoint keys list|add|revoke|rotate',
        )
        # ClusterName and ServiceName (_operations_outputs) also serve `cosmosctl endpoint keys`,
        # which rolls the service so new tasks read a changed key secret.
        CfnOutput(
            self, "NgcSecretArn", value=self.ngc_secret.secret_arn, description="NGC credentials secret"
        )
        CfnOutput(self, "LogGroupName", value=self.log_group.log_group_name, description="NIM container logs")
        CfnOutput(
            self, "AlarmTopicArn", value=self.alarms.topic.topic_arn, description="SNS topic of the alarms"
        )
        fetch_key = (
            f"KEY=$(aws secretsmanager get-secret-value --region {region} --secret-id {api_key_arn} "
            "--query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"default\"])')"
        )
        chat = (
            '{"model":"' + config.model_id + '","messages":[{"role":"user","content":'
            '"Describe what a robot arm needs to pick up a cup."}],"max_tokens":128}'
        )
        CfnOutput(
            self,
            "CurlExample",
            value=(
                f"{fetch_key} && "
                f'curl -s -H "Authorization: Bearer $KEY" {url}/v1/models && '
                f'curl -s {url}/v1/chat/completions -H "Authorization: Bearer $KEY" '
                f"-H 'Content-Type: application/json' -d '{chat}'"
            ),
            description="Fetch the API key, list the models and ask a question",
        )
        if "0.0.0.0/0" in config.allowed_cidrs:
            cidr_note = (
                "OPEN TO THE WHOLE INTERNET (0.0.0.0/0): only the API key stands between anyone and your GPUs"
            )
            Annotations.of(self).add_warning_v2(
                "cosmos3:open-to-internet",
                "allowedCidrs contains 0.0.0.0/0: anyone on the internet can reach the load balancer; only "
                "the API key protects the endpoint. Prefer your IP/32 or VPN range.",
            )
        elif config.allowed_cidrs:
            cidr_note = ", ".join(config.allowed_cidrs)
        else:
            cidr_note = (
                "CLOSED: allowedCidrs is empty, nobody can reach the endpoint. Redeploy with "
                "-c allowedCidrs='[\"<your IP>/32\"]'"
            )
            Annotations.of(self).add_warning_v2(
                "cosmos3:closed-endpoint",
                "allowedCidrs is empty: the load balancer accepts no traffic. "
                "Set -c allowedCidrs='[\"<your IP>/32\"]'.",
            )
        CfnOutput(self, "AllowedCidrs", value=cidr_note, description="Who may reach the load balancer")
        warn_if_region_lacks(self, [config.instance_type])
        if config.certificate_arn is None and config.internet_facing:
            Annotations.of(self).add_warning_v2(
                "cosmos3:plain-http",
                "The endpoint speaks plain HTTP: the API key crosses the internet unencrypted. "
                "Set certificateArn to serve HTTPS.",
            )
