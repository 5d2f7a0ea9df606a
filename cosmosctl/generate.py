"""`cosmosctl generate`: submit, watch and fetch Cosmos 3 video generation jobs on the GeneratorBatchStack.

A job spec (the fields of the generator container's ``cosmos_generator/spec.py``) is written to
``s3://<BucketName>/<InputPrefix><submission id>/spec.json`` (one prompt) or ``manifest.jsonl``
(an array job of K workers: worker w renders the lines i with i % K == w, loading the model once),
conditioning images/videos are uploaded next to it, and the job gets ``JOB_SPEC_URI`` and
``WORKERS`` in its environment. K is the number of lines, capped by the GPUs the compute
environments may run at once and by Batch's 10,000 array children. Results land under
``s3://<BucketName>/<OutputPrefix><batch job id>/<index>.mp4`` with ``<index>.json`` metadata.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cosmosctl.aws import GENERATOR_STACK, aws_errors, require_output, session, stack_outputs
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.errors import CosmosError
from cosmosctl.media import IMAGE_TYPES, VIDEO_SUFFIXES

JOB_NAME_PREFIX = "cosmosctl-"
MAX_ARRAY_SIZE = 10_000  # AWS Batch's limit for an array job (SubmitJob arrayProperties.size: 2-10,000)
# Workers when the compute environments' capacity cannot be read (no batch:Describe* permission).
FALLBACK_WORKERS = 16
# A worker's fixed time before its first video: image start, weights (a host's first job copies
# ~30 GiB from the S3 mirror), load and a cold compile. Measured on an H200 from process start:
# 8.9 s start + 20.7 s load + 22.7 s compile (docs/benchmarks/h200-job-throughput-2026-11-29.json);
# the rest is room for the weight copy and a slower host.
WORKER_STARTUP_S = 600
# Headroom on the catalog's seconds per video (GPU model scaling is an estimate).
TIMEOUT_FACTOR = 1.5
MIN_TIMEOUT_S = 900
TERMINAL = ("SUCCEEDED", "FAILED")
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")

app = typer.Typer(
    help="Generate videos with Cosmos 3 on AWS Batch (GeneratorBatchStack).", no_args_is_help=True
)


# Mirrors container/generator/cosmos_generator/spec.py (the job's own check is authoritative; this
# one catches mistakes before anything is uploaded or a GPU instance starts).
SPATIAL_FACTOR = 16  # Wan 2.2 VAE spatial compression of the released checkpoints
TEMPORAL_FACTOR = 4  # ... and temporal compression: num_frames is 1 or 4k+1
MAX_NUM_FRAMES = 189
MAX_SIDE = 1280
MAX_STEPS = 200


class JobSpec(BaseModel):
    """One video to render, with the generator job's field names. Unset fields take the job's defaults."""

    # Further keys are the job's performance options (cosmos_generator.accel: compile, vae_tiling,
    # attention_backend, ...); they pass through and the job validates them before loading weights.
    model_config = ConfigDict(extra="allow")

    prompt: str = Field(min_length=1)
    negative_prompt: str | None = None
    image: str | None = None
    video: str | None = None
    num_frames: int | None = Field(default=None, ge=1, le=MAX_NUM_FRAMES)
    height: int | None = Field(default=None, ge=SPATIAL_FACTOR, le=MAX_SIDE)
    width: int | None = Field(default=None, ge=SPATIAL_FACTOR, le=MAX_SIDE)
    fps: float | None = Field(default=None, gt=0, le=120)
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    guidance: float | None = Field(default=None, ge=1.0, le=30.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    model: Literal["nano", "super"] | None = None
    precision: Literal["bf16", "fp8", "fp32"] | None = None
    offload: Literal["none", "model", "group", "sequential"] | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is blank")
        return value

    @field_validator("height", "width")
    @classmethod
    def _spatial(cls, value: int | None) -> int | None:
        if value is not None and value % SPATIAL_FACTOR:
            lower = max(SPATIAL_FACTOR, value - value % SPATIAL_FACTOR)
            raise ValueError(
                f"must be a multiple of {SPATIAL_FACTOR}; try {lower} or {lower + SPATIAL_FACTOR}"
            )
        return value

    @field_validator("num_frames")
    @classmethod
    def _temporal(cls, value: int | None) -> int | None:
        if value is not None and value != 1 and (value - 1) % TEMPORAL_FACTOR:
            below = value - (value - 1) % TEMPORAL_FACTOR
            raise ValueError(f"must be 1 or {TEMPORAL_FACTOR}*k+1; try {below} or {below + TEMPORAL_FACTOR}")
        return value

    @model_validator(mode="after")
    def _one_conditioning_input(self) -> JobSpec:
        if self.image is not None and self.video is not None:
            raise ValueError("give either image (image-to-video) or video (video-to-video), not both")
        if self.video is not None and self.num_frames is not None and self.num_frames < 5:
            raise ValueError("video-to-video needs num_frames >= 5")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _spec_error(exc: ValidationError, where: str) -> CosmosError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors(include_url=False)
    )
    return CosmosError(f"Invalid job spec {where}: {problems}")


@dataclass(frozen=True)
class GeneratorStack:
    """The GeneratorBatchStack outputs cosmosctl needs."""

    bucket: str
    job_queue: str
    job_definition: str
    input_prefix: str
    output_prefix: str

    @classmethod
    def load(cls, stack: str, region: str | None, sess: Any) -> GeneratorStack:
        outputs = stack_outputs(stack, region, sess=sess)

        def prefix(key: str, default: str) -> str:
            value = outputs.get(key) or default
            return value.strip("/") + "/"

        return cls(
            bucket=require_output(outputs, "BucketName", stack),
            job_queue=require_output(outputs, "JobQueueArn", stack),
            job_definition=require_output(outputs, "JobDefinitionArn", stack),
            input_prefix=prefix("InputPrefix", "inputs/"),
            output_prefix=prefix("OutputPrefix", "outputs/"),
        )


def _is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _check_media(path: Path, kind: str) -> None:
    if not path.is_file():
        raise CosmosError(f"{kind} file not found: {path}")
    suffix = path.suffix.lower()
    allowed = tuple(IMAGE_TYPES) if kind == "Image" else VIDEO_SUFFIXES
    if suffix not in allowed:
        raise CosmosError(
            f"Unsupported {kind.lower()} type '{suffix or path.name}': {path}",
            f"Supported: {', '.join(s.lstrip('.') for s in allowed)}.",
        )


def _resolve_local(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def load_specs(
    *,
    prompt: str | None,
    manifest: Path | None,
    image: str | None,
    video: str | None,
    defaults: dict[str, Any],
) -> tuple[list[JobSpec], Path]:
    """Job specs from --prompt (one) or a JSONL manifest (one per line; CLI flags fill unset fields).

    Returns the specs and the directory relative to which local image/video paths are read.
    """
    if (prompt is None) == (manifest is None):
        raise CosmosError("Give exactly one of --prompt or --manifest.")
    if manifest is None:
        assert prompt is not None
        fields = {**defaults, "prompt": prompt, "image": image, "video": video}
        try:
            return [JobSpec(**fields)], Path.cwd()
        except ValidationError as exc:
            raise _spec_error(exc, "from the flags") from exc
    if image or video:
        raise CosmosError("--image/--video go with --prompt; in a manifest give them per line.")
    if not manifest.is_file():
        raise CosmosError(f"Manifest not found: {manifest}")
    specs: list[JobSpec] = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CosmosError(f"{manifest}:{number}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict):
            raise CosmosError(f"{manifest}:{number}: each line must be a JSON object with a prompt.")
        try:
            specs.append(JobSpec(**{**defaults, **row}))
        except ValidationError as exc:
            raise _spec_error(exc, f"at {manifest}:{number}") from exc
    if not specs:
        raise CosmosError(f"Manifest {manifest} has no prompts.")
    return specs, manifest.parent


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["compile=default", "vae_tiling=true"]`` -> ``{"compile": "default", "vae_tiling": True}``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CosmosError(f"--option must look like KEY=VALUE, got {item!r}.")
        if key in JobSpec.model_fields:
            raise CosmosError(f"--option {key}=... duplicates a flag; use --{key.replace('_', '-')} instead.")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


@dataclass(frozen=True)
class Capacity:
    """What the job queue can run at once: GPUs (one per job) and the instance types behind them."""

    gpus: int | None
    instance_types: tuple[str, ...] = ()


def job_capacity(batch: Any, job_queue: str, job_definition: str) -> Capacity:
    """Concurrent one-GPU jobs: the compute environments' maxvCpus over the job's vCPUs.

    Reads DescribeJobQueues, DescribeComputeEnvironments and DescribeJobDefinitions; returns
    ``gpus=None`` when they do not say (unmanaged environments, no permission).
    """
    try:
        queues = batch.describe_job_queues(jobQueues=[job_queue]).get("jobQueues", [])
        arns = [o["computeEnvironment"] for q in queues for o in q.get("computeEnvironmentOrder", [])]
        envs = (
            batch.describe_compute_environments(computeEnvironments=arns).get("computeEnvironments", [])
            if arns
            else []
        )
        definitions = batch.describe_job_definitions(jobDefinitions=[job_definition]).get(
            "jobDefinitions", []
        )
    except Exception:  # capacity is an optimisation: fall back, never fail the submit
        return Capacity(None)
    container = (definitions[0].get("containerProperties") or {}) if definitions else {}
    vcpus = next(
        (float(r["value"]) for r in container.get("resourceRequirements", []) if r.get("type") == "VCPU"),
        float(container.get("vcpus") or 0),
    )
    resources = [e.get("computeResources") or {} for e in envs]
    max_vcpus = sum(int(r.get("maxvCpus") or 0) for r in resources)
    types = tuple(sorted({t for r in resources for t in r.get("instanceTypes", [])}))
    if vcpus <= 0 or max_vcpus <= 0:
        return Capacity(None, types)
    return Capacity(max(1, int(max_vcpus // vcpus)), types)


def choose_workers(lines: int, capacity: Capacity, requested: int | None = None) -> int:
    """K workers for ``lines`` videos: one per GPU that can run at once, never more than the lines."""
    if requested is not None:
        return max(1, min(requested, lines, MAX_ARRAY_SIZE))
    gpus = capacity.gpus if capacity.gpus is not None else FALLBACK_WORKERS
    return max(1, min(lines, gpus, MAX_ARRAY_SIZE))


def _spec_seconds(spec: dict[str, Any], instance_type: str) -> float:
    """Catalog seconds for one video on one GPU of ``instance_type`` (steps and frames scaled)."""
    from stacks import gpu_catalog as catalog

    height, width = int(spec.get("height") or 480), int(spec.get("width") or 832)
    precision = spec.get("precision") or "bf16"
    offload = (spec.get("offload") or "none") != "none"
    compiled = spec.get("compile", "regional") != "none" and not offload
    try:
        seconds, _ = catalog.estimated_generator_seconds(
            instance_type,
            height,
            width,
            "bf16" if offload else precision,
            compiled or precision == "fp8",
            offload,
        )
    except (ValueError, KeyError):
        seconds, _ = catalog.estimated_generator_seconds("g6e.2xlarge", height, width, "bf16", False, offload)
    scale = (int(spec.get("steps") or 35) / 35) * (int(spec.get("num_frames") or 189) / 189)
    return seconds * scale


def attempt_timeout_s(specs: list[dict[str, Any]], workers: int, instance_types: tuple[str, ...]) -> int:
    """Seconds a worker's attempt may run: its share's catalog time x 1.5 plus start-up.

    The slowest instance type of the queue counts (Batch may place the worker on any). 720p with
    offload is ~1,000 s a video on an L40S: the timeout grows with it instead of killing it.
    """
    from stacks import gpu_catalog as catalog

    types = [t for t in instance_types if t in catalog.INSTANCES] or ["g6e.2xlarge"]
    per_worker = []
    for w in range(workers):
        share = specs[w::workers]
        per_worker.append(sum(max(_spec_seconds(s, t) for t in types) for s in share))
    return max(MIN_TIMEOUT_S, math.ceil(max(per_worker) * TIMEOUT_FACTOR + WORKER_STARTUP_S))


def _new_submission_id() -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def submit(
    specs: list[JobSpec],
    base_dir: Path,
    *,
    stack: str = GENERATOR_STACK,
    region: str | None = None,
    name: str | None = None,
    workers: int | None = None,
    sess: Any = None,
) -> dict[str, Any]:
    """Upload inputs and specs to S3 and submit a single job or an array of workers; returns what was done."""
    # Check every local file before uploading anything.
    for spec in specs:
        for kind, value in (("Image", spec.image), ("Video", spec.video)):
            if value and not _is_s3(value):
                _check_media(_resolve_local(value, base_dir), kind)

    sess = sess or session(region)
    gen = GeneratorStack.load(stack, region, sess)
    s3 = sess.client("s3")
    batch = sess.client("batch")
    submission = _new_submission_id()
    key_prefix = f"{gen.input_prefix}{submission}/"

    uploaded: dict[Path, str] = {}
    rendered: list[dict[str, Any]] = []
    with aws_errors(f"upload inputs to s3://{gen.bucket}/{key_prefix}"):
        for index, spec in enumerate(specs):
            data = spec.to_json()
            for field in ("image", "video"):
                value = data.get(field)
                if not value or _is_s3(value):
                    continue
                local = _resolve_local(value, base_dir).resolve()
                if local not in uploaded:
                    key = f"{key_prefix}media/{len(uploaded)}-{local.name}"
                    s3.upload_file(str(local), gen.bucket, key)
                    uploaded[local] = f"s3://{gen.bucket}/{key}"
                data[field] = uploaded[local]
            rendered.append(data)
            del index
        if len(rendered) == 1:
            spec_key = f"{key_prefix}spec.json"
            body = json.dumps(rendered[0], indent=2).encode()
            content_type = "application/json"
        else:
            spec_key = f"{key_prefix}manifest.jsonl"
            body = "".join(json.dumps(r) + "\n" for r in rendered).encode()
            content_type = "application/x-ndjson"
        s3.put_object(Bucket=gen.bucket, Key=spec_key, Body=body, ContentType=content_type)
    spec_uri = f"s3://{gen.bucket}/{spec_key}"

    job_name = (name or f"{JOB_NAME_PREFIX}{submission}")[:128]
    capacity = job_capacity(batch, gen.job_queue, gen.job_definition)
    count = choose_workers(len(rendered), capacity, workers)
    timeout_s = attempt_timeout_s(rendered, count, capacity.instance_types)
    environment = [{"name": "JOB_SPEC_URI", "value": spec_uri}]
    if count > 1:
        environment.append({"name": "WORKERS", "value": str(count)})
    request: dict[str, Any] = {
        "jobName": job_name,
        "jobQueue": gen.job_queue,
        "jobDefinition": gen.job_definition,
        "containerOverrides": {"environment": environment},
        # Overrides the job definition's timeout for this submission: the worker's share decides it
        # (https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html, "timeout").
        "timeout": {"attemptDurationSeconds": timeout_s},
    }
    if count > 1:
        request["arrayProperties"] = {"size": count}  # Batch arrays hold 2 to 10,000 children
    with aws_errors("submit the Batch job"):
        job = batch.submit_job(**request)
    return {
        "job_id": job["jobId"],
        "job_name": job.get("jobName", job_name),
        "videos": len(rendered),
        "workers": count,
        "concurrent_gpus": capacity.gpus,
        "attempt_timeout_s": timeout_s,
        "array_size": count if count > 1 else None,
        "spec_uri": spec_uri,
        "uploaded": sorted(uploaded.values()),
        "output_uri": f"s3://{gen.bucket}/{gen.output_prefix}{job['jobId']}/",
    }


def describe_job(job_id: str, *, sess: Any) -> dict[str, Any]:
    """describe_jobs for one id, or a CosmosError when Batch does not know it."""
    with aws_errors(f"describe Batch job {job_id}"):
        jobs = sess.client("batch").describe_jobs(jobs=[job_id]).get("jobs", [])
    if not jobs:
        raise CosmosError(
            f"No Batch job {job_id} found.",
            "Check the id and --region (cosmosctl generate list); "
            "Batch forgets finished jobs after about 7 days.",
        )
    return jobs[0]


def progress_counts(job: dict[str, Any]) -> tuple[int, int, int]:
    """(total, succeeded, failed) for a single or array job."""
    array = job.get("arrayProperties") or {}
    summary = array.get("statusSummary")
    if array.get("size") and summary is not None:
        return int(array["size"]), int(summary.get("SUCCEEDED", 0)), int(summary.get("FAILED", 0))
    status = job.get("status")
    return 1, int(status == "SUCCEEDED"), int(status == "FAILED")


def _ms(value: Any) -> str:
    if not value:
        return "-"
    return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _job_summary(job: dict[str, Any]) -> dict[str, Any]:
    total, ok, failed = progress_counts(job)
    env = {e["name"]: e["value"] for e in (job.get("container") or {}).get("environment", []) or []}
    return {
        "job_id": job["jobId"],
        "job_name": job.get("jobName"),
        "status": job.get("status"),
        "status_reason": job.get("statusReason"),
        "array_size": (job.get("arrayProperties") or {}).get("size"),
        "succeeded": ok,
        "failed": failed,
        "total": total,
        "created_at": _ms(job.get("createdAt")),
        "started_at": _ms(job.get("startedAt")),
        "stopped_at": _ms(job.get("stoppedAt")),
        "spec_uri": env.get("JOB_SPEC_URI"),
    }


def output_objects(job_id: str, gen: GeneratorStack, *, sess: Any) -> list[str]:
    """S3 keys of a job's outputs: ``<OutputPrefix><job id>/...`` (and ``<job id>:<index>/...`` children).

    An array child's id ``<parent>:<index>`` selects that child's files: the job writes every
    child's ``<index>.mp4|.json|.error.json`` into the parent's folder.
    """
    s3 = sess.client("s3")
    parent, _, index = job_id.partition(":")
    base = f"{gen.output_prefix}{parent}"
    keys: list[str] = []
    with aws_errors(f"list s3://{gen.bucket}/{base}/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=gen.bucket, Prefix=base):
            for obj in page.get("Contents", []) or []:
                rest = obj["Key"][len(base) :]
                if not rest.startswith(("/", ":")) or obj["Key"].endswith("/"):
                    continue
                if index and not (rest.startswith(f"/{index}.") or rest.startswith(f":{index}/")):
                    continue
                keys.append(obj["Key"])
    return sorted(keys)


def fetch_outputs(
    job_id: str, out_dir: Path, *, stack: str, region: str | None, sess: Any = None
) -> list[Path]:
    """Download a job's MP4s and metadata into ``out_dir/<job id>/``; returns the local paths."""
    sess = sess or session(region)
    gen = GeneratorStack.load(stack, region, sess)
    keys = output_objects(job_id, gen, sess=sess)
    if not keys:
        job = describe_job(job_id, sess=sess)
        raise CosmosError(
            f"Job {job_id} has no outputs yet (status {job.get('status')}).",
            f"Wait for it: cosmosctl generate wait {job_id}",
        )
    s3 = sess.client("s3")
    target_root = out_dir / job_id.replace(":", "_")
    base = f"{gen.output_prefix}{job_id.partition(':')[0]}"
    paths: list[Path] = []
    with aws_errors(f"download outputs from s3://{gen.bucket}/{base}/"):
        for key in keys:
            relative = PurePosixPath(key[len(base) :].lstrip("/:").replace(":", "_"))
            if ".." in relative.parts:
                continue  # never write outside out_dir, whatever is in the bucket
            dest = target_root.joinpath(*relative.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(gen.bucket, key, str(dest))
            paths.append(dest)
    return paths


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

StackOpt = Annotated[str, typer.Option(help="CloudFormation stack of the generator.")]
RegionOpt = Annotated[str | None, typer.Option(help="AWS region of the stack (default: your profile's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("submit")
@handle_errors
def submit_command(
    prompt: Annotated[str | None, typer.Option(help="Text prompt for one video.")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="JSONL file, one job spec per line: submits an array job.")
    ] = None,
    image: Annotated[str | None, typer.Option(help="Conditioning image (local file or s3:// URI).")] = None,
    video: Annotated[str | None, typer.Option(help="Conditioning video (local MP4 or s3:// URI).")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="What the video should not show.")] = None,
    frames: Annotated[
        int | None, typer.Option(help="Number of frames, 1 or 4k+1 up to 189 (num_frames).")
    ] = None,
    height: Annotated[int | None, typer.Option(help="Height in pixels (multiple of 16).")] = None,
    width: Annotated[int | None, typer.Option(help="Width in pixels (multiple of 16).")] = None,
    fps: Annotated[float | None, typer.Option(help="Frames per second of the output.")] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale (1 = none, up to 30).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: random, recorded in the metadata).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Generator model: nano or super.")] = None,
    precision: Annotated[str | None, typer.Option(help="bf16, fp8 (FP8 GEMMs) or fp32.")] = None,
    offload: Annotated[str | None, typer.Option(help="none, model, group or sequential offload.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Job performance option KEY=VALUE (VALUE as JSON if it parses), "
            "e.g. -o compile=default -o vae_tiling=true.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Batch job name (default: cosmosctl-<time>-<id>)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_ARRAY_SIZE,
            help="Containers that share a manifest, each loading the model once (default: one per GPU "
            "the queue can run at once, at most one per line).",
        ),
    ] = None,
    stack: StackOpt = GENERATOR_STACK,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload inputs and submit a single (--prompt) or manifest (--manifest) generation job."""
    defaults = {
        "negative_prompt": negative_prompt, "num_frames": frames, "height": height, "width": width,
        "fps": fps, "steps": steps, "guidance": guidance, "seed": seed, "model": model,
        "precision": precision, "offload": offload,
    }  # fmt: skip
    defaults = {k: v for k, v in defaults.items() if v is not None} | parse_options(option or [])
    specs, base_dir = load_specs(
        prompt=prompt, manifest=manifest, image=image, video=video, defaults=defaults
    )
    result = submit(specs, base_dir, stack=stack, region=region, name=name, workers=workers)
    if as_json:
        print_json(result)
        return
    err.print(
        f"Submitted {result['videos']} video(s) to {result['workers']} worker(s), each loading the model "
        f"once (attempt timeout {result['attempt_timeout_s']} s; spec {result['spec_uri']})"
    )
    err.print(f"Outputs will land in {result['output_uri']}")
    err.print(f"Follow it: cosmosctl generate wait {result['job_id']}")
    typer.echo(result["job_id"])


@app.command("status")
@handle_errors
def status_command(
    job_id: Annotated[str, typer.Argument(help="Batch job id printed by submit.")],
    stack: StackOpt = GENERATOR_STACK,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a job's status (and its array children's counts)."""
    del stack  # the job id is enough; kept for a uniform interface
    sess = session(region)
    summary = _job_summary(describe_job(job_id, sess=sess))
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False, box=None)
    for key, value in summary.items():
        if value is not None:
            table.add_row(f"[bold]{key.replace('_', ' ')}[/]", escape(str(value)))
    out.print(table)


@app.command("wait")
@handle_errors
def wait_command(
    job_id: Annotated[str, typer.Argument(help="Batch job id printed by submit.")],
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between status checks.")] = 15.0,
    timeout: Annotated[float | None, typer.Option(min=0.0, help="Give up after this many seconds.")] = None,
    stack: StackOpt = GENERATOR_STACK,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait for a job to finish, with a progress bar over array children."""
    del stack
    sess = session(region)
    started = time.monotonic()
    job = describe_job(job_id, sess=sess)
    total, ok, failed = progress_counts(job)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        task = progress.add_task(job_id, total=total, completed=ok + failed, detail="")
        while True:
            total, ok, failed = progress_counts(job)
            status = job.get("status", "?")
            detail = f"{status}" + (f", {failed} failed" if failed else "")
            progress.update(task, total=total, completed=ok + failed, detail=detail)
            if status in TERMINAL:
                break
            if timeout is not None and time.monotonic() - started > timeout:
                raise CosmosError(
                    f"Job {job_id} still {status} after {timeout:g} s.",
                    "GPU instances start from zero: the first job waits minutes for capacity. "
                    "Run wait again.",
                    exit_code=2,
                )
            time.sleep(interval)
            job = describe_job(job_id, sess=sess)
    summary = _job_summary(job)
    if as_json:
        print_json(summary)
    if job.get("status") == "FAILED" or summary["failed"]:
        reason = job.get("statusReason") or "see the job's CloudWatch logs"
        raise CosmosError(
            f"Job {job_id} finished with {summary['failed']} of {summary['total']} failed: {reason}",
            f"Fetch what succeeded and any <index>.error.json: cosmosctl generate fetch {job_id}",
        )
    if not as_json:
        unit = "worker(s)" if summary.get("array_size") else "job"
        err.print(
            f"Done: {summary['succeeded']} {unit} succeeded. Download: cosmosctl generate fetch {job_id}"
        )


@app.command("fetch")
@handle_errors
def fetch_command(
    job_id: Annotated[str, typer.Argument(help="Batch job id printed by submit.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to download into.")] = Path(
        "cosmos-outputs"
    ),
    stack: StackOpt = GENERATOR_STACK,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a job's MP4s and metadata JSON to --out/<job id>/."""
    paths = fetch_outputs(job_id, out_dir, stack=stack, region=region)
    if as_json:
        print_json({"job_id": job_id, "files": [str(p) for p in paths]})
        return
    for p in paths:
        typer.echo(str(p))
    videos = sum(1 for p in paths if p.suffix == ".mp4")
    errors = sum(1 for p in paths if p.name.endswith(".error.json"))
    err.print(f"{videos} video(s), {len(paths)} file(s)" + (f", {errors} spec error(s)" if errors else ""))


@app.command("list")
@handle_errors
def list_command(
    limit: Annotated[int, typer.Option(min=1, help="Most jobs to show, newest first.")] = 20,
    since_days: Annotated[
        float, typer.Option(min=0.01, help="Only jobs created in the last N days (Batch keeps ~7 days).")
    ] = 14.0,
    stack: StackOpt = GENERATOR_STACK,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List generation jobs on the stack's job queue (any submitter), newest first."""
    sess = session(region)
    gen = GeneratorStack.load(stack, region, sess)
    batch = sess.client("batch")
    jobs: list[dict[str, Any]] = []
    # With a filter Batch returns jobs in every status (jobStatus is ignored); the queue is the
    # stack's own, so every job on it is a generation job, whoever submitted it.
    since_ms = int((time.time() - since_days * 86400) * 1000)
    request: dict[str, Any] = {
        "jobQueue": gen.job_queue,
        "filters": [{"name": "AFTER_CREATED_AT", "values": [str(since_ms)]}],
    }
    with aws_errors("list Batch jobs"):
        while True:
            page = batch.list_jobs(**request)
            jobs.extend(page.get("jobSummaryList", []))
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
    # Array children (id "<parent>:<index>") belong to their parent's row.
    jobs = [j for j in jobs if ":" not in j["jobId"]]
    jobs.sort(key=lambda j: j.get("createdAt", 0), reverse=True)
    jobs = jobs[:limit]
    rows = [
        {
            "job_id": j["jobId"],
            "job_name": j.get("jobName"),
            "status": j.get("status"),
            "array_size": (j.get("arrayProperties") or {}).get("size"),
            "created_at": _ms(j.get("createdAt")),
        }
        for j in jobs
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print(
            f"No jobs on this queue in the last {since_days:g} days. "
            "Submit one: cosmosctl generate submit --prompt '...'"
        )
        return
    table = Table("job id", "name", "status", "videos", "created")
    for r in rows:
        table.add_row(
            r["job_id"], r["job_name"] or "", r["status"] or "", str(r["array_size"] or 1), r["created_at"]
        )
    out.print(table)
