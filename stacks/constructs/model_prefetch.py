"""A one-off ECS task that fills the EFS model cache before the first request: the NIM's download-to-cache.

NVIDIA's NIM images ship a `download-to-cache` utility ("Downloads selected or default model
profile(s) to NIM cache. Can be used to pre-cache profiles prior to deployment. Requires
NGC_API_KEY"; without a profile it takes the optimal one for the detected GPUs:
https://docs.nvidia.com/nim/large-language-models/1.3.0/utilities.html). Older NIMs name the
option `--profiles`, newer ones `--profile` (https://docs.nvidia.com/nim/large-language-models/latest/deployment/model-download.html);
Python's argparse accepts `--profile` as an abbreviation of `--profiles`, so that is what we pass.
The task runs the
serving container's image, environment, NGC secret, user and EFS access point with that command,
on the same GPU capacity so the NIM picks the profile the service will serve.

`cosmosctl endpoint prefetch` runs it. Not a deploy-time custom resource: a download of tens of GB
can outlast CloudFormation's custom-resource wait, a failure would roll the whole stack back, and
the GPU host it needs is billed while it runs; the CLI shows progress and can be re-run.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.model_cache import ModelCache
from stacks.nag import acknowledge

PREFETCH_COMMAND = "download-to-cache"
PREFETCH_MEMORY_MIB = 4096


def prefetch_command(model_profile: str | None) -> list[str]:
    """`download-to-cache`, naming the pinned profile when nimModelProfile is set."""
    return [PREFETCH_COMMAND, *(["--profile", model_profile] if model_profile else [])]


class ModelPrefetch(Construct):
    """Task definition running `download-to-cache` with the serving task's image, settings, secret and cache."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecs.ContainerImage,
        environment: dict[str, str],
        secrets: dict[str, ecs.Secret],
        gpu_count: int,
        volume: ecs.Volume,
        mount_path: str,
        model_cache: ModelCache,
        user: str,
        log_group: logs.ILogGroup,
        model_profile: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task_definition = ecs.Ec2TaskDefinition(
            self, "TaskDefinition", network_mode=ecs.NetworkMode.AWS_VPC, volumes=[volume]
        )
        self.container = self.task_definition.add_container(
            "Prefetch",
            image=image,
            command=prefetch_command(model_profile),
            # The serving task's GPUs, so the NIM selects the profile the service will serve.
            gpu_count=gpu_count,
            # A download needs little memory; the reservation only has to fit next to nothing.
            memory_reservation_mib=PREFETCH_MEMORY_MIB,
            user=user,
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="prefetch", log_group=log_group),
            stop_timeout=Duration.seconds(30),
        )
        self.container.add_mount_points(
            ecs.MountPoint(source_volume=volume.name, container_path=mount_path, read_only=False)
        )
        model_cache.grant(self.task_definition.task_role)
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret NIM settings (model, log level); the NGC key comes "
            "from Secrets Manager through the container's secrets.",
        )
