"""Batch job entrypoint: render a share of a manifest to ``<prefix><job id>/<index>.mp4`` plus metadata.

The pipeline is loaded (and compiled) once per container and renders every item of the worker's
share; see ``_Worker``.

Run as ``python -m cosmos_generator``. See docs/generate.md for the spec, the environment and the
exit codes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from .io import S3, OutputKeys
from .pipeline import (
    LoadedPipeline,
    LoadRequest,
    ModelAccessError,
    RevisionError,
    cached_pipeline,
    default_device,
    get_pipeline,
)
from .spec import (
    CHECKPOINT_SPATIAL_FACTOR,
    CHECKPOINT_TEMPORAL_FACTOR,
    JobSpec,
    SpecError,
    check_geometry,
    decode_item,
    parse_spec,
    split_items,
)

# Exit codes of a worker. The Batch job definition retries only host failures (onStatusReason
# "Host EC2*") and EXITs on everything else, so no code below makes Batch re-run the worker. A
# failed item writes <index>.error.json and the worker goes on with its next item; the exit code is
# then the most serious item failure (1 > 66 > 64). Model access (65), a bad revision (64) and a bad
# environment (78) concern every item: the worker stops at once.
EXIT_OK = 0  # every item rendered, or already rendered by an earlier attempt (skipped)
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
    """One JSON object per line on stdout, for CloudWatch Logs Insights.

    ``child`` makes a log for one item that shares the stream (and its lock: the upload of one
    item logs from a background thread while the next item renders) but keeps its own timings.
    """

    def __init__(self, stream: TextIO, lock: threading.Lock | None = None, **context: Any) -> None:
        self.stream = stream
        self.lock = lock or threading.Lock()
        self.context = context
        self.timings: dict[str, float] = {}

    def child(self, **context: Any) -> JsonLog:
        return JsonLog(self.stream, self.lock, **{**self.context, **context})

    def event(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "event": event}
        record.update(self.context)
        record.update(fields)
        line = json.dumps(record, default=str) + "\n"
        with self.lock:
            self.stream.write(line)
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


def exit_code_for(err: BaseException) -> int:
    return next((code for kind, code in _EXIT_FOR if isinstance(err, kind)), EXIT_INTERNAL)


class WorkerFatal(RuntimeError):
    """A failure that every later item would hit too (no model access, a bad revision): stop."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class JobEnv:
    """What the container's environment says about this worker."""

    spec_inline: str | None
    spec_uri: str | None
    job_id: str
    index: int  # the array index: the worker's number (or, without WORKERS, the one item)
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
    # WORKERS=K (set by cosmosctl generate submit): this array child renders the manifest items
    # i with i % K == index. Unset: an array child renders line <index>, a single job every line.
    workers: int | None = None

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
        raw_workers = env.get("WORKERS")
        try:
            workers = int(raw_workers) if raw_workers not in (None, "") else None
        except ValueError:
            raise ConfigError(f"WORKERS must be an integer, got {raw_workers!r}") from None
        if workers is not None and not 0 <= index < workers:
            raise ConfigError(f"WORKERS={workers} but this is array child {index}: need 0 <= index < WORKERS")
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
            workers=workers,
        )

    def my_items(self, count: int) -> list[int]:
        """The manifest indices this container renders, in order."""
        if self.workers is not None:
            return list(range(self.index, count, self.workers))
        if self.is_array:
            return [self.index]  # one array child per line (may be out of range: its own error)
        return list(range(count))


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
    return frozenset(f.name for f in dataclasses.fields(accel.AccelOptions)) - {"precision", "offload"}


def run(environ: Mapping[str, str], *, s3_client: Any = None, stdout: TextIO | None = None) -> int:
    """Render this worker's items; return the process exit code (see ``_Worker.exit_code``)."""
    log = JsonLog(stdout or sys.stdout)
    try:
        env = JobEnv.from_environ(environ)
    except ConfigError as err:
        log.event("failed", level="error", kind="config", exit_code=EXIT_CONFIG, message=str(err))
        return EXIT_CONFIG
    log.context.update(job_id=env.job_id, worker=env.index)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    worker = _Worker(env=env, s3=S3(s3_client), log=log, environ=environ)
    return worker.run()


@dataclass
class _Outcome:
    index: int
    status: str  # succeeded | skipped | failed
    code: int = EXIT_OK


@dataclass
class _Worker:
    """Loads the pipeline once and renders its share of the manifest, one item at a time.

    Each video is encoded and uploaded in a background thread while the next one denoises, and
    committed (metadata JSON written last) as soon as it is done, so a worker lost to Spot loses
    only the videos in flight. A bad item writes ``<index>.error.json`` and the worker goes on.
    """

    env: JobEnv
    s3: S3
    log: JsonLog
    environ: Mapping[str, str]
    outcomes: list[_Outcome] = dataclasses.field(default_factory=list)
    accel: ModuleType | None = None
    extra_names: frozenset[str] = frozenset()
    weights: list[Any] | None = None
    load_seconds: float | None = None

    def keys(self, index: int) -> OutputKeys:
        return OutputKeys(bucket=self.env.bucket, prefix=self.env.prefix, job_id=self.env.job_id, index=index)

    def run(self) -> int:
        env, log = self.env, self.log
        started = time.perf_counter()
        try:
            with log.phase("read_spec", source=env.spec_uri or "JOB_SPEC") as info:
                text = (
                    env.spec_inline
                    if env.spec_inline is not None
                    else self.s3.read_text(env.spec_uri, "job spec")
                )
                raw_items = split_items(text, is_array=env.is_array or env.workers is not None)
                indices = env.my_items(len(raw_items))
                info.update(items=len(raw_items), mine=len(indices))
        except Exception as err:
            # Nothing can be rendered; the worker's first item (its index) carries the error.
            code = exit_code_for(err)
            self._fail_item(self.keys(env.index), log, code, err, None)
            return code
        self.accel = _import_accel()
        self.extra_names = _accel_option_names(self.accel)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish") as finisher:
            pending: Future[_Outcome] | None = None
            fatal: WorkerFatal | None = None
            for index in indices:
                item_log = log.child(index=index)
                try:
                    job = self._render(index, raw_items, item_log)
                except WorkerFatal as err:
                    fatal = err
                    self.outcomes.append(_Outcome(index, "failed", exit_code_for(err.cause)))
                    break
                if isinstance(job, _Outcome):
                    self.outcomes.append(job)
                    continue
                if pending is not None:
                    self.outcomes.append(pending.result())  # at most one video waits for upload
                pending = finisher.submit(job)
            if pending is not None:
                self.outcomes.append(pending.result())
        counts = {s: sum(o.status == s for o in self.outcomes) for s in ("succeeded", "skipped", "failed")}
        code = fatal_code = exit_code_for(fatal.cause) if fatal is not None else None
        if code is None:
            code = self.exit_code()
        log.event(
            "worker_done",
            level="info" if code == EXIT_OK else "error",
            exit_code=code,
            items=len(indices),
            **counts,
            not_started=len(indices) - len(self.outcomes),
            fatal=str(fatal) if fatal_code is not None else None,
            load_model_s=self.load_seconds,
            wall_s=round(time.perf_counter() - started, 3),
        )
        return code

    def exit_code(self) -> int:
        """0 when every item is rendered (or was already); else the most serious item failure.

        Order: an unexpected error (1) over a blocked prompt or video (66) over a bad spec (64).
        Batch retries only host failures, so no code here makes it re-run the worker.
        """
        codes = {o.code for o in self.outcomes if o.status == "failed"}
        for code in (EXIT_INTERNAL, EXIT_CONTENT_BLOCKED, EXIT_INVALID_SPEC, EXIT_MODEL_ACCESS, EXIT_CONFIG):
            if code in codes:
                return code
        return EXIT_OK

    # -- one item -------------------------------------------------------------------------------

    def _render(self, index: int, raw_items: list[Any], log: JsonLog) -> _Outcome | Callable[[], _Outcome]:
        """Render item ``index`` up to its frames; return the upload step to run in the background.

        Returns an _Outcome instead when the item is skipped or failed. Raises WorkerFatal when
        the failure concerns every item (model access, a bad revision, the job's environment).
        """
        env, keys = self.env, self.keys(index)
        started = datetime.now(UTC)
        raw_item: Any = None
        try:
            if self.s3.exists(keys.bucket, keys.metadata):
                # The metadata JSON is written last: its presence means an earlier attempt finished.
                log.event("skipped", reason="already rendered", metadata=keys.uri(keys.metadata))
                return _Outcome(index, "skipped")
            with log.phase("check_spec"):
                if not 0 <= index < len(raw_items):
                    raise SpecError(
                        f"array index {index} out of range: the manifest holds {len(raw_items)} line(s)"
                    )
                raw_item = decode_item(
                    raw_items[index], index, is_manifest=len(raw_items) > 1 or env.is_array
                )
                spec, options = self._parse(raw_item)
            loaded = self._load(spec, options, log)
            pipe = loaded.pipe
            check_geometry(
                spec,
                spatial_factor=int(pipe.vae_scale_factor_spatial),
                temporal_factor=int(pipe.vae_scale_factor_temporal),
            )
            frames, seed, peak = self._generate_item(pipe, spec, index, log)
        except WorkerFatal as err:
            self._fail_item(keys, log, exit_code_for(err.cause), err.cause, raw_item)
            raise
        except Exception as err:
            code = self._fail_item(keys, log, exit_code_for(err), err, raw_item)
            return _Outcome(index, "failed", code)

        def finish() -> _Outcome:
            try:
                with tempfile.TemporaryDirectory(prefix="cosmos-job-") as tmp_name:
                    video_path = Path(tmp_name) / f"{index}.mp4"
                    with log.phase("encode_mp4") as info:
                        _export_mp4(frames, video_path, spec.fps)
                        info.update(bytes=video_path.stat().st_size)
                    with log.phase("upload", key=keys.video):
                        self.s3.put_file(keys.bucket, keys.video, video_path, "video/mp4")
                        metadata = self._metadata(
                            keys, loaded, spec, seed, frames, video_path, peak, started, log
                        )
                        # Last write, the commit marker: a retried attempt that finds it skips the item.
                        self.s3.put_json(keys.bucket, keys.metadata, metadata)
                with contextlib.suppress(Exception):
                    if self.s3.exists(keys.bucket, keys.error):
                        self.s3.delete(keys.bucket, keys.error)  # a stale failure from an earlier attempt
            except Exception as err:
                code = self._fail_item(keys, log, exit_code_for(err), err, raw_item)
                return _Outcome(index, "failed", code)
            log.event(
                "succeeded", video=keys.uri(keys.video), metadata=keys.uri(keys.metadata), timings=log.timings
            )
            return _Outcome(index, "succeeded")

        return finish

    def _parse(self, raw_item: Any) -> tuple[JobSpec, dict[str, Any]]:
        env, accel = self.env, self.accel
        spec = parse_spec(
            raw_item,
            extra_option_names=self.extra_names,
            defaults=_applicable_defaults(env.spec_defaults, raw_item, self.extra_names),
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
        return spec, options

    def _load(self, spec: JobSpec, options: dict[str, Any], log: JsonLog) -> LoadedPipeline:
        """The pipeline for this spec: loaded and compiled by the first item, reused by the rest."""
        env, accel = self.env, self.accel
        request = LoadRequest(
            model_id=spec.model_id,
            revision=env.revision,
            precision=spec.load_precision,
            offload=spec.offload,
            device=default_device(),
            token=env.token,
            enable_safety_checker=env.safety_checker,
            options=json.dumps(options, sort_keys=True) if accel is not None else "{}",
        )
        cached = cached_pipeline(request)
        if cached is not None:
            return cached
        try:
            if env.loader is None:
                self._prepare_weights(spec.model_id, log)
        except (ModelAccessError, ConfigError, RevisionError) as err:
            raise WorkerFatal(err) from err

        def prepare(pipe: Any) -> Any:
            with log.phase("optimize", options=options):
                try:
                    return accel.apply_optimizations(pipe, options)
                except ValueError as err:  # accel.AccelError: cannot apply on this machine
                    raise SpecError(f"performance options rejected: {err}") from err

        start = time.perf_counter()
        try:
            with log.phase(
                "load_model", model_id=spec.model_id, revision=env.revision, device=request.device
            ) as info:
                loaded = get_pipeline(
                    request,
                    env.loader,
                    offload_here=accel is None,
                    prepare=prepare if accel is not None else None,
                )
                info.update(resolved_revision=loaded.revision, loader=loaded.loader)
        except (ModelAccessError, RevisionError) as err:
            raise WorkerFatal(err) from err
        self.load_seconds = round(time.perf_counter() - start, 3)
        return loaded

    def _prepare_weights(self, model_id: str, log: JsonLog) -> None:
        """Host cache, else S3 mirror, else the Hub (access checked first); then load offline."""
        from . import pipeline as pipeline_module
        from .weights import WeightsCache, WeightsConfig, needs_for, set_offline

        env = self.env
        cache = WeightsCache(WeightsConfig.from_environ(self.environ), self.s3.client, log.event)
        needs = needs_for(model_id, env.revision, safety_checker=env.safety_checker)
        with log.phase("weights") as info:
            plan = cache.plan(needs)
            for need in plan.hub_needs:
                # Before anything is downloaded: a refusal names its repository, exit 65.
                pipeline_module.check_access(need.repo_id, need.revision, env.token)
            fetched = cache.fetch(
                plan, lambda need, hub_cache: pipeline_module.hub_download(need, hub_cache, env.token)
            )
            set_offline()
            self.weights = [
                {"repo": f.need.repo_id, "revision": f.need.revision, "commit": f.commit, "source": f.source,
                 "bytes": f.bytes, "seconds": f.seconds}
                for f in fetched
            ]  # fmt: skip
            info.update(sources={f.need.repo_id: f.source for f in fetched})

    def _generate_item(
        self, pipe: Any, spec: JobSpec, index: int, log: JsonLog
    ) -> tuple[Any, int, int | None]:
        import torch

        device = default_device()
        with tempfile.TemporaryDirectory(prefix="cosmos-in-") as tmp_name, log.phase("fetch_inputs"):
            image, video = self._load_inputs(spec, Path(tmp_name))
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
                steps = [b - a for a, b in itertools.pairwise(steps_done)]
                info.update(
                    denoise_seconds=log.timings["denoise"],
                    # to the first step's end: prompt encoding, latent set-up and one step
                    first_step_seconds=round(steps_done[0] - start, 3),
                    step_seconds_median=round(statistics.median(steps), 4) if steps else None,
                )
        peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
        return frames, seed, peak

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
                # "pt": the frames stay on the GPU until they are 8-bit (below), which is 4x less
                # to copy and keep in host RAM than float32 "np" frames (~0.9 GB at 480p).
                output_type="pt",
                callback_on_step_end=on_step_end,
            )
        except ValueError as err:
            if _GUARDRAIL_MESSAGE in str(err):
                # The prompt check's message quotes the prompt; keep logs to the verdict.
                raise ContentBlocked(str(err).split(":")[0]) from None
            raise SpecError(f"the pipeline rejected the spec: {err}") from err
        return _to_uint8_frames(output.video)

    def _metadata(
        self,
        keys: OutputKeys,
        loaded: LoadedPipeline,
        spec: JobSpec,
        seed: int,
        frames: Any,
        video_path: Path,
        peak: int | None,
        started: datetime,
        log: JsonLog,
    ) -> dict[str, Any]:
        import diffusers
        import torch
        import transformers

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        optimizations = loaded.optimizations
        return {
            "status": "succeeded",
            "job_id": self.env.job_id,
            "index": keys.index,
            "array_job": self.env.is_array,
            "worker": {
                "index": self.env.index,
                "workers": self.env.workers,
                "load_model_s": self.load_seconds,
            },
            "spec": spec.to_dict(),
            "seed": seed,
            "model": {
                "name": spec.model,
                "id": loaded.model_id,
                "revision": loaded.revision,
                "loader": loaded.loader,
            },
            "weights": self.weights,
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
            "timings_s": dict(log.timings),
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

    def _fail_item(self, keys: OutputKeys, log: JsonLog, code: int, err: BaseException, raw_item: Any) -> int:
        kind = ERROR_KINDS[code]
        message = " ".join(str(err).split()) or type(err).__name__  # one line
        log.event(
            "failed", level="error", kind=kind, exit_code=code, message=message, error_type=type(err).__name__
        )
        document = {
            "status": "failed",
            "kind": kind,
            "exit_code": code,
            "message": message,
            "error_type": type(err).__name__,
            "job_id": self.env.job_id,
            "index": keys.index,
            "item": raw_item,
            "timings_s": dict(log.timings),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.s3.put_json(keys.bucket, keys.error, document)
        except Exception as put_err:
            log.event("error_json_not_written", level="error", message=str(put_err))
        if code == EXIT_INTERNAL:
            import traceback

            traceback.print_exception(err, file=sys.stderr)
        return code


def _to_uint8_frames(video: Any) -> Any:
    """[T, C, H, W] floats in [0, 1] (output_type "pt") -> [T, H, W, 3] uint8 numpy frames.

    Truncates like diffusers' ``export_to_video`` (``(frame * 255).astype(np.uint8)``).
    """
    import torch

    return (video * 255).to(dtype=torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _export_mp4(frames: Any, path: Path, fps: float) -> None:
    import imageio

    # diffusers' export_to_video with 8-bit frames: imageio-ffmpeg's libx264, quality 5 (its
    # default). macro_block_size 2: H.264 in yuv420p needs even sizes; our sizes are multiples of
    # the VAE factor, so nothing is rescaled (imageio's default 16 would upscale e.g. 720 -> 736).
    tmp = path.with_suffix(".partial.mp4")
    with imageio.get_writer(str(tmp), fps=fps, quality=5.0, macro_block_size=2) as writer:
        for frame in frames:
            writer.append_data(frame)
    os.replace(tmp, path)


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def main() -> None:
    sys.exit(run(os.environ))
