"""Batch job entrypoint: render one job-spec item to ``<prefix><job id>/<index>.mp4`` plus metadata.

Run as ``python -m cosmos_generator``. See docs/generate.md for the spec, the environment and the
exit codes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from .io import S3, OutputKeys
from .pipeline import LoadedPipeline, LoadRequest, ModelAccessError, default_device, get_pipeline
from .spec import (
    CHECKPOINT_SPATIAL_FACTOR,
    CHECKPOINT_TEMPORAL_FACTOR,
    JobSpec,
    SpecError,
    check_geometry,
    parse_spec,
    select_item,
)

# Exit codes. The Batch job definition retries only host failures (onStatusReason "Host EC2*") and
# EXITs on everything else, so each deterministic failure below ends the job at once.
EXIT_OK = 0  # rendered, or already rendered by an earlier attempt (skipped)
EXIT_INTERNAL = 1  # unexpected error; <index>.error.json says what
EXIT_INVALID_SPEC = 64  # the spec or its inputs can never work: unknown field, bad size, missing object
EXIT_MODEL_ACCESS = 65  # HF_TOKEN missing/invalid or without access to the gated model repository
EXIT_CONTENT_BLOCKED = 66  # the Cosmos guardrail refused the prompt or the generated video
EXIT_CONFIG = 78  # the job's environment is incomplete (no OUTPUT_BUCKET, no spec source, ...)

ERROR_KINDS = {
    EXIT_INTERNAL: "internal",
    EXIT_INVALID_SPEC: "invalid_spec",
    EXIT_MODEL_ACCESS: "model_access",
    EXIT_CONTENT_BLOCKED: "content_blocked",
    EXIT_CONFIG: "config",
}

_GUARDRAIL_MESSAGE = "Cosmos Guardrail detected"


class ConfigError(RuntimeError):
    """The container's environment does not say what to do."""


class ContentBlocked(RuntimeError):
    """The safety checker refused the prompt or the result."""


class JsonLog:
    """One JSON object per line on stdout, for CloudWatch Logs Insights."""

    def __init__(self, stream: TextIO, **context: Any) -> None:
        self.stream = stream
        self.context = context
        self.timings: dict[str, float] = {}

    def event(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "event": event}
        record.update(self.context)
        record.update(fields)
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()

    @contextlib.contextmanager
    def phase(self, name: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """Time a phase; the yielded dict's items are added to its log line."""
        extra: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            yield extra
        except BaseException as err:
            seconds = round(time.perf_counter() - start, 3)
            self.timings[name] = seconds
            self.event("phase", level="error", phase=name, status="failed", seconds=seconds, error=str(err))
            raise
        seconds = round(time.perf_counter() - start, 3)
        self.timings[name] = seconds
        self.event("phase", phase=name, status="ok", seconds=seconds, **fields, **extra)


_EXIT_FOR = (
    (SpecError, EXIT_INVALID_SPEC),
    (ModelAccessError, EXIT_MODEL_ACCESS),
    (ContentBlocked, EXIT_CONTENT_BLOCKED),
    (ConfigError, EXIT_CONFIG),
)


@dataclass(frozen=True)
class JobEnv:
    """What the container's environment says about this item."""

    spec_inline: str | None
    spec_uri: str | None
    job_id: str
    index: int
    is_array: bool
    bucket: str
    prefix: str
    revision: str
    token: str | None = dataclasses.field(repr=False)  # the HF token: never in a repr or log
    safety_checker: bool
    loader: str | None
    # Deployment-wide defaults for spec fields a spec leaves out (the stack sets them from the
    # generatorModel / generatorPrecision / generatorOffload settings).
    spec_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> JobEnv:
        spec_inline = env.get("JOB_SPEC") or None
        spec_uri = env.get("JOB_SPEC_URI") or None
        if bool(spec_inline) == bool(spec_uri):
            raise ConfigError("set exactly one of JOB_SPEC (inline JSON) and JOB_SPEC_URI (s3:// URI)")
        raw_job_id = env.get("AWS_BATCH_JOB_ID") or env.get("JOB_ID")
        if not raw_job_id:
            raise ConfigError("no job id: AWS_BATCH_JOB_ID (set by Batch) or JOB_ID must be set")
        # Array children's ids are "<parent id>:<index>"; all items of a job share the parent's folder.
        job_id = raw_job_id.split(":", 1)[0]
        raw_index = env.get("AWS_BATCH_JOB_ARRAY_INDEX")
        try:
            index = int(raw_index) if raw_index not in (None, "") else 0
        except ValueError:
            raise ConfigError(f"AWS_BATCH_JOB_ARRAY_INDEX must be an integer, got {raw_index!r}") from None
        bucket = env.get("OUTPUT_BUCKET", "")
        if not bucket:
            raise ConfigError("OUTPUT_BUCKET is not set")
        prefix = env.get("OUTPUT_PREFIX", "outputs/").lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        safety = env.get("SAFETY_CHECKER", "on").strip().lower()
        if safety not in {"on", "off"}:
            raise ConfigError(f"SAFETY_CHECKER must be 'on' or 'off', got {safety!r}")
        return cls(
            spec_inline=spec_inline,
            spec_uri=spec_uri,
            job_id=job_id,
            index=index,
            is_array=raw_index not in (None, ""),
            bucket=bucket,
            prefix=prefix,
            revision=env.get("MODEL_REVISION") or "main",
            token=env.get("HF_TOKEN") or None,
            safety_checker=safety == "on",
            loader=env.get("PIPELINE_LOADER") or None,
            spec_defaults={
                field: env[var]
                for field, var in (
                    ("model", "GENERATOR_MODEL"),
                    ("precision", "GENERATOR_PRECISION"),
                    ("offload", "GENERATOR_OFFLOAD"),
                    ("compile", "GENERATOR_COMPILE"),
                    ("compile_cache_dir", "GENERATOR_COMPILE_CACHE_DIR"),
                )
                if env.get(var)
            },
        )


def _applicable_defaults(
    defaults: Mapping[str, str], item: Any, extra_names: frozenset[str]
) -> dict[str, str]:
    """The deployment defaults that apply to this spec.

    Performance defaults need the accel module; the compile default yields to a spec that streams
    weights (group/sequential offload cannot be compiled), so such a spec needs no compile=none.
    """
    applicable = {
        k: v for k, v in defaults.items() if k in ("model", "precision", "offload") or k in extra_names
    }
    offload = item.get("offload", applicable.get("offload")) if isinstance(item, dict) else None
    if offload in ("group", "sequential") and "compile" not in (item or {}):
        applicable.pop("compile", None)
    return applicable


def _import_accel() -> ModuleType | None:
    """The performance module is optional in the image; any other import error is a real bug."""
    try:
        from . import accel
    except ModuleNotFoundError as err:
        if err.name != f"{__package__}.accel":
            raise
        return None
    return accel


def _accel_option_names(accel: ModuleType | None) -> frozenset[str]:
    """Spec fields that accel defines beyond the spec's own (precision and offload)."""
    if accel is None:
        return frozenset()
    import dataclasses

    return frozenset(f.name for f in dataclasses.fields(accel.AccelOptions)) - {"precision", "offload"}


def run(environ: Mapping[str, str], *, s3_client: Any = None, stdout: TextIO | None = None) -> int:
    """Render one item; return the process exit code."""
    log = JsonLog(stdout or sys.stdout)
    try:
        env = JobEnv.from_environ(environ)
    except ConfigError as err:
        log.event("failed", level="error", kind="config", exit_code=EXIT_CONFIG, message=str(err))
        return EXIT_CONFIG
    log.context.update(job_id=env.job_id, index=env.index)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    s3 = S3(s3_client)
    keys = OutputKeys(bucket=env.bucket, prefix=env.prefix, job_id=env.job_id, index=env.index)
    job = _Job(env=env, s3=s3, keys=keys, log=log)
    try:
        return job.run()
    except Exception as err:
        return job.fail(next((code for kind, code in _EXIT_FOR if isinstance(err, kind)), EXIT_INTERNAL), err)


@dataclass
class _Job:
    env: JobEnv
    s3: S3
    keys: OutputKeys
    log: JsonLog
    raw_item: Any = None
    spec: JobSpec | None = None

    def run(self) -> int:
        env, keys, log = self.env, self.keys, self.log
        started = datetime.now(UTC)
        if self.s3.exists(keys.bucket, keys.metadata):
            # The metadata JSON is written last: its presence means an earlier attempt finished.
            log.event("skipped", reason="already rendered", metadata=keys.uri(keys.metadata))
            return EXIT_OK

        accel = _import_accel()
        extra_names = _accel_option_names(accel)
        with log.phase("read_spec", source=env.spec_uri or "JOB_SPEC"):
            text = (
                env.spec_inline
                if env.spec_inline is not None
                else self.s3.read_text(env.spec_uri, "job spec")
            )
            self.raw_item = select_item(text, env.index, is_array=env.is_array)
            spec = self.spec = parse_spec(
                self.raw_item,
                extra_option_names=extra_names,
                defaults=_applicable_defaults(env.spec_defaults, self.raw_item, extra_names),
            )
            if env.loader is None:
                # Fail before minutes of weight loading when the real checkpoints cannot render this size.
                check_geometry(
                    spec, spatial_factor=CHECKPOINT_SPATIAL_FACTOR, temporal_factor=CHECKPOINT_TEMPORAL_FACTOR
                )
            for name in ("image", "video"):
                uri = getattr(spec, name)
                if uri is not None:
                    self.s3.check_input(uri, f"conditioning {name}")
            options = spec.optimization_options()
            if accel is None:
                if spec.needs_accel():
                    raise SpecError(
                        f"{', '.join(spec.needs_accel())} requested, but this image has no "
                        "cosmos_generator.accel module to apply it"
                    )
            else:
                try:
                    accel.AccelOptions.from_mapping(options)  # option errors before the model loads
                except ValueError as err:
                    raise SpecError(f"performance options rejected: {err}") from None

        import torch

        device = default_device()
        request = LoadRequest(
            model_id=spec.model_id,
            revision=env.revision,
            precision=spec.load_precision,
            offload=spec.offload,
            device=device,
            token=env.token,
            enable_safety_checker=env.safety_checker,
            options=json.dumps(options, sort_keys=True) if accel is not None else "{}",
        )

        def prepare(pipe: Any) -> Any:
            with log.phase("optimize", options=options):
                try:
                    return accel.apply_optimizations(pipe, options)
                except ValueError as err:  # accel.AccelError: cannot apply on this machine
                    raise SpecError(f"performance options rejected: {err}") from err

        with log.phase("load_model", model_id=spec.model_id, revision=env.revision, device=device) as info:
            loaded = get_pipeline(
                request,
                env.loader,
                offload_here=accel is None,
                prepare=prepare if accel is not None else None,
            )
            info.update(resolved_revision=loaded.revision, loader=loaded.loader)
        pipe = loaded.pipe
        optimizations = loaded.optimizations
        check_geometry(
            spec,
            spatial_factor=int(pipe.vae_scale_factor_spatial),
            temporal_factor=int(pipe.vae_scale_factor_temporal),
        )

        with tempfile.TemporaryDirectory(prefix="cosmos-job-") as tmp_name:
            tmp = Path(tmp_name)
            with log.phase("fetch_inputs"):
                image, video = self._load_inputs(spec, tmp)

            seed = spec.seed if spec.seed is not None else secrets.randbelow(2**63)
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            steps_done: list[float] = []

            def on_step_end(_pipe: Any, step: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
                steps_done.append(time.perf_counter())
                return kwargs

            with log.phase("generate", seed=seed, steps=spec.steps) as info:
                start = time.perf_counter()
                frames = self._generate(pipe, spec, seed, image, video, on_step_end, torch)
                if device == "cuda":
                    torch.cuda.synchronize()
                end = time.perf_counter()
                if steps_done:
                    # The last step callback marks the end of denoising; decode and safety check follow.
                    log.timings["denoise"] = round(steps_done[-1] - start, 3)
                    log.timings["decode_and_check"] = round(end - steps_done[-1], 3)
                    info.update(denoise_seconds=log.timings["denoise"])
            peak = torch.cuda.max_memory_allocated() if device == "cuda" else None

            video_path = tmp / f"{env.index}.mp4"
            with log.phase("encode_mp4") as info:
                _export_mp4(frames, video_path, spec.fps)
                info.update(bytes=video_path.stat().st_size)
            with log.phase("upload", key=keys.video):
                self.s3.put_file(keys.bucket, keys.video, video_path, "video/mp4")
                metadata = self._metadata(
                    loaded, spec, seed, frames, video_path, peak, optimizations, started
                )
                # Last write, the commit marker: a retried attempt that finds it skips the item.
                self.s3.put_json(keys.bucket, keys.metadata, metadata)
        with contextlib.suppress(Exception):
            if self.s3.exists(keys.bucket, keys.error):
                self.s3.delete(keys.bucket, keys.error)  # a stale failure from an earlier attempt
        log.event(
            "succeeded", video=keys.uri(keys.video), metadata=keys.uri(keys.metadata), timings=log.timings
        )
        return EXIT_OK

    def _load_inputs(self, spec: JobSpec, tmp: Path) -> tuple[Any, Any]:
        image = video = None
        if spec.image is not None:
            from PIL import Image, UnidentifiedImageError

            path = self.s3.download(spec.image, tmp)
            try:
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
            except (UnidentifiedImageError, OSError) as err:
                raise SpecError(f"conditioning image {spec.image} is not a readable image: {err}") from None
        if spec.video is not None:
            from diffusers.utils import load_video

            path = self.s3.download(spec.video, tmp)
            try:
                video = load_video(str(path))
            except Exception as err:
                raise SpecError(f"conditioning video {spec.video} is not a readable video: {err}") from None
            if not video:
                raise SpecError(f"conditioning video {spec.video} has no frames")
        return image, video

    def _generate(
        self, pipe: Any, spec: JobSpec, seed: int, image: Any, video: Any, on_step_end: Any, torch: Any
    ) -> Any:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        try:
            output = pipe(
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                image=image,
                video=video,
                num_frames=spec.num_frames,
                height=spec.height,
                width=spec.width,
                fps=spec.fps,
                num_inference_steps=spec.steps,
                guidance_scale=spec.guidance,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step_end,
            )
        except ValueError as err:
            if _GUARDRAIL_MESSAGE in str(err):
                # The prompt check's message quotes the prompt; keep logs to the verdict.
                raise ContentBlocked(str(err).split(":")[0]) from None
            raise SpecError(f"the pipeline rejected the spec: {err}") from err
        return output.video

    def _metadata(
        self,
        loaded: LoadedPipeline,
        spec: JobSpec,
        seed: int,
        frames: Any,
        video_path: Path,
        peak: int | None,
        optimizations: Any,
        started: datetime,
    ) -> dict[str, Any]:
        import diffusers
        import torch
        import transformers

        keys = self.keys
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        return {
            "status": "succeeded",
            "job_id": self.env.job_id,
            "index": self.env.index,
            "array_job": self.env.is_array,
            "spec": spec.to_dict(),
            "seed": seed,
            "model": {
                "name": spec.model,
                "id": loaded.model_id,
                "revision": loaded.revision,
                "loader": loaded.loader,
            },
            "safety_checker": getattr(loaded.pipe, "safety_checker", None) is not None,
            "output": {
                "video": keys.uri(keys.video),
                "frames": len(frames),
                "height": int(frames[0].shape[0]),
                "width": int(frames[0].shape[1]),
                "fps": spec.fps,
                "bytes": video_path.stat().st_size,
            },
            "gpu": {
                "name": gpu,
                "count": torch.cuda.device_count(),
                "peak_memory_bytes": peak,
                "peak_memory_gib": round(peak / 2**30, 2) if peak is not None else None,
            },
            "optimizations": optimizations if _is_jsonable(optimizations) else repr(optimizations),
            "timings_s": dict(self.log.timings),
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "diffusers": diffusers.__version__,
                "transformers": transformers.__version__,
            },
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
        }

    def fail(self, code: int, err: BaseException) -> int:
        kind = ERROR_KINDS[code]
        message = " ".join(str(err).split()) or type(err).__name__  # one line
        self.log.event(
            "failed", level="error", kind=kind, exit_code=code, message=message, error_type=type(err).__name__
        )
        document = {
            "status": "failed",
            "kind": kind,
            "exit_code": code,
            "message": message,
            "error_type": type(err).__name__,
            "job_id": self.env.job_id,
            "index": self.env.index,
            "item": self.raw_item,
            "timings_s": dict(self.log.timings),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.s3.put_json(self.keys.bucket, self.keys.error, document)
        except Exception as put_err:
            self.log.event("error_json_not_written", level="error", message=str(put_err))
        if code == EXIT_INTERNAL:
            import traceback

            traceback.print_exception(err, file=sys.stderr)
        return code


def _export_mp4(frames: Any, path: Path, fps: float) -> None:
    from diffusers.utils import export_to_video

    # macro_block_size 2: H.264 in yuv420p needs even sizes; our sizes are multiples of the VAE
    # factor, so nothing is rescaled (imageio's default 16 would upscale e.g. 720 -> 736).
    tmp = path.with_suffix(".partial.mp4")
    export_to_video(list(frames), str(tmp), fps=fps, macro_block_size=2)
    os.replace(tmp, path)


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def main() -> None:
    sys.exit(run(os.environ))
