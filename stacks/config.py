"""Typed, validated settings for both stacks, read from CDK context in one place.

Every setting a user can change is a field below with its default and a one-line description;
`cdk.json` carries the same defaults (a test keeps them equal) and `docs/configuration.md` is
generated from these fields. A bad value raises `ConfigError` with one line saying what to change;
`app.py` prints it and exits without a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Protocol

from stacks import gpu_catalog as catalog


class ConfigError(ValueError):
    """A user setting is wrong; the message says which one and what to change."""


class ContextSource(Protocol):
    def try_get_context(self, key: str) -> Any: ...


def setting(default: Any, doc: str, **kwargs: Any) -> Any:
    """A dataclass field carrying the documentation shown in docs/configuration.md."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc, **kwargs})
    return field(default=default, metadata={"doc": doc, **kwargs})


_ARN_SECRET = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_ARN_ACM = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/:-]*?[a-z0-9])(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?(?:@sha256:[0-9a-f]{64})?$"
)
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# CloudWatch Logs accepts only these retention periods.
_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


# ---------------------------------------------------------------------------- value parsers
# Context arrives typed from cdk.json and as strings from `cdk -c key=value`: accept both.


def _as_int(key: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{key} must be <= {maximum}, got {number}")
    return number


def _as_float(key: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key} must be a number between {low} and {high}, got {value!r}") from None
    if number > high or number < low or (low_open and number == low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ConfigError(f"{key} must be {bound} and <= {high}, got {number}")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def _as_list(key: str, value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"{key} must be a JSON list like '[\"10.0.0.0/8\"]', got {value!r}") from None
        return [str(v).strip() for v in parsed]
    return [v.strip() for v in text.split(",") if v.strip()]


def _as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return text


def _optional(value: Any) -> Any:
    return (
        None if value is None or (isinstance(value, str) and value.strip() in ("", "null", "None")) else value
    )


def _cidr(key: str, value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ConfigError(f"{key}: '{value}' is not a valid CIDR block like 203.0.113.0/24 ({err})") from None
    return str(net)


def _image(key: str, value: Any) -> str:
    text = str(value).strip()
    match = _IMAGE.match(text)
    if not match or ("@sha256:" not in text and not match.group("tag")):
        raise ConfigError(
            f"{key} must be a container image with a pinned tag or digest, e.g. nvcr.io/nim/nvidia/cosmos3:2.1.0, got {value!r}"
        )
    if (match.group("tag") or "").lower() == "latest":
        raise ConfigError(
            f"{key} must pin a version tag, not ':latest' (got {text}): a deploy must be reproducible"
        )
    return text


def _secret_arn(key: str, value: Any) -> str | None:
    value = _optional(value)
    if value is None:
        return None
    if not _ARN_SECRET.match(str(value)):
        raise ConfigError(
            # The value is not echoed: people paste the key itself here, and this line lands in logs.
            f"{key} must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME);"
            " the value given is not one (not shown, in case it is the key itself)"
        )
    return str(value)


# ---------------------------------------------------------------------------- shared settings

# Subnets of a VPC the stacks create (stacks/constructs/network.py): a /24 public and a /20 private
# subnet (room for an ENI per awsvpc task) in each of two AZs. CDK aligns each subnet to its own
# size (x.x.0/24, x.x.1/24, x.x.16/20, x.x.32/20), so they need a /18; a smaller VPC would fail
# inside CDK with a traceback instead of this one-line message.
PUBLIC_SUBNET_MASK = 24
PRIVATE_SUBNET_MASK = 20
LARGEST_VPC_PREFIX = 18


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Where a stack's resources live."""

    vpc_id: str | None = setting(
        None,
        "Reuse this existing VPC (needs private subnets with egress) instead of creating one.",
        key="vpcId",
    )
    vpc_cidr: str = setting(
        "10.40.0.0/16",
        "CIDR (/16 to /18) of the VPC the stack creates when vpcId is not set.",
        key="vpcCidr",
    )
    nat_gateways: int = setting(
        1, "NAT gateways for a created VPC (1 is cheapest; 2 survives an AZ outage).", key="natGateways"
    )
    log_retention_days: int = setting(
        30, "CloudWatch Logs retention for container and job logs, in days.", key="logRetentionDays"
    )

    @classmethod
    def read(cls, ctx: ContextSource) -> NetworkConfig:
        raw = _Reader(cls, ctx)
        vpc_id = _optional(raw("vpcId"))
        if vpc_id is not None and not _VPC_ID.match(str(vpc_id)):
            raise ConfigError(f"vpcId must look like vpc-0123456789abcdef0, got {vpc_id!r}")
        cidr = _cidr("vpcCidr", str(raw("vpcCidr")))
        prefix = ipaddress.ip_network(cidr).prefixlen
        if not 16 <= prefix <= LARGEST_VPC_PREFIX:
            raise ConfigError(
                f"vpcCidr must be between /16 and /{LARGEST_VPC_PREFIX} to hold two /{PUBLIC_SUBNET_MASK} public "
                f"and two /{PRIVATE_SUBNET_MASK} private subnets, got {cidr}"
            )
        retention = _as_int("logRetentionDays", raw("logRetentionDays"), 1)
        if retention not in _RETENTION_DAYS:
            raise ConfigError(
                f"logRetentionDays must be one CloudWatch accepts ({', '.join(map(str, _RETENTION_DAYS))}), got {retention}"
            )
        return cls(
            vpc_id=vpc_id,
            vpc_cidr=cidr,
            nat_gateways=_as_int("natGateways", raw("natGateways"), 1, 2),
            log_retention_days=retention,
        )


class _Reader:
    """Reads context keys, falling back to the dataclass defaults (which equal cdk.json's)."""

    def __init__(self, cls: type, ctx: ContextSource) -> None:
        self._defaults = {f.metadata["key"]: _default_of(f) for f in fields(cls) if "key" in f.metadata}
        self._ctx = ctx

    def __call__(self, key: str) -> Any:
        value = self._ctx.try_get_context(key)
        return self._defaults[key] if value is None else value


def _default_of(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise AssertionError(f"setting {f.name} has no default")


# ---------------------------------------------------------------------------- ReasonerStack


@dataclass(frozen=True, kw_only=True)
class ReasonerConfig:
    """Settings of ReasonerStack."""

    network: NetworkConfig
    image: str = setting(
        "nvcr.io/nim/nvidia/cosmos3:2.1.0",
        "Reasoner NIM image with a pinned tag: the unified cosmos3 image or nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0.",
        key="reasonerImage",
    )
    variant: str = setting(
        "nano", "Reasoner model: edge (unified image only), nano or super.", key="reasonerVariant"
    )
    precision: str = setting(
        "auto",
        "NIM_PRECISION: auto (BF16 on cc 8.0-8.8, FP8 on 8.9-9.x, NVFP4 on >= 10.0), bf16, fp8 or nvfp4.",
        key="reasonerPrecision",
    )
    model_profile: str | None = setting(
        None,
        "NIM_MODEL_PROFILE: pin a NIM profile id (see `list-model-profiles`); empty = NIM chooses.",
        key="nimModelProfile",
    )
    instance_type: str = setting(
        "g6e.xlarge",
        "EC2 GPU instance for the NIM (g5, g6e or p5 sizes); synth checks the model fits.",
        key="instanceType",
    )
    max_model_len: int | None = setting(
        None, "NIM_MAX_MODEL_LEN: context length; empty = the model's default.", key="maxModelLen"
    )
    max_num_seqs: int | None = setting(
        None, "NIM_MAX_NUM_SEQS: concurrent sequences per replica; empty = NIM default.", key="maxNumSeqs"
    )
    gpu_memory_utilization: float | None = setting(
        None, "NIM_GPU_MEMORY_UTILIZATION (0-1]; empty = NIM default.", key="gpuMemoryUtilization"
    )
    max_images_per_prompt: int = setting(4, "NIM_MAX_IMAGES_PER_PROMPT.", key="maxImagesPerPrompt")
    max_videos_per_prompt: int = setting(1, "NIM_MAX_VIDEOS_PER_PROMPT.", key="maxVideosPerPrompt")
    video_pruning_rate: float | None = setting(
        None, "NIM_VIDEO_PRUNING_RATE (EVS) in [0, 1); empty = off.", key="videoPruningRate"
    )
    log_level: str = setting("INFO", "NIM_LOG_LEVEL.", key="nimLogLevel")
    min_tasks: int = setting(
        1, "Fewest NIM tasks (and GPU instances) kept running; 0 stops the GPU bill.", key="minTasks"
    )
    max_tasks: int = setting(2, "Most NIM tasks the service scales out to.", key="maxTasks")
    requests_per_target: int = setting(
        20, "Target tracking: ALB requests per minute per task before scaling out.", key="requestsPerTarget"
    )
    allowed_cidrs: list[str] = setting(
        [],
        "CIDRs allowed to reach the load balancer. Empty = closed to everyone (set your IP/32 or VPN range to open it).",
        key="allowedCidrs",
    )
    internet_facing: bool = setting(
        True, "false gives an internal load balancer reachable only inside the VPC.", key="internetFacing"
    )
    certificate_arn: str | None = setting(
        None, "ACM certificate ARN: serve HTTPS on 443 and redirect HTTP 80 to it.", key="certificateArn"
    )
    ngc_secret_arn: str | None = setting(
        None,
        'Complete ARN (ending in -XXXXXX, as the console shows it) of an existing secret {"username": "$oauthtoken", "password": <NGC key>}; else pass --parameters NgcApiKey=...',
        key="ngcSecretArn",
    )
    health_check_grace_minutes: int = setting(
        45,
        "ECS health-check grace period: first start downloads and compiles tens of GB.",
        key="healthCheckGraceMinutes",
    )
    idle_timeout_seconds: int = setting(
        900,
        "ALB idle timeout; long video prompts and streams need more than the 60 s default.",
        key="idleTimeoutSeconds",
    )
    deregistration_delay_seconds: int = setting(
        900,
        "Seconds the ALB lets a stopping task finish its requests (deploy, key change, scale-in); below idleTimeoutSeconds, longer requests are cut. A task with none in flight stops at once.",
        key="deregistrationDelaySeconds",
    )
    root_volume_gib: int = setting(
        200, "Encrypted gp3 root volume per GPU instance (the NIM image is tens of GB).", key="rootVolumeGiB"
    )
    container_uid: int = setting(
        1000, "UID/GID the NIM runs as; the EFS access point is owned by it.", key="containerUid"
    )
    shm_size_gib: int | None = setting(
        None,
        "/dev/shm size in GiB (vLLM crashes at Docker's 64 MB default); empty = 16, or half the host RAM if smaller.",
        key="shmSizeGiB",
    )
    alarm_email: str | None = setting(
        None,
        "Email subscribed to the stack's alarms (SNS); empty = alarms without a subscriber.",
        key="alarmEmail",
    )

    UNIFIED_REPO: ClassVar[str] = "nvcr.io/nim/nvidia/cosmos3"

    @property
    def unified_image(self) -> bool:
        return self.image.split("@")[0].rsplit(":", 1)[0] == self.UNIFIED_REPO

    @property
    def instance(self) -> catalog.GpuInstance:
        return catalog.INSTANCES[self.instance_type]

    @property
    def fit(self) -> catalog.Fit:
        return catalog.reasoner_fit(self.instance_type, self.variant, self.precision, self.unified_image)

    @property
    def model_id(self) -> str:
        return catalog.REASONER_MODEL_IDS[self.variant]

    @classmethod
    def read(cls, ctx: ContextSource) -> ReasonerConfig:
        raw = _Reader(cls, ctx)
        image = _image("reasonerImage", raw("reasonerImage"))
        variant = _as_choice("reasonerVariant", raw("reasonerVariant"), ("edge", "nano", "super"))
        precision = _as_choice(
            "reasonerPrecision", raw("reasonerPrecision"), ("auto", "bf16", "fp8", "nvfp4")
        )
        instance_type = str(raw("instanceType")).strip()
        try:
            catalog.get_instance(instance_type)
        except catalog.UnknownInstanceError as err:
            raise ConfigError(f"instanceType: {err}") from None
        cidrs = [_cidr("allowedCidrs", c) for c in _as_list("allowedCidrs", raw("allowedCidrs"))]
        min_tasks = _as_int("minTasks", raw("minTasks"), 0, 20)
        max_tasks = _as_int("maxTasks", raw("maxTasks"), 1, 20)
        if max_tasks < min_tasks:
            raise ConfigError(f"maxTasks ({max_tasks}) must be >= minTasks ({min_tasks})")
        cert = _optional(raw("certificateArn"))
        if cert is not None and not _ARN_ACM.match(str(cert)):
            raise ConfigError(
                f"certificateArn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID), got {cert!r}"
            )
        email = _optional(raw("alarmEmail"))
        if email is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", str(email)):
            raise ConfigError(f"alarmEmail must be an email address, got {email!r}")
        profile = _optional(raw("nimModelProfile"))
        if profile is not None and not re.match(r"^[A-Za-z0-9._:-]{1,128}$", str(profile)):
            raise ConfigError(
                f"nimModelProfile must be a NIM profile id (letters, digits, . _ : -), got {profile!r}"
            )
        max_model_len = _optional(raw("maxModelLen"))
        max_num_seqs = _optional(raw("maxNumSeqs"))
        gpu_util = _optional(raw("gpuMemoryUtilization"))
        pruning = _optional(raw("videoPruningRate"))
        cfg = cls(
            network=NetworkConfig.read(ctx),
            image=image,
            variant=variant,
            precision=precision,
            model_profile=profile,
            instance_type=instance_type,
            max_model_len=None
            if max_model_len is None
            else _as_int("maxModelLen", max_model_len, 512, 1_048_576),
            max_num_seqs=None if max_num_seqs is None else _as_int("maxNumSeqs", max_num_seqs, 1, 1024),
            gpu_memory_utilization=None
            if gpu_util is None
            else _as_float("gpuMemoryUtilization", gpu_util, 0.0, 1.0, low_open=True),
            max_images_per_prompt=_as_int("maxImagesPerPrompt", raw("maxImagesPerPrompt"), 0, 64),
            max_videos_per_prompt=_as_int("maxVideosPerPrompt", raw("maxVideosPerPrompt"), 0, 16),
            video_pruning_rate=None if pruning is None else _as_float("videoPruningRate", pruning, 0.0, 0.99),
            log_level=_as_choice(
                "nimLogLevel", raw("nimLogLevel"), tuple(s.lower() for s in _LOG_LEVELS)
            ).upper(),
            min_tasks=min_tasks,
            max_tasks=max_tasks,
            requests_per_target=_as_int("requestsPerTarget", raw("requestsPerTarget"), 1, 100_000),
            allowed_cidrs=cidrs,
            internet_facing=_as_bool("internetFacing", raw("internetFacing")),
            certificate_arn=cert,
            ngc_secret_arn=_secret_arn("ngcSecretArn", raw("ngcSecretArn")),
            health_check_grace_minutes=_as_int(
                "healthCheckGraceMinutes", raw("healthCheckGraceMinutes"), 5, 120
            ),
            idle_timeout_seconds=_as_int("idleTimeoutSeconds", raw("idleTimeoutSeconds"), 60, 4000),
            deregistration_delay_seconds=_as_int(
                "deregistrationDelaySeconds", raw("deregistrationDelaySeconds"), 0, 3600
            ),
            root_volume_gib=_as_int("rootVolumeGiB", raw("rootVolumeGiB"), 100, 16_384),
            container_uid=_as_int("containerUid", raw("containerUid"), 1, 2_147_483_647),
            shm_size_gib=None
            if _optional(raw("shmSizeGiB")) is None
            else _as_int("shmSizeGiB", raw("shmSizeGiB"), 1, 512),
            alarm_email=email,
        )
        if variant == "edge" and not cfg.unified_image:
            raise ConfigError(
                f"reasonerVariant=edge needs the unified image {cls.UNIFIED_REPO}:<tag> (2.1.0+), not {image}"
            )
        fit = cfg.fit
        if not fit.ok:
            hint = (
                f"; smallest that fits: {', '.join(fit.alternatives)}"
                if fit.alternatives
                else "; no g5, g6e or p5 instance runs this combination"
            )
            extra = ""
            if fit.instance.family == "g5" and variant != "edge":
                extra = " (g5 runs reasonerVariant=edge)"
            raise ConfigError(
                f"instanceType={instance_type} cannot run the {variant} reasoner ({precision}): {fit.reason}{hint}{extra}"
            )
        if cfg.shm_size_gib is not None and cfg.shm_size_gib > fit.instance.memory_gib // 2:
            raise ConfigError(
                f"shmSizeGiB={cfg.shm_size_gib} is more than half of {instance_type}'s {fit.instance.memory_gib} GiB RAM; "
                f"use <= {fit.instance.memory_gib // 2}"
            )
        return cfg

    @property
    def shm_size_mib(self) -> int:
        """NVIDIA runs the NIM with 16 GiB of /dev/shm; small hosts get half their RAM."""
        gib = self.shm_size_gib if self.shm_size_gib is not None else min(16, self.instance.memory_gib // 2)
        return gib * 1024


# ---------------------------------------------------------------------------- GeneratorBatchStack


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    """Settings of GeneratorBatchStack."""

    network: NetworkConfig
    instance_types: list[str] = setting(
        ["g6e.2xlarge"],
        "GPU instance types Batch may launch (one GPU per job); each must fit the model.",
        key="generatorInstanceTypes",
    )
    model: str = setting(
        "nano", "Generator model: nano (nvidia/Cosmos3-Nano) or super.", key="generatorModel"
    )
    precision: str = setting(
        "bf16",
        "Default generator precision: bf16 or fp8 (fp8 needs compute capability >= 8.9).",
        key="generatorPrecision",
    )
    offload: bool = setting(
        False, "CPU-offload model layers by default (fits smaller GPUs, slower).", key="generatorOffload"
    )
    max_vcpus: int = setting(
        32,
        "Cap on vCPUs the compute environment runs at once: the ceiling of the GPU bill.",
        key="generatorMaxVcpus",
    )
    spot: bool = setting(
        False,
        "Use Spot capacity (interrupted jobs retry; SPOT_PRICE_CAPACITY_OPTIMIZED).",
        key="generatorSpot",
    )
    image: str | None = setting(
        None,
        "Prebuilt job image URI (with tag); empty = build container/generator at deploy (needs Docker).",
        key="generatorImage",
    )
    hf_token_secret_arn: str | None = setting(
        None,
        "Complete ARN (ending in -XXXXXX) of an existing secret holding the Hugging Face token; else pass --parameters HfToken=...",
        key="hfTokenSecretArn",
    )
    model_revision: str = setting(
        "main",
        "Hugging Face revision (branch, tag or commit) of the model weights.",
        key="generatorModelRevision",
    )
    job_timeout_minutes: int = setting(
        120, "Batch job timeout per attempt, in minutes.", key="generatorJobTimeoutMinutes"
    )
    root_volume_gib: int = setting(
        200,
        "Encrypted gp3 root volume per Batch instance (the job image is ~20 GB).",
        key="generatorRootVolumeGiB",
    )
    input_retention_days: int = setting(
        30, "Days before uploaded inputs (inputs/) expire.", key="inputRetentionDays"
    )
    output_retention_days: int | None = setting(
        None, "Days before outputs (outputs/) expire; empty = keep.", key="outputRetentionDays"
    )
    container_uid: int = setting(
        1000, "UID/GID the job runs as; owns the EFS Hugging Face cache.", key="generatorContainerUid"
    )

    @property
    def profile(self) -> catalog.GeneratorProfile:
        profile = catalog.generator_profile(self.model, self.precision, self.offload)
        assert profile is not None  # checked in read()
        return profile

    @property
    def instances(self) -> list[catalog.GpuInstance]:
        return [catalog.INSTANCES[t] for t in self.instance_types]

    @property
    def job_memory_mib(self) -> int:
        """Memory per job: what the smallest allowed instance can give a task."""
        return min(i.ecs_memory_mib for i in self.instances)

    @property
    def job_vcpus(self) -> int:
        return min(i.vcpus for i in self.instances)

    @classmethod
    def read(cls, ctx: ContextSource) -> GeneratorConfig:
        raw = _Reader(cls, ctx)
        types = _as_list("generatorInstanceTypes", raw("generatorInstanceTypes"))
        if not types:
            raise ConfigError(
                'generatorInstanceTypes must name at least one instance type, e.g. ["g6e.2xlarge"]'
            )
        for t in types:
            try:
                catalog.get_instance(t)
            except catalog.UnknownInstanceError as err:
                raise ConfigError(f"generatorInstanceTypes: {err}") from None
        model = _as_choice("generatorModel", raw("generatorModel"), ("nano", "super"))
        precision = _as_choice("generatorPrecision", raw("generatorPrecision"), ("bf16", "fp8"))
        offload = _as_bool("generatorOffload", raw("generatorOffload"))
        if catalog.generator_profile(model, precision, offload) is None:
            options = ", ".join(
                f"{p.precision}{'+offload' if p.offload else ''}"
                for p in catalog.GENERATOR_PROFILES
                if p.model == model
            )
            raise ConfigError(
                f"generator {model} has no {precision}{' offload' if offload else ''} profile; use one of: {options}"
            )
        for t in types:
            fit = catalog.generator_fit(t, model, precision, offload)
            if not fit.ok:
                hint = (
                    f"; smallest that fits: {', '.join(fit.alternatives)}"
                    if fit.alternatives
                    else "; no g5, g6e or p5 GPU holds it: set generatorOffload=true or a smaller precision"
                )
                raise ConfigError(
                    f"generatorInstanceTypes: {t} cannot render {model} {precision}: {fit.reason}{hint}"
                )
        image = _optional(raw("generatorImage"))
        revision = str(raw("generatorModelRevision")).strip()
        if not re.match(r"^[A-Za-z0-9._/-]{1,128}$", revision):
            raise ConfigError(f"generatorModelRevision must be a branch, tag or commit, got {revision!r}")
        max_vcpus = _as_int("generatorMaxVcpus", raw("generatorMaxVcpus"), 1, 10_000)
        smallest = min(catalog.INSTANCES[t].vcpus for t in types)
        if max_vcpus < smallest:
            raise ConfigError(
                f"generatorMaxVcpus={max_vcpus} is below the {smallest} vCPUs of one {types[0]}: Batch could never start a job"
            )
        out_days = _optional(raw("outputRetentionDays"))
        return cls(
            network=NetworkConfig.read(ctx),
            instance_types=types,
            model=model,
            precision=precision,
            offload=offload,
            max_vcpus=max_vcpus,
            spot=_as_bool("generatorSpot", raw("generatorSpot")),
            image=None if image is None else _image("generatorImage", image),
            hf_token_secret_arn=_secret_arn("hfTokenSecretArn", raw("hfTokenSecretArn")),
            model_revision=revision,
            job_timeout_minutes=_as_int(
                "generatorJobTimeoutMinutes", raw("generatorJobTimeoutMinutes"), 5, 14 * 24 * 60
            ),
            root_volume_gib=_as_int("generatorRootVolumeGiB", raw("generatorRootVolumeGiB"), 100, 16_384),
            input_retention_days=_as_int("inputRetentionDays", raw("inputRetentionDays"), 1, 3650),
            output_retention_days=None
            if out_days is None
            else _as_int("outputRetentionDays", out_days, 1, 36500),
            container_uid=_as_int("generatorContainerUid", raw("generatorContainerUid"), 1, 2_147_483_647),
        )


def all_settings() -> list[tuple[str, str, Any, str]]:
    """(stack, context key, default, description) for every setting, in declaration order."""
    rows = []
    for stack, cls in (
        ("both", NetworkConfig),
        ("ReasonerStack", ReasonerConfig),
        ("GeneratorBatchStack", GeneratorConfig),
    ):
        for f in fields(cls):
            if "key" in f.metadata:
                rows.append((stack, f.metadata["key"], _default_of(f), f.metadata["doc"]))
    return rows


def context_defaults() -> dict[str, Any]:
    """The defaults cdk.json must carry."""
    return {key: default for _, key, default, _ in all_settings()}
