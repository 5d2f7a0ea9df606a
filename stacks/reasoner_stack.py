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
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from stacks.config import ReasonerConfig
from stacks.constructs.authenticated_alb import AuthenticatedAlb
from stacks.constructs.gpu_capacity import GpuCapacity
from stacks.constructs.key_proxy import CPU_UNITS as PROXY_CPU_UNITS
from stacks.constructs.key_proxy import MEMORY_RESERVATION_MIB as PROXY_MEMORY_MIB
from stacks.constructs.key_proxy import PROXY_CONTAINER, KeyProxy
from stacks.constructs.model_cache import ModelCache
from stacks.constructs.network import Network, log_retention
from stacks.constructs.service_alarms import ServiceAlarms
from stacks.nag import acknowledge

NIM_PORT = 8000
NIM_CACHE_PATH = "/opt/nim/.cache"
LIVENESS_PATH = "/v1/health/live"
# NGC's registry user name is this literal string; the password is the NGC API key.
NGC_USERNAME = "$oauthtoken"
# A key must not break the {"username", "password"} JSON the stack builds around it.
NGC_KEY_PATTERN = r'^[^"\\\s]+$'
# Secrets Manager appends "-" and six characters to a secret's name in its complete ARN.
_COMPLETE_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")
# ulimits from NVIDIA's reference `docker run` for vLLM-based NIMs.
ULIMITS = (
    ecs.Ulimit(name=ecs.UlimitName.MEMLOCK, soft_limit=-1, hard_limit=-1),
    ecs.Ulimit(name=ecs.UlimitName.STACK, soft_limit=67108864, hard_limit=67108864),
    ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536),
)


def nim_environment(config: ReasonerConfig) -> dict[str, str]:
    """The NIM's settings as environment variables; unset ones are left to the NIM's defaults."""
    env = {
        "NIM_MODEL_TYPE": "reasoner",
        "NIM_CACHE_PATH": NIM_CACHE_PATH,
        "NIM_LOG_LEVEL": config.log_level,
        "NIM_LOGGING_JSONL": "1",
        "NIM_MAX_IMAGES_PER_PROMPT": str(config.max_images_per_prompt),
        "NIM_MAX_VIDEOS_PER_PROMPT": str(config.max_videos_per_prompt),
    }
    # The unified image picks the model with NIM_MODEL_VARIANT; the reasoner-only image with
    # NIM_MODEL_SIZE.
    env["NIM_MODEL_VARIANT" if config.unified_image else "NIM_MODEL_SIZE"] = config.variant
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
        # Several tasks share a multi-GPU host when the model needs fewer GPUs than it has.
        tasks_per_instance = max(1, instance.gpus // fit.tensor_parallel)

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
        self.task_definition.add_volume(
            name="nim-cache",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=self.model_cache.file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=self.model_cache.access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )
        self.model_cache.grant(self.task_definition.task_role)

        linux_parameters = ecs.LinuxParameters(
            self, "LinuxParameters", shared_memory_size=config.shm_size_mib, init_process_enabled=True
        )
        self.container = self.task_definition.add_container(
            "Nim",
            image=ecs.ContainerImage.from_registry(config.image, credentials=self.ngc_secret),
            gpu_count=fit.tensor_parallel,
            # The key proxy next to it takes a small share of the task's part of the host.
            cpu=instance.vcpus * 1024 // tasks_per_instance - PROXY_CPU_UNITS,
            memory_reservation_mib=instance.ecs_memory_mib // tasks_per_instance - PROXY_MEMORY_MIB,
            user=f"{config.container_uid}:{config.container_uid}",
            environment=nim_environment(config),
            secrets={"NGC_API_KEY": ecs.Secret.from_secrets_manager(self.ngc_secret, "password")},
            linux_parameters=linux_parameters,
            ulimits=list(ULIMITS),
            port_mappings=[ecs.PortMapping(container_port=NIM_PORT, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="nim", log_group=self.log_group),
            # The start period caps at 300 s; first starts take far longer, and the service's
            # health-check grace period (which covers container health too) is what waits for them.
            health_check=ecs.HealthCheck(
                command=[
                    "CMD-SHELL",
                    'python3 -c "import urllib.request; '
                    f"urllib.request.urlopen('http://localhost:{NIM_PORT}{LIVENESS_PATH}', timeout=5)\"",
                ],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=5,
                start_period=Duration.seconds(300),
            ),
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
            # The NIM downloads weights from NGC through the NAT gateway.
            allow_all_outbound=True,
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
            desired_count=config.min_tasks,
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
            min_capacity=config.min_tasks, max_capacity=config.max_tasks
        )
        scaling.scale_on_request_count(
            "RequestsPerTarget",
            requests_per_target=config.requests_per_target,
            target_group=self.endpoint.target_group,
            # A new replica needs minutes to become ready; do not flap.
            scale_out_cooldown=Duration.minutes(5),
            scale_in_cooldown=Duration.minutes(15),
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
        # `cosmosctl endpoint keys` rolls the service so new tasks read a changed key secret.
        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name, description="ECS cluster")
        CfnOutput(self, "ServiceName", value=self.service.service_name, description="ECS service")
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
        if config.allowed_cidrs:
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
        if config.certificate_arn is None and config.internet_facing:
            Annotations.of(self).add_warning_v2(
                "cosmos3:plain-http",
                "The endpoint speaks plain HTTP: the API key crosses the internet unencrypted. "
                "Set certificateArn to serve HTTPS.",
            )
