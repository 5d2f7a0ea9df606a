"""GeneratorBatchStack: Cosmos 3 video generation as scale-to-zero AWS Batch GPU jobs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Duration, SecretValue, Size, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks import gpu_catalog as catalog
from stacks.config import GeneratorConfig
from stacks.constructs.batch_gpu import GpuBatchCompute, GpuBatchComputeProps
from stacks.constructs.job_bucket import INPUT_PREFIX, OUTPUT_PREFIX, WEIGHTS_PREFIX, JobBucket
from stacks.constructs.model_cache import ModelCache
from stacks.constructs.network import Network, log_retention
from stacks.constructs.region_check import warn_if_region_lacks
from stacks.nag import acknowledge

JOB_IMAGE_DIR = Path(__file__).resolve().parent.parent / "container" / "generator"
# Weights: an S3 mirror (s3://<job bucket>/weights/) copied once per host into a host-local cache on
# the root EBS volume, which every job on that host mounts. EFS Elastic throughput bills reads per
# GB (~$1 per container for ~30 GiB); S3 GETs through the VPC's gateway endpoint cost requests only
# (docs/generate.md, "Where the weights come from").
WEIGHTS_HOST_DIR = "/var/lib/cosmos3/weights"
WEIGHTS_DIR = "/weights"
HF_HOME = f"{WEIGHTS_DIR}/hf-home"
# EFS keeps only the small compile caches (Inductor/Triton/FlashAttention 4 kernels), shared by all
# hosts so a later job's first compiled call takes seconds, not minutes.
CACHE_DIR = "/cache"
COMPILE_CACHE_DIR = f"{CACHE_DIR}/torch-compile"
# The job exits with this code when its spec or inputs can never work (EXIT_INVALID_SPEC in
# container/generator/cosmos_generator/main.py; a test keeps the two equal): Batch must not retry.
BAD_SPEC_EXIT_CODE = 64
# Hugging Face access tokens look like hf_<letters and digits>.
HF_TOKEN_PATTERN = r"^hf_[A-Za-z0-9]+$"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
# A complete secret ARN ends in "-" plus six random characters Secrets Manager appends.
_COMPLETE_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")


class GeneratorBatchStack(Stack):
    """S3 in, Batch GPU jobs running container/generator, MP4s and metadata out to S3.

    Jobs land in `JobQueueArn` with `JobDefinitionArn`; each job renders one spec, or, as an array
    of WORKERS=K workers, its share of a JSONL manifest (the model loaded once per worker), on one
    GPU each, and writes `outputs/<job id>/<index>.mp4|.json`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: GeneratorConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        self.network = Network(self, "Network", config=config.network)
        warn_if_region_lacks(self, config.instance_types)
        self.job_bucket = JobBucket(
            self,
            "JobBucket",
            input_retention_days=config.input_retention_days,
            output_retention_days=config.output_retention_days,
        )
        self.compute = GpuBatchCompute(
            self,
            "Compute",
            props=GpuBatchComputeProps(
                vpc=self.network.vpc,
                subnets=self.network.private_subnets,
                instance_types=config.compute_instance_types,
                max_vcpus=config.max_vcpus,
                spot=config.spot,
                root_volume_gib=config.root_volume_gib,
                root_volume_throughput=config.root_volume_throughput,
                root_volume_iops=config.root_volume_iops,
                ecs_reserved_memory_percent=catalog.ECS_RESERVED_MEMORY_PERCENT,
                host_dir=WEIGHTS_HOST_DIR,
                host_dir_uid=config.container_uid,
            ),
        )
        self.model_cache = ModelCache(
            self, "ModelCache", vpc=self.network.vpc, uid=config.container_uid, path="/compile-cache"
        )
        self.model_cache.allow_from(self.compute.security_group)

        self.hf_token = self._hf_token_secret()
        self.log_group = logs.LogGroup(
            self, "JobLogs", retention=log_retention(config.network.log_retention_days)
        )

        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Batch generator jobs: pull the job image, write logs, read the HF token",
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Batch generator jobs: read inputs/, write outputs/, mirror weights/, mount the compile cache",
        )
        self.job_bucket.grant_job(self.job_role)
        self.model_cache.grant(self.job_role)

        self.job_definition = self._job_definition()
        self._acknowledge_role_wildcards()
        self._outputs()

    # ------------------------------------------------------------------------------------ parts

    def _hf_token_secret(self) -> secretsmanager.ISecret:
        """The Hugging Face token (the Cosmos 3 weights are gated): an existing secret or a new one."""
        arn = self.config.hf_token_secret_arn
        if arn:
            if _COMPLETE_SECRET_ARN.search(arn):
                return secretsmanager.Secret.from_secret_complete_arn(self, "HfTokenSecret", arn)
            return secretsmanager.Secret.from_secret_partial_arn(self, "HfTokenSecret", arn)
        token = CfnParameter(
            self,
            "HfToken",
            type="String",
            no_echo=True,
            min_length=8,
            allowed_pattern=HF_TOKEN_PATTERN,
            constraint_description=(
                "a Hugging Face access token (hf_...) with access to the gated nvidia/Cosmos3 models"
            ),
            description=(
                "Hugging Face access token for the gated Cosmos 3 weights (stored in Secrets Manager; "
                "or set context hfTokenSecretArn to an existing secret)"
            ),
        )
        secret = secretsmanager.Secret(
            self,
            "HfTokenSecret",
            description="Hugging Face access token for the Cosmos 3 generator jobs (HF_TOKEN)",
            # A dynamic reference to the NoEcho parameter: the value never enters the template.
            secret_string_value=SecretValue.cfn_parameter(token),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The Hugging Face token is issued by huggingface.co; only its owner can mint a new one, so a "
            "rotation Lambda cannot rotate it. Update it with `cdk deploy --parameters HfToken=...`.",
        )
        return secret

    def _job_image(self) -> ecs.ContainerImage:
        """container/generator built at deploy time, or the prebuilt image from generatorImage."""
        image = self.config.image
        # Pulls from ECR need ecr:GetAuthorizationToken, which only exists on Resource "*".
        self._image_from_ecr = image is None or _ECR_IMAGE.match(image) is not None
        if image is None:
            return ecs.ContainerImage.from_asset(
                str(JOB_IMAGE_DIR),
                # Batch GPU hosts are x86_64 (g5, g6e, p5); build for that on any workstation.
                platform=ecr_assets.Platform.LINUX_AMD64,
                # Stage only what the image is built from (.dockerignore applies too): caches,
                # rendered videos and the GPU benchmark script (bench.py, run outside the image)
                # would otherwise change the asset hash and rebuild the image for nothing.
                exclude=[
                    "**/__pycache__",
                    "**/*.pyc",
                    "**/.pytest_cache",
                    "**/.venv",
                    "**/*.mp4",
                    "bench.py",
                ],
            )
        ecr_match = _ECR_IMAGE.match(image)
        if ecr_match:
            # A private ECR image: grant the execution role pull rights on that repository.
            repo_name = ecr_match.group("repo")
            repository = ecr.Repository.from_repository_attributes(
                self,
                "PrebuiltImageRepository",
                repository_arn=(
                    f"arn:{self.partition}:ecr:{ecr_match.group('region')}:{ecr_match.group('account')}"
                    f":repository/{repo_name}"
                ),
                repository_name=repo_name,
            )
            return ecs.ContainerImage.from_ecr_repository(
                repository, ecr_match.group("digest") or ecr_match.group("tag")
            )
        return ecs.ContainerImage.from_registry(image)

    def _job_definition(self) -> batch.EcsJobDefinition:
        config = self.config
        # /dev/shm: PyTorch worker processes and ffmpeg pipes share tensors and frames through it
        # (Docker's 64 MB default fails with "bus error"). It is tmpfs charged to the job's
        # memory, so take a quarter of the job's memory, at most 16 GiB.
        self.shm_size_gib = min(16, config.job_memory_mib // 1024 // 4)
        bucket = self.job_bucket.bucket.bucket_name
        environment = {
            "AWS_REGION": self.region,
            # Weights: S3 mirror -> this host's cache (the job fills the mirror from the Hub once).
            "WEIGHTS_S3_URI": f"s3://{bucket}/{WEIGHTS_PREFIX}",
            "WEIGHTS_DIR": WEIGHTS_DIR,
            "HF_HOME": HF_HOME,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "MODEL_REVISION": config.model_revision,
            "OUTPUT_BUCKET": bucket,
            "OUTPUT_PREFIX": OUTPUT_PREFIX,
            # The Cosmos guardrail stays on (the model card asks for it); "off" only in tests.
            "SAFETY_CHECKER": "on",
            # Deployment defaults for specs that leave these out; the fit check sized the
            # instances for exactly this model/precision/offload.
            "GENERATOR_MODEL": config.model,
            "GENERATOR_PRECISION": config.precision,
            # Offload means streaming the transformer's layers (group offload): the only mode that
            # lowers the peak below the ~30 GiB of resident weights.
            "GENERATOR_OFFLOAD": "group" if config.offload else "none",
            # Regional torch.compile was measured 1.2x faster per video on an H100 with the same
            # output (docs/performance.md); its cache on EFS makes later jobs' first call ~6 s.
            # Streamed (offloaded) weights cannot be compiled.
            "GENERATOR_COMPILE": "none" if config.offload else "regional",
            "GENERATOR_COMPILE_CACHE_DIR": COMPILE_CACHE_DIR,
        }
        container = batch.EcsEc2ContainerDefinition(
            self,
            "JobContainer",
            image=self._job_image(),
            # One GPU per job: the Diffusers pipeline runs on a single device (no tensor
            # parallelism). vCPUs and memory are one GPU's share of the host (minus what ECS keeps
            # back), so a 4- or 8-GPU instance runs 4 or 8 jobs side by side.
            gpu=1,
            cpu=config.job_vcpus,
            memory=Size.mebibytes(config.job_memory_mib),
            privileged=False,
            user=f"{config.container_uid}:{config.container_uid}",
            environment=environment,
            secrets={"HF_TOKEN": batch.Secret.from_secrets_manager(self.hf_token)},
            execution_role=self.execution_role,
            job_role=self.job_role,
            linux_parameters=batch.LinuxParameters(
                self,
                "LinuxParameters",
                shared_memory_size=Size.gibibytes(self.shm_size_gib),
                # tini as PID 1 reaps ffmpeg/dataloader children and forwards SIGTERM on timeout.
                init_process_enabled=True,
            ),
            logging=ecs.LogDriver.aws_logs(stream_prefix="generator", log_group=self.log_group),
            volumes=[
                # The host's weights cache (root EBS volume, created by the launch template's user
                # data and owned by the job's UID): shared by every job on the host, kept across jobs.
                batch.EcsVolume.host(
                    name="weights", host_path=WEIGHTS_HOST_DIR, container_path=WEIGHTS_DIR, readonly=False
                ),
                batch.EcsVolume.efs(
                    name="compile-cache",
                    container_path=CACHE_DIR,
                    file_system=self.model_cache.file_system,
                    access_point_id=self.model_cache.access_point.access_point_id,
                    # TLS in transit and IAM authorisation with the job role (the file system
                    # policy refuses anything else).
                    enable_transit_encryption=True,
                    use_job_role=True,
                ),
            ],
        )
        return batch.EcsJobDefinition(
            self,
            "JobDefinition",
            container=container,
            timeout=Duration.minutes(config.job_timeout_minutes),
            propagate_tags=True,
            retry_attempts=3,
            # Batch evaluates these in order; the first match decides.
            retry_strategies=[
                # The host went away under the job: EC2 maintenance/health, scale-in or a Spot
                # reclaim ("Host EC2 (instance i-...) terminated."). The spec is fine: run it again.
                batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom(on_status_reason="Host EC2*")),
                # The spec can never succeed (validated by the job): retrying only burns GPU hours.
                batch.RetryStrategy.of(
                    batch.Action.EXIT, batch.Reason.custom(on_exit_code=str(BAD_SPEC_EXIT_CODE))
                ),
                # Anything else (a crash, out of memory) fails once, with its log, not three times.
                batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
            ],
        )

    def _acknowledge_role_wildcards(self) -> None:
        """IAM5 findings one by one, each with why the wildcard is needed."""
        bucket_arn = self.resolve(self.job_bucket.bucket.bucket_arn)
        logical = bucket_arn["Fn::GetAtt"][0]
        job_policy = self.job_role.node.find_child("DefaultPolicy")
        for prefix in (INPUT_PREFIX, OUTPUT_PREFIX):
            acknowledge(
                job_policy,
                f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/{prefix}*]",
                f"Job keys are <job id>/<index> names chosen at submit time; access is limited to "
                f"the {prefix} prefix.",
            )
        acknowledge(
            job_policy,
            f"AwsSolutions-IAM5[Resource::<{logical}.Arn>/{WEIGHTS_PREFIX}*]",
            "The weights mirror holds a Hugging Face snapshot whose file names come from the model "
            f"repository; access is limited to the {WEIGHTS_PREFIX} prefix.",
        )
        if not self._image_from_ecr:
            return
        exec_policy = self.execution_role.node.find_child("DefaultPolicy")
        acknowledge(
            exec_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires Resource '*'); "
            "image pulls themselves are scoped to the job image repository.",
        )

    def _outputs(self) -> None:
        example_spec = {
            "prompt": "A robot arm stacks three red cubes on a wooden table, soft daylight",
            "seed": 1,
        }
        overrides = {"environment": [{"name": "JOB_SPEC", "value": json.dumps(example_spec)}]}
        outputs = {
            "BucketName": (
                self.job_bucket.bucket.bucket_name,
                "Bucket for job inputs (inputs/) and results (outputs/)",
            ),
            "JobQueueArn": (self.compute.job_queue.job_queue_arn, "Batch job queue for generation jobs"),
            "JobDefinitionArn": (
                self.job_definition.job_definition_arn,
                "Batch job definition of the generator",
            ),
            "InputPrefix": (INPUT_PREFIX, "Key prefix for uploaded specs, manifests and conditioning media"),
            "OutputPrefix": (OUTPUT_PREFIX, "Key prefix where jobs write <job id>/<index>.mp4 and .json"),
            "LogGroupName": (self.log_group.log_group_name, "CloudWatch Logs group of the generator jobs"),
            # One job per GPU: how many can run at once under generatorMaxVcpus (the client sizes
            # array jobs with it).
            "MaxConcurrentJobs": (
                str(self.config.max_gpus),
                "One-GPU jobs (GPUs) the compute environment runs at once at most (generatorMaxVcpus)",
            ),
            "SubmitJobExample": (
                "aws batch submit-job --job-name cosmos3-example"
                f" --job-queue {self.compute.job_queue.job_queue_arn}"
                f" --job-definition {self.job_definition.job_definition_arn}"
                f" --container-overrides '{json.dumps(overrides)}'",
                "Submit one text-to-video job with an inline spec",
            ),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)
