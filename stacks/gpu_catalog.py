"""GPU instance facts and Cosmos 3 model footprints: the one source of truth for the fit check.

Plain data and pure functions only (no aws_cdk import), so `cosmosctl` can read prices and
footprints from it and `docs/sizing.md` is generated from it (`python -m stacks.sizing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["bf16", "fp8", "nvfp4"]
ReasonerVariant = Literal["edge", "nano", "super"]
GeneratorModel = Literal["nano", "super"]
GeneratorPrecision = Literal["bf16", "fp8"]

# Every NIM / framework profile keeps this much GPU memory free for the CUDA context, cuBLAS
# workspaces and activations on top of the per-device floor (DESIGN.md, "Memory").
RUNTIME_RESERVE_GIB = 2.0

# On-demand Linux prices, us-east-1, USD per instance-hour, from the AWS EC2 On-Demand pricing
# page (aws.amazon.com/ec2/pricing/on-demand) as listed in 2026 (P5 after AWS's June 2025 price
# reduction). Prices change: `cosmosctl cost` asks the AWS Pricing API when credentials exist and
# only falls back to these, saying so.
PRICE_REGION = "us-east-1"
PRICE_SOURCE = "AWS EC2 On-Demand pricing page, us-east-1, Linux, shipped with cosmos3-aws (2026-11)"

# Hardware facts: instance sizes from the EC2 accelerated-computing instance specifications
# (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html). "Usable" GPU memory is what
# nvidia-smi reports as total minus the driver's reservation: A10G 24 GB -> ~22.5 GiB,
# L40S 48 GB -> ~44.5 GiB, H100 80 GB -> ~79.1 GiB.


@dataclass(frozen=True)
class Gpu:
    """One GPU model as the fit check sees it."""

    model: str
    nominal_gb: int
    usable_gib: float
    compute_capability: float
    # Dense tensor-core throughput (TFLOP/s) from NVIDIA's data sheets, used only to scale the
    # measured H100 generator timings to other GPUs as an estimate.
    bf16_tflops: float
    fp8_tflops: float | None

    @property
    def supports_fp8(self) -> bool:
        return self.compute_capability >= 8.9

    @property
    def supports_nvfp4(self) -> bool:
        return self.compute_capability >= 10.0


A10G = Gpu("NVIDIA A10G", 24, 22.5, 8.6, bf16_tflops=70.0, fp8_tflops=None)
L40S = Gpu("NVIDIA L40S", 48, 44.5, 8.9, bf16_tflops=362.0, fp8_tflops=733.0)
H100 = Gpu("NVIDIA H100 80GB HBM3", 80, 79.1, 9.0, bf16_tflops=989.0, fp8_tflops=1979.0)


# What the ECS agent registers as a host's memory is the kernel's MemTotal (below the nominal RAM
# EC2 advertises) minus ECS_RESERVED_MEMORY (0 unless set), and a task is only placed where its
# reservation fits (docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html:
# an 8 GiB m4.large reports 8,373,026,816 bytes = 7985 MiB, 0.975 of nominal). The kernel keeps
# ~1.6 % for page structures (64 bytes per 4 KiB page) plus its image and crash-kernel area, so
# the share grows with RAM; 0.95 leaves margin. Only a deploy shows the real figure: `aws ecs
# describe-container-instances` -> registeredResources MEMORY (docs/deploy-reasoner.md).
OS_MEMORY_FACTOR = 0.95
# Set on every ECS GPU host (stacks/constructs/gpu_capacity.py, /etc/ecs/ecs.config): memory the
# agent keeps out of task placement for itself, containerd, the SSM agent and the NVIDIA
# persistence daemon, so the NIM never competes with them for the last pages.
ECS_RESERVED_MEMORY_MIB = 2048


@dataclass(frozen=True)
class GpuInstance:
    """One EC2 instance type."""

    name: str
    family: str
    gpus: int
    gpu: Gpu
    vcpus: int
    memory_gib: int
    price_per_hour_usd: float

    @property
    def gpu_model(self) -> str:
        return self.gpu.model

    @property
    def gib_per_gpu(self) -> float:
        return self.gpu.usable_gib

    @property
    def compute_capability(self) -> float:
        return self.gpu.compute_capability

    # Most network interfaces the instance takes (all network cards together), from AWS's
    # per-type limits table (aws/amazon-vpc-resource-controller-k8s pkg/aws/vpc/limits.go,
    # "Interface"; the same figures as docs.aws.amazon.com/ec2/latest/instancetypes/ac.html).
    max_network_interfaces: int = 0

    @property
    def os_memory_gib(self) -> float:
        """Estimated MemTotal the kernel reports: nominal RAM less the kernel's own share."""
        return self.memory_gib * OS_MEMORY_FACTOR

    @property
    def registered_memory_mib(self) -> int:
        """Estimated memory the ECS agent registers: MemTotal minus ECS_RESERVED_MEMORY."""
        return int(self.os_memory_gib * 1024) - ECS_RESERVED_MEMORY_MIB

    @property
    def awsvpc_task_slots(self) -> int:
        """awsvpc tasks the host can run without ENI trunking: one ENI each, the primary is the host's."""
        return self.max_network_interfaces - 1


def _family(
    family: str, gpu: Gpu, rows: list[tuple[str, int, int, int, float, int]]
) -> dict[str, GpuInstance]:
    return {
        f"{family}.{size}": GpuInstance(f"{family}.{size}", family, gpus, gpu, vcpus, mem, price, enis)
        for size, gpus, vcpus, mem, price, enis in rows
    }


INSTANCES: dict[str, GpuInstance] = {
    # size, GPUs, vCPUs, memory GiB, USD/hour, max network interfaces
    **_family(
        "g5",
        A10G,
        [
            ("xlarge", 1, 4, 16, 1.006, 4),
            ("2xlarge", 1, 8, 32, 1.212, 4),
            ("4xlarge", 1, 16, 64, 1.624, 8),
            ("8xlarge", 1, 32, 128, 2.448, 8),
            ("12xlarge", 4, 48, 192, 5.672, 15),
            ("16xlarge", 1, 64, 256, 4.096, 8),
            ("24xlarge", 4, 96, 384, 8.144, 15),
            ("48xlarge", 8, 192, 768, 16.288, 7),
        ],
    ),
    **_family(
        "g6e",
        L40S,
        [
            ("xlarge", 1, 4, 32, 1.861, 4),
            ("2xlarge", 1, 8, 64, 2.242, 4),
            ("4xlarge", 1, 16, 128, 3.004, 8),
            ("8xlarge", 1, 32, 256, 4.529, 8),
            ("12xlarge", 4, 48, 384, 10.493, 10),
            ("16xlarge", 1, 64, 512, 7.577, 15),
            ("24xlarge", 4, 96, 768, 15.066, 20),
            ("48xlarge", 8, 192, 1536, 30.131, 40),
        ],
    ),
    **_family(
        "p5",
        H100,
        [
            ("4xlarge", 1, 16, 256, 6.880, 4),
            ("48xlarge", 8, 192, 2048, 55.040, 64),
        ],
    ),
}

FAMILIES = ("g5", "g6e", "p5")


# Regions known to offer each family, from AWS's launch and regional-expansion announcements
# ("What's New with AWS", 2022-2025). Not exhaustive and not re-checked against a live account here:
# AWS adds regions over time, so synth only *warns* when a concrete target region is missing, and the
# warning gives the command that answers for your account (AWS EC2 User Guide: "The available instance
# types vary by Region ... use the describe-instance-type-offerings command", docs.aws.amazon.com/
# AWSEC2/latest/UserGuide/ec2-instance-topology-prerequisites.html).
def _regions(names: str) -> frozenset[str]:
    return frozenset(names.split())


FAMILY_REGIONS: dict[str, frozenset[str]] = {
    "g5": _regions(
        "us-east-1 us-east-2 us-west-2 ca-central-1 sa-east-1 eu-central-1 eu-west-1 eu-west-2 "
        "eu-north-1 ap-northeast-1 ap-northeast-2 ap-south-1 ap-southeast-1 ap-southeast-2"
    ),
    "g6e": _regions("us-east-1 us-east-2 us-west-2 eu-central-1 eu-north-1 ap-northeast-1"),
    "p5": _regions(
        "us-east-1 us-east-2 us-west-2 eu-north-1 ap-northeast-1 ap-south-1 ap-southeast-2 sa-east-1"
    ),
}
FAMILY_REGIONS_AS_OF = "2026-11"


def region_offering_warning(instance_type: str, region: str) -> str | None:
    """One line when ``region`` is not known to offer ``instance_type``'s family; None when it is."""
    family = instance_type.split(".", 1)[0]
    known = FAMILY_REGIONS.get(family)
    if known is None or region in known:
        return None
    return (
        f"{instance_type}: {family} is not known to be offered in {region} (catalog list as of "
        f"{FAMILY_REGIONS_AS_OF}: {', '.join(sorted(known))}). Check with `aws ec2 "
        f"describe-instance-type-offerings --region {region} --filters Name=instance-type,Values={instance_type}`; "
        "if it is empty, deploy to a listed region or pick another instance type."
    )


# --------------------------------------------------------------------------------------------
# Reasoner NIM footprints
# --------------------------------------------------------------------------------------------
# Source: NVIDIA Cosmos3 NIM support matrix (per-device floors in GiB, never summed across GPUs),
# as summarised in DESIGN.md "Memory". Only the profiles NVIDIA publishes exist: nano has no
# tensor-parallel profile, so a multi-GPU g5 (4 or 8 x A10G) cannot split nano across GPUs and
# g5 of any size cannot run nano in any precision (23.1 + 2 GiB > 22.5 GiB usable; A10G has no
# FP8 or NVFP4). g5 runs the edge variant (unified 2.1.0 image only).
# Host RAM: NVIDIA documents a 16 GiB "effective system memory" floor for every resident
# Reasoner profile, enforced at profile selection (it reads the container's memory limit first,
# else the host's MemTotal): NVIDIA/cosmos-framework skills/cookbooks/cosmos3/nim, "Current
# source-derived contracts" (16 GiB resident, 64 Nano offload, 150 Super offload) and the
# Support Matrix (docs.nvidia.com/nim/cosmos/latest/support-matrix.html, system memory per host).
# A 16 GiB g5.xlarge reports less than 16 GiB (OS_MEMORY_FACTOR), so the NIM refuses it.


@dataclass(frozen=True)
class ReasonerProfile:
    variant: ReasonerVariant
    precision: Precision
    gib_per_gpu: float
    tensor_parallel: int
    min_compute_capability: float
    unified_image_only: bool = False
    # NVIDIA's system-memory floor per host for this profile; also what each task reserves.
    min_host_ram_gib: int = 16

    @property
    def model_id(self) -> str:
        return REASONER_MODEL_IDS[self.variant]


REASONER_MODEL_IDS: dict[str, str] = {
    "edge": "nvidia/cosmos3-edge-reasoner",
    "nano": "nvidia/cosmos3-nano-reasoner",
    "super": "nvidia/cosmos3-super-reasoner",
}

REASONER_PROFILES: tuple[ReasonerProfile, ...] = (
    ReasonerProfile("edge", "bf16", 12.0, 1, 8.0, unified_image_only=True),
    ReasonerProfile("edge", "fp8", 12.0, 1, 8.9, unified_image_only=True),
    ReasonerProfile("nano", "bf16", 23.1, 1, 8.0),
    ReasonerProfile("nano", "fp8", 23.1, 1, 8.9),
    ReasonerProfile("nano", "nvfp4", 23.1, 1, 10.0),
    ReasonerProfile("super", "fp8", 67.0, 1, 8.9),
    ReasonerProfile("super", "bf16", 73.0, 2, 8.0),
    ReasonerProfile("super", "bf16", 135.0, 1, 8.0),
)


def automatic_precision(compute_capability: float) -> Precision:
    """What the NIM picks when NIM_PRECISION is unset (DESIGN.md, "Reasoner NIM")."""
    if compute_capability >= 10.0:
        return "nvfp4"
    if compute_capability >= 8.9:
        return "fp8"
    return "bf16"


# --------------------------------------------------------------------------------------------
# Generator (Diffusers Cosmos3OmniPipeline) footprints
# --------------------------------------------------------------------------------------------
# Peak GPU GiB per device for a whole video (transformer + Wan VAE decode, guardrail excluded):
# PyTorch's max allocated memory, measured on one H100 with diffusers 0.42.1 and the full-size
# Nano architecture (docs/benchmarks/h100-2026-11-25.json), at 720x1280 where measured: the
# largest size the job accepts. Super rows are NVIDIA's NIM figures (no Super measurement yet).
BENCHMARK = "docs/benchmarks/h100-2026-11-25.json"


@dataclass(frozen=True)
class GeneratorProfile:
    model: GeneratorModel
    precision: GeneratorPrecision
    offload: bool
    gib_per_gpu: float
    min_host_ram_gib: int
    min_compute_capability: float
    source: str

    @property
    def model_id(self) -> str:
        return GENERATOR_MODEL_IDS[self.model]


GENERATOR_MODEL_IDS: dict[str, str] = {"nano": "nvidia/Cosmos3-Nano", "super": "nvidia/Cosmos3-Super"}
# The Hugging Face commit a deployment loads unless generatorModelRevision names another: the same
# weights in every job and in the S3 mirror. Nano: the commit public Cosmos 3 generator benchmarks and
# Hugging Face cache snapshots name (e59a53c2..., 34.99 GB; e.g. the snapshot path
# models--nvidia--Cosmos3-Nano/snapshots/e59a53c2...); not verifiable from here, a deploy confirms it
# (the job records the commit it loaded). Super: no commit found, so its main branch.
GENERATOR_MODEL_REVISIONS: dict[str, str] = {
    "nano": "e59a53c25979a090fa8706c9acc0c254a6e89b92",
    "super": "main",
}

GENERATOR_PROFILES: tuple[GeneratorProfile, ...] = (
    # 41.0 GiB at 720p (34.6 at 480p); host RAM stages ~30 GiB of bf16 weights.
    GeneratorProfile(
        "nano", "bf16", False, 41.0, 48, 8.0, f"measured, H100, 720p incl. decode ({BENCHMARK})"
    ),
    # FP8 linear layers keep FP8 weights: 28.1 GiB at 720p (21.6 at 480p).
    GeneratorProfile("nano", "fp8", False, 28.1, 48, 8.9, f"measured, H100, 720p incl. decode ({BENCHMARK})"),
    # Group offload streams the transformer's layers from pinned host memory: 7.8 GiB at 480p
    # measured; 720p adds ~4 GiB of denoising activations and a ~11 GiB VAE decode, so 13 GiB.
    GeneratorProfile("nano", "bf16", True, 13.0, 64, 8.0, "measured 7.8 GiB at 480p, H100; 720p estimated"),
    GeneratorProfile("super", "fp8", False, 93.0, 150, 8.9, "NVIDIA NIM figure, resident"),
    GeneratorProfile("super", "fp8", True, 64.0, 150, 8.9, "NVIDIA NIM figure, upper offload figure"),
    GeneratorProfile("super", "bf16", True, 64.0, 200, 8.0, "estimate: FP8 offload figure, host RAM doubled"),
)

# Seconds per Nano video (189 frames, 35 steps, guidance 6, VAE decode included) on one H100, by
# the job's path, measured (BENCHMARK). "compiled" is the deployed default: regional torch.compile
# with its cache on EFS (first call in a fresh container ~5 s with a warm cache), FlashAttention 4
# (the job's attention "auto" picks it on compute capability 9.x/10.x) and the timestep embedding
# computed once per step. "bf16" is stock diffusers as measured; the job's eager path also gets
# FA4 and the shared timestep embedding, so it is somewhat faster than this (not measured).
GeneratorPath = Literal["bf16", "bf16-compiled", "fp8-compiled", "bf16-offload"]
GENERATOR_H100_SECONDS: dict[str, dict[tuple[int, int], float]] = {
    "bf16": {(256, 448): 17.4, (480, 832): 73.2, (720, 1280): 252.3},
    "bf16-compiled": {(256, 448): 12.9, (480, 832): 55.4, (720, 1280): 199.2},
    "fp8-compiled": {(256, 448): 9.3, (480, 832): 45.3, (720, 1280): 173.4},
    "bf16-offload": {(480, 832): 212.7},
}
# The compiled paths on the same H100 with cuDNN attention (BENCHMARK's bf16-regional and
# fp8-regional rows): the base for GPUs where "auto" does not pick FlashAttention 4.
FA4_MIN_COMPUTE_CAPABILITY = 9.0
GENERATOR_H100_SECONDS_CUDNN_ATTENTION: dict[str, dict[tuple[int, int], float]] = {
    "bf16-compiled": {(256, 448): 13.5, (480, 832): 60.7, (720, 1280): 224.5},
    "fp8-compiled": {(256, 448): 10.4, (480, 832): 50.1, (720, 1280): 200.0},
}
RESOLUTIONS: tuple[tuple[int, int], ...] = ((256, 448), (480, 832), (720, 1280))
# path -> (precision, compiled, offload), the job-spec settings that select it.
GENERATOR_PATHS: dict[str, tuple[str, bool, bool]] = {
    "bf16": ("bf16", False, False),
    "bf16-compiled": ("bf16", True, False),
    "fp8-compiled": ("fp8", True, False),
    "bf16-offload": ("bf16", False, True),
}
DEFAULT_GENERATOR_PATH = "bf16-compiled"


def generator_path(precision: str, compiled: bool = True, offload: bool = False) -> str:
    """The measured path a job with these settings runs (group offload cannot be compiled)."""
    if offload:
        if precision != "bf16":
            raise ValueError("offload is measured for bf16 only")
        return "bf16-offload"
    if precision == "fp8":
        if not compiled:
            # Eager FP8 was slower than stock bf16 (0.85x): the job compiles whenever it uses FP8.
            raise ValueError("FP8 runs compiled; eager FP8 is slower than bf16")
        return "fp8-compiled"
    return "bf16-compiled" if compiled else "bf16"


# --------------------------------------------------------------------------------------------
# The fit check
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    ok: bool
    reason: str
    instance: GpuInstance
    precision: str = ""
    tensor_parallel: int = 1
    gib_per_gpu: float = 0.0
    alternatives: list[str] = field(default_factory=list)


class UnknownInstanceError(ValueError):
    pass


def get_instance(name: str) -> GpuInstance:
    try:
        return INSTANCES[name]
    except KeyError:
        known = ", ".join(sorted(INSTANCES, key=_sort_key))
        raise UnknownInstanceError(
            f"unknown instance type '{name}': choose one of the g5, g6e or p5 sizes ({known})"
        ) from None


def _sort_key(name: str) -> tuple[float, str]:
    return (INSTANCES[name].price_per_hour_usd, name)


def _fits_memory(gib_per_gpu: float, gpu: Gpu) -> bool:
    return gib_per_gpu + RUNTIME_RESERVE_GIB <= gpu.usable_gib


def reasoner_profiles_for(variant: str, precision: str, unified_image: bool) -> list[ReasonerProfile]:
    return [
        p
        for p in REASONER_PROFILES
        if p.variant == variant
        and (precision == "auto" or p.precision == precision)
        and (unified_image or not p.unified_image_only)
    ]


def reasoner_fit(
    instance_type: str, variant: str, precision: str = "auto", unified_image: bool = True
) -> Fit:
    """Can `instance_type` serve the reasoner `variant` at `precision` ("auto" = NIM's choice)?"""
    inst = get_instance(instance_type)
    wanted = precision
    if precision == "auto":
        wanted = automatic_precision(inst.compute_capability)
    candidates = reasoner_profiles_for(variant, wanted, unified_image)
    reason = ""
    for p in sorted(candidates, key=lambda p: p.tensor_parallel):
        if inst.compute_capability < p.min_compute_capability:
            reason = (
                f"{p.precision} needs compute capability >= {p.min_compute_capability}, "
                f"{inst.gpu_model} has {inst.compute_capability}"
            )
            continue
        if p.tensor_parallel > inst.gpus:
            reason = f"the {p.precision} profile needs {p.tensor_parallel} GPUs, {inst.name} has {inst.gpus}"
            continue
        if not _fits_memory(p.gib_per_gpu, inst.gpu):
            reason = (
                f"{variant} {p.precision} needs {p.gib_per_gpu} GiB + {RUNTIME_RESERVE_GIB} GiB reserve per GPU, "
                f"{inst.gpu_model} has {inst.gib_per_gpu} GiB usable"
                + (" and no tensor-parallel profile exists to split it" if p.tensor_parallel == 1 else "")
            )
            continue
        if inst.os_memory_gib < p.min_host_ram_gib:
            reason = (
                f"the NIM refuses hosts below {p.min_host_ram_gib} GiB of memory and {inst.name}'s "
                f"{inst.memory_gib} GiB nominal is about {inst.os_memory_gib:.1f} GiB to the OS"
            )
            continue
        return Fit(True, "fits", inst, p.precision, p.tensor_parallel, p.gib_per_gpu)
    if not candidates:
        reason = f"no {variant} profile in {wanted}" + (
            "" if unified_image else " with the reasoner-only image (edge needs the unified cosmos3 image)"
        )
    alternatives = cheapest_reasoner_instances(variant, precision, unified_image)
    return Fit(False, reason, inst, alternatives=alternatives)


def cheapest_reasoner_instances(
    variant: str, precision: str, unified_image: bool, limit: int = 3
) -> list[str]:
    fits = []
    for name in sorted(INSTANCES, key=_sort_key):
        if reasoner_fit_ok(name, variant, precision, unified_image):
            fits.append(name)
    return fits[:limit]


def reasoner_fit_ok(instance_type: str, variant: str, precision: str, unified_image: bool) -> bool:
    inst = INSTANCES[instance_type]
    wanted = automatic_precision(inst.compute_capability) if precision == "auto" else precision
    return any(
        reasoner_profile_fits(instance_type, p) for p in reasoner_profiles_for(variant, wanted, unified_image)
    )


def cheapest_instance_for_profile(profile: ReasonerProfile) -> str | None:
    """The cheapest instance that runs exactly this profile (docs/sizing.md's table), or None."""
    return next((n for n in sorted(INSTANCES, key=_sort_key) if reasoner_profile_fits(n, profile)), None)


def reasoner_profile_fits(instance_type: str, profile: ReasonerProfile) -> bool:
    """Can `instance_type` run this one profile (GPU generation, GPU count, memory, host RAM)?"""
    inst = INSTANCES[instance_type]
    return (
        inst.compute_capability >= profile.min_compute_capability
        and profile.tensor_parallel <= inst.gpus
        and _fits_memory(profile.gib_per_gpu, inst.gpu)
        and inst.os_memory_gib >= profile.min_host_ram_gib
    )


def reasoner_profile(variant: str, precision: str, tensor_parallel: int) -> ReasonerProfile:
    """The profile a fit chose (variant, precision and GPU count identify it)."""
    return next(
        p
        for p in REASONER_PROFILES
        if (p.variant, p.precision, p.tensor_parallel) == (variant, precision, tensor_parallel)
    )


def reasoner_tasks_per_instance(instance_type: str, tensor_parallel: int, max_tasks: int) -> int:
    """NIM tasks one host runs: its GPUs, its awsvpc ENIs (no trunking) and maxTasks all bound it."""
    inst = INSTANCES[instance_type]
    return max(0, min(inst.gpus // tensor_parallel, inst.awsvpc_task_slots, max_tasks))


def reasoner_idle_gpus(instance_type: str, tensor_parallel: int, max_tasks: int) -> int:
    """GPUs of one host that no task of this deployment can ever use."""
    inst = INSTANCES[instance_type]
    return (
        inst.gpus - reasoner_tasks_per_instance(instance_type, tensor_parallel, max_tasks) * tensor_parallel
    )


def generator_profile(model: str, precision: str, offload: bool) -> GeneratorProfile | None:
    for p in GENERATOR_PROFILES:
        if (p.model, p.precision, p.offload) == (model, precision, offload):
            return p
    return None


def host_ram_gib_per_gpu(inst: GpuInstance) -> float:
    """Host RAM each one-GPU job gets: a multi-GPU host runs one generator job per GPU."""
    return inst.memory_gib / inst.gpus


def generator_fit(instance_type: str, model: str, precision: str, offload: bool = False) -> Fit:
    """Can one GPU of `instance_type`, with its share of the host, render `model` at `precision`?

    Jobs are sized per GPU (see `generator_job_size`), so a 4-GPU host runs four jobs side by side
    and the host-RAM floor applies to each GPU's share of the host, not to the whole host.
    """
    inst = get_instance(instance_type)
    p = generator_profile(model, precision, offload)
    if p is None:
        reason = f"no generator profile for {model} {precision}{' with offload' if offload else ''}"
    elif inst.compute_capability < p.min_compute_capability:
        reason = (
            f"{precision} needs compute capability >= {p.min_compute_capability}, "
            f"{inst.gpu_model} has {inst.compute_capability}"
        )
    elif not _fits_memory(p.gib_per_gpu, inst.gpu):
        reason = (
            f"{model} {precision}{' offload' if offload else ''} peaks at {p.gib_per_gpu} GiB + "
            f"{RUNTIME_RESERVE_GIB} GiB reserve, {inst.gpu_model} has {inst.gib_per_gpu} GiB usable"
        )
    elif host_ram_gib_per_gpu(inst) < p.min_host_ram_gib:
        reason = (
            f"needs >= {p.min_host_ram_gib} GiB host RAM per GPU to stage the weights, {inst.name} has "
            f"{host_ram_gib_per_gpu(inst):g} per GPU"
            + (f" ({inst.memory_gib} GiB for {inst.gpus} GPUs, one job each)" if inst.gpus > 1 else "")
        )
    else:
        return Fit(True, "fits", inst, precision, 1, p.gib_per_gpu)
    alternatives = [
        name for name in sorted(INSTANCES, key=_sort_key) if generator_fit_ok(name, model, precision, offload)
    ][:3]
    return Fit(False, reason, inst, alternatives=alternatives)


def generator_fit_ok(instance_type: str, model: str, precision: str, offload: bool) -> bool:
    inst = INSTANCES[instance_type]
    p = generator_profile(model, precision, offload)
    return (
        p is not None
        and inst.compute_capability >= p.min_compute_capability
        and _fits_memory(p.gib_per_gpu, inst.gpu)
        and host_ram_gib_per_gpu(inst) >= p.min_host_ram_gib
    )


def estimated_generator_seconds(
    instance_type: str,
    height: int,
    width: int,
    precision: str = "bf16",
    compiled: bool = True,
    offload: bool = False,
) -> tuple[float, bool]:
    """Seconds per Nano video on one GPU of `instance_type`; (seconds, is_estimate).

    H100 figures are measured per path and resolution. Other resolutions scale with the number of
    latent tokens from the nearest measured one (attention makes this optimistic above 720p);
    other GPUs scale by their dense bf16 tensor throughput relative to the H100, from the H100's
    cuDNN-attention figures where the job does not use FlashAttention 4 (compute capability
    below 9.0). Both are marked as estimates.
    """
    gpu = get_instance(instance_type).gpu
    if precision == "fp8" and not gpu.supports_fp8:
        raise ValueError(f"{gpu.model} has no FP8 (compute capability {gpu.compute_capability} < 8.9)")
    path = generator_path(precision, compiled, offload)
    table = GENERATOR_H100_SECONDS[path]
    if gpu.compute_capability < FA4_MIN_COMPUTE_CAPABILITY and path in GENERATOR_H100_SECONDS_CUDNN_ATTENTION:
        # the job runs cuDNN attention there: scale the H100's cuDNN-attention measurement
        table = GENERATOR_H100_SECONDS_CUDNN_ATTENTION[path]
    seconds = table.get((height, width))
    estimate = seconds is None
    if seconds is None:
        (h, w), base = min(table.items(), key=lambda kv: abs(kv[0][0] * kv[0][1] - height * width))
        seconds = base * (height * width) / (h * w)
    if gpu is not H100:
        seconds *= H100.bf16_tflops / gpu.bf16_tflops
        estimate = True
    return seconds, estimate


# --------------------------------------------------------------------------------------------
# Generator job sizing: one job per GPU, so a multi-GPU host runs one job on each of its GPUs
# --------------------------------------------------------------------------------------------
# ECS registers a container instance's memory as the OS memory total minus ECS_RESERVED_MEMORY
# (Amazon ECS Developer Guide, "Reserving Amazon ECS Linux container instance memory":
# docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html). AWS Batch recommends
# reserving 5 % for the ECS agent and other critical system processes (Batch User Guide, "Reserve
# system memory": docs.aws.amazon.com/batch/latest/userguide/ecs-reserved-memory.html); the Batch
# launch template's user data sets ECS_RESERVED_MEMORY to 5 % of the host's MemTotal. The OS total
# is `GpuInstance.os_memory_gib` (the same estimate the reasoner uses; AWS's m4.large example
# registers 97.5 % of nominal), so the jobs sized below always fit what a host really registers.
ECS_RESERVED_MEMORY_PERCENT = 5


def ecs_registered_memory_mib(inst: GpuInstance) -> int:
    """Memory ECS registers for `inst` (and Batch can place jobs into) with our reservation."""
    return int(inst.os_memory_gib * 1024) * (100 - ECS_RESERVED_MEMORY_PERCENT) // 100


@dataclass(frozen=True)
class JobSize:
    """vCPUs and memory (MiB) of a one-GPU generator job."""

    vcpus: int
    memory_mib: int


def generator_gpu_slice(instance_type: str) -> JobSize:
    """One GPU's share of `instance_type`: its vCPUs and registered memory divided by the GPUs."""
    inst = get_instance(instance_type)
    return JobSize(inst.vcpus // inst.gpus, ecs_registered_memory_mib(inst) // inst.gpus)


def generator_job_size(instance_types: list[str]) -> JobSize:
    """A one-GPU job that fits one GPU's share of every allowed instance type (the smallest share)."""
    slices = [generator_gpu_slice(t) for t in instance_types]
    return JobSize(min(s.vcpus for s in slices), min(s.memory_mib for s in slices))


def jobs_per_host(instance_type: str, job: JobSize) -> int:
    """How many such one-GPU jobs ECS places on one `instance_type`: GPUs, vCPUs and memory bound it."""
    inst = get_instance(instance_type)
    return min(inst.gpus, inst.vcpus // job.vcpus, ecs_registered_memory_mib(inst) // job.memory_mib)


def max_generator_gpus(instance_types: list[str], max_vcpus: int) -> int:
    """The most GPUs a compute environment capped at `max_vcpus` can run at once (0: none)."""
    return max((max_vcpus // INSTANCES[t].vcpus) * INSTANCES[t].gpus for t in instance_types)


# One attempt of a job must cover the slowest single video the deployment allows (a 720p video
# with layer offload, which a spec may ask for on any GPU) plus the cold start before it: weights
# from the S3 mirror (or, for the very first job, from the Hugging Face Hub), the guardrail models,
# and a cold torch.compile (254 s measured on an H100, docs/performance.md).
JOB_SETUP_ALLOWANCE_S = 20 * 60
SLOWEST_RESOLUTION = (720, 1280)


def slowest_generator_video_seconds(instance_types: list[str]) -> tuple[float, str]:
    """(seconds, instance type) of the slowest single video: 720p, bf16, offload, slowest GPU."""
    h, w = SLOWEST_RESOLUTION
    timings = [
        (estimated_generator_seconds(t, h, w, "bf16", compiled=False, offload=True)[0], t)
        for t in instance_types
    ]
    return max(timings)


def generator_family_sizes_that_fit(
    instance_types: list[str], model: str, precision: str, offload: bool, job: JobSize, max_vcpus: int
) -> list[str]:
    """More Spot pools: the sizes of the chosen families that run `model` and take a `job` per GPU.

    Each must hold the deployment's model per GPU, give every GPU at least `job` (so the job size
    does not shrink), and fit under `max_vcpus` (Batch could not launch a larger one). The chosen
    types come first, then the others by price.
    """
    families = {INSTANCES[t].family for t in instance_types}
    extra = [
        name
        for name in sorted(INSTANCES, key=_sort_key)
        if name not in instance_types
        and INSTANCES[name].family in families
        and generator_fit_ok(name, model, precision, offload)
        and generator_gpu_slice(name).vcpus >= job.vcpus
        and generator_gpu_slice(name).memory_mib >= job.memory_mib
        and INSTANCES[name].vcpus <= max_vcpus
    ]
    return [*instance_types, *extra]


# Disk per Batch host (root EBS volume): the job image (pulled layers plus their extracted copy),
# the model weights in the host cache (/var/lib/cosmos3/weights) and the guardrail models.
# Nano: ~30 GiB of bf16 safetensors (DESIGN.md, measured); Super: estimate from NVIDIA's NIM host
# RAM figure (150 GiB to stage the weights). Guardrail (nvidia/Cosmos-1.0-Guardrail: a Llama Guard 3
# 8B, SigLIP, a video safety filter, RetinaFace): estimate.
JOB_IMAGE_DISK_GIB = 45
GUARDRAIL_WEIGHTS_GIB = 20
GENERATOR_WEIGHTS_GIB: dict[str, int] = {"nano": 30, "super": 120}
DISK_HEADROOM = 1.2


def generator_root_volume_min_gib(model: str) -> int:
    """The smallest root volume that holds the image, `model`'s weights and the guardrail, + 20 %."""
    need = JOB_IMAGE_DISK_GIB + GENERATOR_WEIGHTS_GIB[model] + GUARDRAIL_WEIGHTS_GIB
    return int(need * DISK_HEADROOM + 0.999)
