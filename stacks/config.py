"""Typed, validated settings for both stacks, read from CDK context in one place.

Every setting a user can change is a field below with its default and a one-line description;
`cdk.json` carries the same defaults (a test keeps them equal) and `docs/configuration.md` is
generated from these fields. A bad value raises `ConfigError` with one line saying what to change;
`app.py` prints it and exits without a traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable
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


def _ipv4_cidr(key: str, value: str) -> str:
    cidr = _cidr(key, value)
    if ipaddress.ip_network(cidr).version != 4:
        raise ConfigError(
            f"{key}: '{cidr}' is an IPv6 range, but the load balancer is IPv4-only; list the IPv4 "
            "addresses (or VPN/NAT range) your clients come from"
        )
    return cidr


def image_registry(image: str) -> str:
    """The registry host of an image reference ("docker.io" when the name has none)."""
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"


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
    image_mirror: bool = setting(
        False,
        "true: reasonerImage is your copy of NVIDIA's image outside nvcr.io (e.g. ECR), pulled without the NGC key.",
        key="reasonerImageMirror",
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
    idle_minutes: int | None = setting(
        None,
        "Scale to zero after this many minutes without requests; the next request wakes it (docs/deploy-reasoner.md). Empty = always one warm task.",
        key="idleMinutes",
    )
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
    NGC_REGISTRY: ClassVar[str] = "nvcr.io"

    @property
    def unified_image(self) -> bool:
        """The unified cosmos3 image (also as a mirror named .../cosmos3), else the reasoner-only VLM NIM."""
        repo = self.image.split("@")[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        return repo.rsplit("/", 1)[-1] == self.UNIFIED_REPO.rsplit("/", 1)[-1]

    @property
    def tasks_per_instance(self) -> int:
        """NIM tasks one GPU host runs (GPUs, awsvpc ENIs and maxTasks bound it)."""
        return catalog.reasoner_tasks_per_instance(
            self.instance_type, self.fit.tensor_parallel, self.max_tasks
        )

    @property
    def task_memory_mib(self) -> int:
        """What each task reserves: NVIDIA's host-memory floor for the chosen profile."""
        fit = self.fit
        profile = catalog.reasoner_profile(self.variant, fit.precision, fit.tensor_parallel)
        return profile.min_host_ram_gib * 1024

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
        mirror = _as_bool("reasonerImageMirror", raw("reasonerImageMirror"))
        registry = image_registry(image)
        if registry != cls.NGC_REGISTRY and not mirror:
            # The stack hands the NGC key to the image's registry as its pull credential.
            raise ConfigError(
                f"reasonerImage {image} is not on nvcr.io, and the NGC key is only ever sent to nvcr.io; "
                "use an nvcr.io/nim/nvidia image, or set reasonerImageMirror=true to pull your copy without it"
            )
        if registry == cls.NGC_REGISTRY and mirror:
            raise ConfigError(
                "reasonerImageMirror=true is for a copy outside nvcr.io; nvcr.io images need the NGC key: "
                "set reasonerImageMirror=false"
            )
        variant = _as_choice("reasonerVariant", raw("reasonerVariant"), ("edge", "nano", "super"))
        precision = _as_choice(
            "reasonerPrecision", raw("reasonerPrecision"), ("auto", "bf16", "fp8", "nvfp4")
        )
        instance_type = str(raw("instanceType")).strip()
        try:
            catalog.get_instance(instance_type)
        except catalog.UnknownInstanceError as err:
            raise ConfigError(f"instanceType: {err}") from None
        cidrs = [_ipv4_cidr("allowedCidrs", c) for c in _as_list("allowedCidrs", raw("allowedCidrs"))]
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
        idle_timeout = _as_int("idleTimeoutSeconds", raw("idleTimeoutSeconds"), 60, 4000)
        idle_minutes = _idle_minutes(raw, min_tasks, idle_timeout)
        cfg = cls(
            network=NetworkConfig.read(ctx),
            image=image,
            image_mirror=mirror,
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
            idle_minutes=idle_minutes,
            requests_per_target=_as_int("requestsPerTarget", raw("requestsPerTarget"), 1, 100_000),
            allowed_cidrs=cidrs,
            internet_facing=_as_bool("internetFacing", raw("internetFacing")),
            certificate_arn=cert,
            ngc_secret_arn=_secret_arn("ngcSecretArn", raw("ngcSecretArn")),
            health_check_grace_minutes=_as_int(
                "healthCheckGraceMinutes", raw("healthCheckGraceMinutes"), 5, 120
            ),
            idle_timeout_seconds=idle_timeout,
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
                extra = " (g5.2xlarge and larger run reasonerVariant=edge)"
            raise ConfigError(
                f"instanceType={instance_type} cannot run the {variant} reasoner ({precision}): {fit.reason}{hint}{extra}"
            )
        idle = catalog.reasoner_idle_gpus(instance_type, fit.tensor_parallel, max_tasks)
        if idle:
            raise ConfigError(_idle_gpu_message(cfg, idle))
        if cfg.shm_size_gib is not None and cfg.shm_size_gib > fit.instance.memory_gib // 2:
            raise ConfigError(
                f"shmSizeGiB={cfg.shm_size_gib} is more than half of {instance_type}'s {fit.instance.memory_gib} GiB RAM; "
                f"use <= {fit.instance.memory_gib // 2}"
            )
        return cfg

    @property
    def min_capacity(self) -> int:
        """The service's autoscaling floor: 0 when it sleeps while idle, else minTasks."""
        return 0 if self.idle_minutes is not None else self.min_tasks

    @property
    def shm_size_mib(self) -> int:
        """NVIDIA runs the NIM with 16 GiB of /dev/shm; small hosts get half their RAM."""
        gib = self.shm_size_gib if self.shm_size_gib is not None else min(16, self.instance.memory_gib // 2)
        return gib * 1024


def _idle_gpu_message(cfg: ReasonerConfig, idle: int) -> str:
    """Why some GPUs of the chosen host can never serve, and what to choose instead."""
    fit, inst = cfg.fit, cfg.instance
    per_task = f"each {cfg.variant} {fit.precision} task uses {fit.tensor_parallel} GPU" + (
        "s" if fit.tensor_parallel > 1 else ""
    )
    by_gpus = inst.gpus // fit.tensor_parallel
    if inst.awsvpc_task_slots < by_gpus and inst.awsvpc_task_slots <= cfg.max_tasks:
        bound = f"its {inst.max_network_interfaces} network interfaces leave room for {inst.awsvpc_task_slots} awsvpc tasks"
        raise_max = ""
    else:
        bound = f"maxTasks={cfg.max_tasks} allows {cfg.max_tasks} task{'s' if cfg.max_tasks > 1 else ''}"
        slots = min(by_gpus, inst.awsvpc_task_slots)
        raise_max = (
            f"set maxTasks >= {slots} to fill one host" if slots * fit.tensor_parallel == inst.gpus else ""
        )
    better = [
        name
        for name in sorted(catalog.INSTANCES, key=lambda n: (catalog.INSTANCES[n].price_per_hour_usd, n))
        if catalog.reasoner_fit_ok(name, cfg.variant, cfg.precision, cfg.unified_image)
        and catalog.reasoner_fit(name, cfg.variant, cfg.precision, cfg.unified_image).tensor_parallel
        == catalog.INSTANCES[name].gpus
    ][:1]
    choices = [f"use {better[0]} ({catalog.INSTANCES[better[0]].gpus} GPU per host)"] if better else []
    choices += [raise_max] if raise_max else []
    choice = ", or ".join(choices) or "choose an instance with fewer GPUs (see docs/sizing.md)"
    return (
        f"instanceType={inst.name} would leave {idle} of its {inst.gpus} GPUs idle: {per_task} and {bound}; "
        f"{choice}"
    )


def check_context_keys(keys: Iterable[str]) -> None:
    """Refuse a context key that is not ours but looks like one of ours (a typo would be ignored)."""
    ours = {k.lower(): k for k in context_defaults()}
    for key in sorted(keys):
        # CDK's own keys: feature flags (@aws-cdk/...), aws:cdk:*, lookups (name:account=...:region=...).
        if key in context_defaults() or key.startswith("@") or ":" in key or "/" in key:
            continue
        close = ours.get(key.lower()) or next(
            iter(difflib.get_close_matches(key.lower(), list(ours), n=1, cutoff=0.8)), None
        )
        if close:
            match = ours.get(close, close)
            raise ConfigError(
                f"unknown setting '{key}': did you mean '{match}'? (context keys are case-sensitive; "
                f"use -c {match}=... or fix the name in cdk.json)"
            )


# Scale-to-zero (idleMinutes). A wake from the warm pool takes ~8 minutes (6-14, phases in
# docs/deploy-reasoner.md): below 10 idle minutes the request that woke the endpoint would see it
# fall asleep again before it could answer a retry. 1440 is CloudWatch's limit: an alarm's
# evaluation periods times its period may span at most one day.
IDLE_MINUTES_RANGE = (10, 1440)


def _idle_minutes(raw: Any, min_tasks: int, idle_timeout: int) -> int | None:
    value = _optional(raw("idleMinutes"))
    if value is None:
        return None
    minutes = _as_int("idleMinutes", value, *IDLE_MINUTES_RANGE)
    if min_tasks > 1:
        raise ConfigError(
            f"idleMinutes wakes the endpoint with one task (it scales out to maxTasks under load), "
            f"so minTasks={min_tasks} cannot apply: set minTasks to 0 or 1, or leave idleMinutes empty"
        )
    if minutes * 60 < idle_timeout:
        raise ConfigError(
            f"idleMinutes={minutes} is shorter than idleTimeoutSeconds={idle_timeout}: a long answer still "
            f"being generated would be cut when the endpoint falls asleep; use idleMinutes >= "
            f"{-(-idle_timeout // 60)} or lower idleTimeoutSeconds"
        )
    return minutes


# ---------------------------------------------------------------------------- GeneratorBatchStack


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    """Settings of GeneratorBatchStack."""

    network: NetworkConfig
    instance_types: list[str] = setting(
        ["g6e.2xlarge"],
        "GPU instance types Batch may launch; each must fit the model per GPU. Jobs take one GPU and "
        "that GPU's share of vCPUs and memory, so a 4- or 8-GPU host runs 4 or 8 jobs at once.",
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
        "Use Spot capacity (interrupted jobs retry; SPOT_PRICE_CAPACITY_OPTIMIZED). Batch may then also "
        "launch the other sizes of the chosen families that fit (more Spot pools).",
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
        None,
        "Hugging Face revision (branch, tag or commit) of the model weights; empty = a pinned commit for "
        "nano, main for super (stacks/gpu_catalog.py GENERATOR_MODEL_REVISIONS).",
        key="generatorModelRevision",
    )
    job_timeout_minutes: int = setting(
        180,
        "Batch job timeout per attempt, in minutes; must cover one 720p video with offload on the "
        "slowest allowed GPU plus a cold start (synth checks it).",
        key="generatorJobTimeoutMinutes",
    )
    root_volume_gib: int = setting(
        250,
        "Encrypted gp3 root volume per Batch instance: the job image, the host's weights cache and the "
        "guardrail (synth checks the model fits).",
        key="generatorRootVolumeGiB",
    )
    root_volume_throughput: int = setting(
        1000,
        "gp3 throughput of that root volume in MiB/s (125-1000): loads the host's cached weights fast.",
        key="generatorRootVolumeThroughput",
    )
    root_volume_iops: int = setting(
        4000,
        "gp3 IOPS of that root volume (3000-16000; at least throughput / 0.25).",
        key="generatorRootVolumeIops",
    )
    input_retention_days: int = setting(
        30, "Days before uploaded inputs (inputs/) expire.", key="inputRetentionDays"
    )
    output_retention_days: int | None = setting(
        None, "Days before outputs (outputs/) expire; empty = keep.", key="outputRetentionDays"
    )
    container_uid: int = setting(
        1000,
        "UID/GID the job runs as; owns the host weights cache and the EFS compile cache.",
        key="generatorContainerUid",
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
    def compute_instance_types(self) -> list[str]:
        """What the compute environment may launch: the chosen types, plus (Spot) their families'
        other sizes that fit, so Spot has several capacity pools to choose from."""
        if not self.spot:
            return list(self.instance_types)
        return catalog.generator_family_sizes_that_fit(
            self.instance_types,
            self.model,
            self.precision,
            self.offload,
            catalog.generator_job_size(self.instance_types),
            self.max_vcpus,
        )

    @property
    def job_size(self) -> catalog.JobSize:
        """One GPU's share of the smallest per-GPU slice of every type the environment may launch."""
        return catalog.generator_job_size(self.compute_instance_types)

    @property
    def job_memory_mib(self) -> int:
        return self.job_size.memory_mib

    @property
    def job_vcpus(self) -> int:
        return self.job_size.vcpus

    @property
    def max_gpus(self) -> int:
        """GPUs (= jobs) running at once at most under generatorMaxVcpus."""
        return catalog.max_generator_gpus(self.compute_instance_types, self.max_vcpus)

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
        given = _optional(raw("generatorModelRevision"))
        revision = catalog.GENERATOR_MODEL_REVISIONS[model] if given is None else str(given).strip()
        if not re.match(r"^[A-Za-z0-9._/-]{1,128}$", revision):
            raise ConfigError(f"generatorModelRevision must be a branch, tag or commit, got {revision!r}")
        max_vcpus = _as_int("generatorMaxVcpus", raw("generatorMaxVcpus"), 1, 10_000)
        # Batch's maxvCpus caps the vCPUs of the instances it runs, not of the jobs: the smallest
        # allowed instance must fit under it, and then runs one job on each of its GPUs.
        smallest = min(types, key=lambda t: catalog.INSTANCES[t].vcpus)
        small = catalog.INSTANCES[smallest]
        if max_vcpus < small.vcpus:
            raise ConfigError(
                f"generatorMaxVcpus={max_vcpus} is below the {small.vcpus} vCPUs of one {smallest} "
                f"({small.gpus} GPU{'s' if small.gpus > 1 else ''}, one job per GPU): Batch could never "
                f"start a job; set it to >= {small.vcpus}"
            )
        timeout = _as_int("generatorJobTimeoutMinutes", raw("generatorJobTimeoutMinutes"), 5, 14 * 24 * 60)
        root_gib = _as_int("generatorRootVolumeGiB", raw("generatorRootVolumeGiB"), 100, 16_384)
        need_gib = catalog.generator_root_volume_min_gib(model)
        if root_gib < need_gib:
            raise ConfigError(
                f"generatorRootVolumeGiB={root_gib} cannot hold the job image, the {model} weights and the "
                f"guardrail on each host; set it to >= {need_gib}"
            )
        throughput = _as_int("generatorRootVolumeThroughput", raw("generatorRootVolumeThroughput"), 125, 1000)
        iops = _as_int("generatorRootVolumeIops", raw("generatorRootVolumeIops"), 3000, 16_000)
        # gp3 limits (EBS User Guide, "General Purpose SSD volumes"): at most 0.25 MiB/s per IOPS
        # and 500 IOPS per GiB.
        if throughput > iops // 4:
            raise ConfigError(
                f"generatorRootVolumeThroughput={throughput} MiB/s needs generatorRootVolumeIops >= "
                f"{throughput * 4} (gp3 allows 0.25 MiB/s per IOPS), got {iops}"
            )
        if iops > 500 * root_gib:
            raise ConfigError(
                f"generatorRootVolumeIops={iops} exceeds gp3's 500 IOPS per GiB of {root_gib} GiB"
            )
        out_days = _optional(raw("outputRetentionDays"))
        config = cls(
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
            job_timeout_minutes=timeout,
            root_volume_gib=root_gib,
            root_volume_throughput=throughput,
            root_volume_iops=iops,
            input_retention_days=_as_int("inputRetentionDays", raw("inputRetentionDays"), 1, 3650),
            output_retention_days=None
            if out_days is None
            else _as_int("outputRetentionDays", out_days, 1, 36500),
            container_uid=_as_int("generatorContainerUid", raw("generatorContainerUid"), 1, 2_147_483_647),
        )
        # One attempt must cover the slowest single video a spec may ask for: 720p with layer
        # offload on the slowest GPU the environment may launch (the catalog's per-video seconds).
        slowest_s, slowest_type = catalog.slowest_generator_video_seconds(config.compute_instance_types)
        need_minutes = -(-(slowest_s + catalog.JOB_SETUP_ALLOWANCE_S) // 60)
        if timeout < need_minutes:
            raise ConfigError(
                f"generatorJobTimeoutMinutes={timeout} is below the ~{need_minutes:.0f} minutes one 720p video "
                f"with offload can take on {slowest_type} ({slowest_s / 60:.0f} min estimated + "
                f"{catalog.JOB_SETUP_ALLOWANCE_S // 60} min cold start); set it to >= {need_minutes:.0f}"
            )
        return config


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
