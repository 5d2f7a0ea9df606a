#!/usr/bin/env python3
"""Generator benchmark: stock diffusers vs the accel paths, on one GPU, in one process.

Builds the full-size Cosmos3-Nano ``Cosmos3OmniPipeline`` with random weights locally
(``cosmos_generator.random_pipeline``), then for each resolution runs the paths in order, stock
first, on the same pipeline object and the same seed:

  stock               diffusers as shipped (dispatcher attention, BF16, eager)
  sdpa-<kernel>       BF16, eager, attention pinned to one torch SDPA kernel (cudnn/flash/efficient)
  bf16-regional       BF16 + regional torch.compile of the decoder block + best attention
  fp8                 FP8 linears (decoder blocks), eager, best attention
  fp8-regional        FP8 + regional compile + best attention
  fp8-regional-tiled  fp8-regional + VAE tiling + lm_head dropped (the low-memory path)
  stock-cudnnbench    stock + cudnn_benchmark (cuDNN picks the VAE's conv algorithms per shape)
  fp8-regional-cudnnbench  fp8-regional + cudnn_benchmark

``--decode-check N`` then re-decodes stock's decode input (captured in the stock path) N times
under each VAE setting (default, cudnn_benchmark, vae_channels_last, both): the first decode of a
setting that searches is cold (cuDNN's search included), later ones steady; each output's rel L2
against the default decode's.

Per path: seconds per denoising step (median over the timed steps, min/max, warm-up excluded),
the first call's overhead over two steady steps (compile time for compiled paths, with the cache
hit/miss counters), VAE decode time (paths that decode), peak GPU memory while denoising and
overall, and the relative L2 distance of the final latents from stock's at the same seed.

To spare GPU time it runs ``--steps`` denoising steps of a ``--steps``-step schedule (default 7:
2 warm-up + 5 timed) instead of 35; seconds per video = 35 x median s/step + decode. The per-step
cost does not depend on the schedule length.

``--warm-check`` then frees the GPU and re-runs the compiled paths in a fresh subprocess against
the same ``--cache-dir``: the first-call overhead there is what a later job pays with the cache on
EFS.

Usage (GPU machine; see docs/performance.md):

  python container/generator/bench.py run --resolutions 480p --warm-check --out bench-480p.json
  python container/generator/bench.py probe --out probe.json        # SDPA / FP8 GEMM micro-bench
  python container/generator/bench.py report a.json b.json --json docs/benchmarks/h100-DATE.json \
      --md docs/benchmarks/h100-DATE.md
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

RESOLUTIONS = {"256p": (256, 448), "480p": (480, 832), "720p": (720, 1280)}
STEPS_PER_VIDEO = 35
GUIDANCE = 6.0
FRAMES = 189
PROMPT = (
    "A robot arm in a bright kitchen slowly picks up a red cup from a white table and puts it down "
    "on the left, while the camera holds a static view of the scene; soft light from a window, "
    "a small green plant and a blue wall in the background."
)
PATH_ORDER = (
    "stock",
    "stock-cudnnbench",
    "sdpa-cudnn",
    "sdpa-flash",
    "sdpa-efficient",
    "bf16-regional",
    "bf16-regional-ts",
    "bf16-regional-fa4",
    "bf16-full",
    "job-default",
    "fp8",
    "fp8-regional",
    "fp8-regional-cudnnbench",
    "fp8-regional-ts",
    "fp8-regional-fa4",
    "fp8-regional-tiled",
    "bf16-offload-group",
)
DECODING_PATHS = {
    "stock",
    "job-default",
    "stock-cudnnbench",
    "bf16-regional-fa4",
    "fp8-regional",
    "fp8-regional-cudnnbench",
    "fp8-regional-fa4",
    "fp8-regional-tiled",
    "bf16-offload-group",
}
COMPILED_PATHS = {
    "job-default",
    "bf16-regional",
    "bf16-regional-ts",
    "bf16-regional-fa4",
    "bf16-full",
    "fp8-regional",
    "fp8-regional-cudnnbench",
    "fp8-regional-ts",
    "fp8-regional-fa4",
    "fp8-regional-tiled",
}
# VAE settings of --decode-check: name -> (cudnn_benchmark, vae_channels_last, vae_compile)
DECODE_SETTINGS = {
    "default": (False, False, False),
    "cudnn_benchmark": (True, False, False),
    "vae_channels_last": (False, True, False),
    "cudnn_benchmark+vae_channels_last": (True, True, False),
    "vae_compile": (False, False, True),
}
# AccelOptions fields that, set so, leave the pipeline exactly as diffusers ships it
STOCK_OPTIONS = {"attention_backend": "default", "shared_timestep_embedding": False}
GIB = 1024**3
DEVICE = "cuda"
# Which measured path each job-spec profile maps to (the reasoning: docs/performance.md).
RECOMMENDED = {
    "default": "bf16-regional-fa4",
    "cost": "fp8-regional-fa4",
    "low_memory": "fp8-regional-tiled",
    "no_fp8_small_gpu": "bf16-offload-group",
}


def _sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _mem(kind: str) -> int:
    import torch

    if DEVICE != "cuda":
        return 0
    return int(getattr(torch.cuda, kind)())


def path_options(
    name: str,
    attn: str,
    cache_dir: str | None,
    backend: str = "inductor",
    compile_mode: str | None = None,
) -> dict[str, Any]:
    """Accel options (cosmos_generator.accel.AccelOptions fields) for a named path.

    ``compile_mode`` (``torch.compile``'s ``mode``, e.g. ``max-autotune-no-cudagraphs``) applies to
    every compiled path of the invocation; ``None`` keeps torch's default.
    """
    compile_opts = {
        "compile": "regional",
        "compile_cache_dir": cache_dir,
        "compile_backend": backend,
        "compile_mode": compile_mode,
    }
    ts = {"shared_timestep_embedding": True}
    fa4 = {"attention_backend": "fa4", **ts}
    table: dict[str, dict[str, Any]] = {
        "stock": {},
        "stock-cudnnbench": {"cudnn_benchmark": True},
        "sdpa-cudnn": {"attention_backend": "cudnn"},
        "sdpa-flash": {"attention_backend": "flash"},
        "sdpa-efficient": {"attention_backend": "efficient"},
        "bf16-regional": {"attention_backend": attn, **compile_opts},
        "bf16-regional-ts": {"attention_backend": attn, **compile_opts, **ts},
        "bf16-regional-fa4": {**compile_opts, **fa4},
        "bf16-full": {**compile_opts, "attention_backend": attn, "compile": "full"},
        "fp8": {"attention_backend": attn, "precision": "fp8"},
        "fp8-regional": {"attention_backend": attn, "precision": "fp8", **compile_opts},
        "fp8-regional-cudnnbench": {
            "attention_backend": attn,
            "precision": "fp8",
            "cudnn_benchmark": True,
            **compile_opts,
        },
        "fp8-regional-ts": {"attention_backend": attn, "precision": "fp8", **compile_opts, **ts},
        "fp8-regional-fa4": {"precision": "fp8", **compile_opts, **fa4},
        "bf16-offload-group": {"offload": "group"},
        "fp8-regional-tiled": {
            "attention_backend": attn,
            "precision": "fp8",
            "vae_tiling": True,
            "drop_lm_head": True,
            **compile_opts,
        },
    }
    if name == "job-default":
        # what a job runs when its spec sets nothing but the stack's defaults: AccelOptions' own
        # defaults (attention "auto", shared timestep embedding) plus the stack's regional compile
        return dict(compile_opts)
    if name not in table:
        raise SystemExit(f"unknown path {name!r}; known: {[*table, 'job-default']}")
    # every path starts from stock diffusers (AccelOptions' own defaults are the job's recommended
    # settings) and names what it changes
    return {**STOCK_OPTIONS, **table[name]}


def parse_resolution(text: str) -> tuple[str, int, int]:
    if text in RESOLUTIONS:
        h, w = RESOLUTIONS[text]
        return text, h, w
    h, w = (int(v) for v in text.lower().split("x"))
    return f"{h}x{w}", h, w


def environment() -> dict[str, Any]:
    import diffusers
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "diffusers": diffusers.__version__,
    }
    try:
        import torchao

        env["torchao"] = torchao.__version__
    except Exception:  # not installed or broken: the scaled_mm FP8 path needs none
        env["torchao"] = None
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
        env["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / GIB, 1)
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            env["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            env["driver"] = None
    return env


def cache_counters() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {
        "fxgraph_hit": int(counters["inductor"]["fxgraph_cache_hit"]),
        "fxgraph_miss": int(counters["inductor"]["fxgraph_cache_miss"]),
        "autograd_hit": int(counters["aot_autograd"]["autograd_cache_hit"]),
        "autograd_miss": int(counters["aot_autograd"]["autograd_cache_miss"]),
    }


class PathState:
    """Moves one pipeline from path to path (paths must come in PATH_ORDER: FP8 is one-way)."""

    def __init__(self, pipe: Any):
        self.pipe = pipe
        self.attn = "default"
        self.precision = "bf16"
        self.compiled: str = "none"
        self.tiling = False
        self.channels_last = False
        self.lm_head = True
        self.shared_ts = False

    def apply(self, opts: Any) -> dict[str, Any]:
        from cosmos_generator import accel

        t = self.pipe.transformer
        report: dict[str, Any] = {}
        if opts.precision == "bf16" and self.precision == "fp8":
            raise RuntimeError("cannot go back from fp8 to bf16 on one pipeline: order the paths")
        if opts.offload != "none":
            if self.attn != "default" or self.precision != "bf16" or self.compiled != "none":
                raise RuntimeError("offload paths need a fresh pipeline: run them in their own invocation")
            report["offload"] = accel.enable_offload(self.pipe, opts.offload)
        needs_recompile = opts.compile != self.compiled or opts.precision != self.precision
        if self.compiled != "none" and needs_recompile:
            accel.uncompile_transformer(t)
            self.compiled = "none"
        if opts.drop_lm_head and self.lm_head:
            report["dropped_lm_head_params"] = accel.drop_lm_head(t)
            self.lm_head = False
        if opts.attention_backend != self.attn:
            if self.compiled != "none":
                # the compiled block specialised on the processor: recompile with the new kernel
                accel.uncompile_transformer(t)
                self.compiled = "none"
            report["attention"] = accel.set_attention_backend(
                t, opts.attention_backend, cache_dir=opts.compile_cache_dir
            )
            self.attn = opts.attention_backend
        if opts.shared_timestep_embedding != self.shared_ts:
            report["shared_timestep_embedding"] = accel.share_timestep_embedding(
                t, opts.shared_timestep_embedding
            )
            self.shared_ts = opts.shared_timestep_embedding
        if opts.precision == "fp8" and self.precision == "bf16":
            report["fp8"] = accel.quantize_fp8(t, backend=opts.fp8_backend, granularity=opts.fp8_granularity)
            self.precision = "fp8"
        if opts.compile != "none" and self.compiled == "none":
            report["compile"] = accel.compile_with_options(t, opts)
            self.compiled = opts.compile
        if opts.vae_tiling != self.tiling:
            if opts.vae_tiling:
                self.pipe.vae.enable_tiling()
            else:
                self.pipe.vae.disable_tiling()
            self.tiling = opts.vae_tiling
        # process-wide flag: set for every path, so a path without it runs with cuDNN's heuristics
        report["cudnn_benchmark"] = accel.set_cudnn_benchmark(opts.cudnn_benchmark)
        if opts.vae_channels_last != self.channels_last:
            report["vae_channels_last"] = accel.set_vae_channels_last(self.pipe.vae, opts.vae_channels_last)
            self.channels_last = opts.vae_channels_last
        return report


def measure(
    pipe: Any,
    height: int,
    width: int,
    frames: int,
    steps: int,
    warmup: int,
    decode: bool,
    seed: int,
    capture_decode_input: bool = False,
    profile: bool = False,
) -> dict[str, Any]:
    """One pipeline call; per-step times from the step-end callback (device synchronised).

    ``profile``: after the call, re-run the first transformer pass (captured inputs) under the
    PyTorch profiler and report GPU kernel time per category (see :func:`profile_forward`).
    """
    import torch

    captured: dict[str, Any] = {}

    def capture_pass(_module: Any, args: Any, kwargs: Any) -> None:
        if "kwargs" not in captured:
            captured["args"], captured["kwargs"] = args, dict(kwargs)

    hook = pipe.transformer.register_forward_pre_hook(capture_pass, with_kwargs=True) if profile else None

    marks: list[float] = []
    state: dict[str, Any] = {}

    def on_step_end(_pipe: Any, i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        _sync()
        marks.append(time.perf_counter())
        if i == steps - 1:
            state["latents"] = kwargs["latents"].detach().float().cpu()
            state["peak_denoise"] = _mem("max_memory_allocated")
            state["reserved_denoise"] = _mem("max_memory_reserved")
        return {}

    decode_times: list[float] = []
    original_decode = pipe.vae.decode

    def timed_decode(*args: Any, **kwargs: Any) -> Any:
        if capture_decode_input and "decode_input" not in state:
            state["decode_input"] = (args[0] if args else kwargs["z"]).detach().clone()
        _sync()
        t0 = time.perf_counter()
        out = original_decode(*args, **kwargs)
        _sync()
        decode_times.append(time.perf_counter() - t0)
        return out

    pipe.vae.decode = timed_decode
    original_step = pipe.scheduler.step

    def recording_step(model_output: Any, *args: Any, **kwargs: Any) -> Any:
        # the first guided velocity: every path sees identical inputs here, so its deviation
        # from stock is the numeric error of one transformer evaluation, before any compounding
        if "velocity0" not in state:
            state["velocity0"] = model_output.detach().float().cpu()
        return original_step(model_output, *args, **kwargs)

    pipe.scheduler.step = recording_step
    gc.collect()
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync()
    t0 = time.perf_counter()
    try:
        pipe(
            PROMPT,
            num_frames=frames,
            height=height,
            width=width,
            fps=24.0,
            num_inference_steps=steps,
            guidance_scale=GUIDANCE,
            generator=torch.Generator(DEVICE).manual_seed(seed),
            output_type="pt" if decode else "latent",
            enable_safety_check=False,
            callback_on_step_end=on_step_end,
        )
    finally:
        del pipe.vae.decode  # back to the class methods
        del pipe.scheduler.step
        if hook is not None:
            hook.remove()
    _sync()
    t_end = time.perf_counter()
    prof = profile_forward(pipe.transformer, captured["args"], captured["kwargs"]) if captured else None
    captured.clear()
    durations = [marks[i] - marks[i - 1] for i in range(max(warmup, 1), len(marks))]
    median = statistics.median(durations)
    result = {
        "timed_steps": len(durations),
        "warmup_steps": warmup,
        "s_per_step": round(median, 4),
        "s_per_step_min": round(min(durations), 4),
        "s_per_step_max": round(max(durations), 4),
        "spread_pct": round(100 * (max(durations) - min(durations)) / median, 2),
        "step_times": [round(d, 4) for d in durations],
        "first_call_overhead_s": round((marks[warmup - 1] - t0) - warmup * median, 2),
        "call_s": round(t_end - t0, 2),
        "peak_gib_denoise": round(state["peak_denoise"] / GIB, 2),
        "reserved_gib_denoise": round(state["reserved_denoise"] / GIB, 2),
        "peak_gib_total": round(_mem("max_memory_allocated") / GIB, 2),
        "reserved_gib_total": round(_mem("max_memory_reserved") / GIB, 2),
        "decode_s": round(decode_times[0], 2) if decode_times else None,
        "latents_finite": bool(torch.isfinite(state["latents"]).all()),
    }
    if prof is not None:
        result["profile"] = prof
    return {
        "result": result,
        "latents": state["latents"],
        "velocity0": state["velocity0"],
        "decode_input": state.get("decode_input"),
    }


KERNEL_CATEGORIES = (
    # Inductor names a fused kernel after every op it fused (a "..._scaled_mm_..." Triton kernel is
    # the activation quantization next to a GEMM, not the GEMM): Triton first
    ("fused (triton)", ("triton",)),
    ("attention", ("flash", "fmha", "sdpa", "attention", "attn")),
    ("gemm", ("gemm", "nvjet", "xmma", "scaled_mm", "cublas", "cutlass", "sm90_")),
    # CUDA's cat kernel is CatArrayBatchedCopy; "cat" alone would also match scatter kernels
    ("copy/fill", ("copy", "memcpy", "memset", "fill", "aten::cat")),
)


def kernel_category(name: str) -> str:
    lowered = name.lower()
    for category, needles in KERNEL_CATEGORIES:
        if any(n in lowered for n in needles):
            return category
    return "other"


def profile_forward(transformer: Any, args: Any, kwargs: dict[str, Any], top: int = 12) -> dict[str, Any]:
    """One transformer pass (one of the two per step) under the PyTorch profiler.

    Returns the pass's wall time (timed separately, without the profiler), the GPU kernel time per
    category (attention, GEMM, Triton-fused elementwise, copies, other eager kernels) and the
    largest kernels: where the step's time goes, and how much is neither GEMM nor attention.
    """
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch.no_grad():
        transformer(*args, **kwargs)
        _sync()
        t0 = time.perf_counter()
        transformer(*args, **kwargs)
        _sync()
        wall = time.perf_counter() - t0
        activity = ProfilerActivity.CUDA if DEVICE == "cuda" else ProfilerActivity.CPU
        with torch_profile(activities=[activity]) as prof:
            transformer(*args, **kwargs)
            _sync()
    per_kernel: dict[str, float] = {}
    for evt in prof.key_averages():
        if DEVICE == "cuda":
            t = float(
                getattr(evt, "self_device_time_total", 0.0) or getattr(evt, "self_cuda_time_total", 0.0)
            )
        else:  # CPU runs (tests): operator self time stands in for kernel time
            t = float(evt.self_cpu_time_total)
        if t > 0:
            per_kernel[evt.key] = per_kernel.get(evt.key, 0.0) + t / 1e6
    categories: dict[str, float] = {}
    for name, t in per_kernel.items():
        cat = kernel_category(name)
        categories[cat] = categories.get(cat, 0.0) + t
    busy = sum(per_kernel.values())
    return {
        "pass_wall_s": round(wall, 4),
        "kernel_s": round(busy, 4),
        "idle_s": round(wall - busy, 4),
        "categories_s": {k: round(v, 4) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
        "top_kernels": [
            {"name": name[:120], "s": round(t, 4), "category": kernel_category(name)}
            for name, t in sorted(per_kernel.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def compile_vae_decoder(vae: Any, backend: str = "inductor") -> None:
    """``torch.compile`` the Wan VAE decoder in place (the decode check's ``vae_compile`` setting).

    Measured, not shipped: on an H100 the 480p decode went 4.44 -> 3.99 s with 1.4 % rel L2 on the
    video, but the decoder graph-breaks into its up blocks, which hit dynamo's recompile limit
    (one graph per channel count and cache state): frames past the limit fall back to eager, and
    a decode right after a compile was slower than eager (docs/performance.md).
    """
    vae.decoder.compile(dynamic=False, backend=backend)


def uncompile_vae_decoder(vae: Any) -> None:
    if getattr(vae.decoder, "_compiled_call_impl", None) is not None:
        vae.decoder._compiled_call_impl = None


def decode_check(
    pipe: Any,
    z: Any,
    repeats: int,
    deadline: float,
    settings: list[str] | None = None,
    backend: str = "inductor",
) -> dict[str, Any]:
    """Decode ``z`` (stock's decode input) ``repeats`` times under each VAE setting.

    A setting's first decode is cold where it searches (cuDNN benchmarks each new conv shape once
    per process and memory layout); the median of the others is the steady decode time. Output
    deviation is the rel L2 of each setting's last decode against the default setting's first.
    """
    import torch
    from cosmos_generator import accel

    vae = pipe.vae
    out: dict[str, Any] = {"latent_shape": list(z.shape), "repeats": repeats, "settings": {}}
    ref = None
    try:
        for name, (benchmark, channels_last, compiled) in DECODE_SETTINGS.items():
            if settings is not None and name not in settings:
                continue
            accel.set_cudnn_benchmark(benchmark)
            accel.set_vae_channels_last(vae, channels_last)
            if compiled:
                compile_vae_decoder(vae, backend)
            else:
                uncompile_vae_decoder(vae)
            times: list[float] = []
            video = None
            base = _mem("memory_allocated")
            if DEVICE == "cuda":
                torch.cuda.reset_peak_memory_stats()
            for _ in range(repeats):
                if times and time.perf_counter() + 1.5 * times[0] > deadline:
                    break
                if not times and ref is not None and time.perf_counter() + 15 > deadline:
                    break
                video = None
                _sync()
                t0 = time.perf_counter()
                with torch.no_grad():
                    video = vae.decode(z, return_dict=False)[0]
                _sync()
                times.append(time.perf_counter() - t0)
            if not times:
                out["settings"][name] = {"skipped": "time budget"}
                print(f"[decode-check] {name}: skipped (time budget)", flush=True)
                continue
            if ref is None:
                ref = video
            err = 0.0 if video is ref else float((video.float() - ref.float()).norm() / ref.float().norm())
            entry = {
                "cudnn_benchmark": benchmark,
                "vae_channels_last": channels_last,
                "vae_compile": compiled,
                "times_s": [round(t, 3) for t in times],
                "first_s": round(times[0], 3),
                "steady_s": round(statistics.median(times[1:]), 3) if len(times) > 1 else None,
                "rel_l2_vs_default": err,
                "peak_extra_gib": round((_mem("max_memory_allocated") - base) / GIB, 2),
            }
            out["settings"][name] = entry
            print(f"[decode-check] {name}: {entry}", flush=True)
            del video
    finally:
        accel.set_cudnn_benchmark(False)
        accel.set_vae_channels_last(vae, False)
        uncompile_vae_decoder(vae)
    return out


def rel_l2(a: Any, b: Any) -> float:
    return float((a - b).norm() / b.norm())


def build(args: argparse.Namespace) -> Any:
    import torch
    from cosmos_generator.random_pipeline import build_random_pipeline

    t0 = time.perf_counter()
    dtype = torch.bfloat16 if DEVICE == "cuda" else torch.float32
    pipe = build_random_pipeline(args.size, dtype=dtype, device=DEVICE, seed=args.seed)
    if args.layers:
        pipe.transformer.layers = pipe.transformer.layers[: args.layers]
    _sync()
    info = {
        "build_s": round(time.perf_counter() - t0, 1),
        "transformer_params_b": round(sum(p.numel() for p in pipe.transformer.parameters()) / 1e9, 2),
        "weights_gib": round(_mem("memory_allocated") / GIB, 2),
        "layers": len(pipe.transformer.layers),
    }
    print(f"[build] {info}", flush=True)
    return pipe, info


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(path)


def cmd_run(args: argparse.Namespace) -> int:
    import torch
    from cosmos_generator.accel import AccelOptions

    global DEVICE
    DEVICE = args.device
    started = time.perf_counter()
    paths = [p for p in PATH_ORDER if p in args.paths.split(",")]
    unknown = set(args.paths.split(",")) - set(PATH_ORDER)
    if unknown:
        raise SystemExit(f"unknown paths {sorted(unknown)}")
    resolutions = [parse_resolution(r) for r in args.resolutions.split(",")]
    payload: dict[str, Any] = {
        "schema": "cosmos3-aws/generator-bench/v1",
        "date": datetime.date.today().isoformat(),
        "phase": args.phase,
        "environment": environment(),
        "settings": {
            "model": f"Cosmos3-Nano architecture, random weights ({args.size})",
            "frames": args.frames,
            "guidance_scale": GUIDANCE,
            "steps_per_video": STEPS_PER_VIDEO,
            "measured_steps": args.steps,
            "warmup_steps": args.warmup,
            "seed": args.seed,
            "attention_for_fast_paths": args.attn,
            "compile_cache_dir": args.cache_dir,
            "compile_mode": args.compile_mode,
        },
        "results": [],
    }
    print(f"[env] {payload['environment']}", flush=True)
    pipe, payload["build"] = build(args)
    state = PathState(pipe)
    ref_dir = Path(args.ref_dir) if args.ref_dir else None
    refs: dict[str, Any] = {}
    for res_name, _h, _w in resolutions:
        if ref_dir and (ref_dir / f"stock-{res_name}-{args.frames}f-{args.steps}steps.pt").exists():
            refs[res_name] = torch.load(ref_dir / f"stock-{res_name}-{args.frames}f-{args.steps}steps.pt")
    path_budget_s = args.budget_s if args.path_budget_s is None else min(args.path_budget_s, args.budget_s)
    decode_inputs: dict[str, Any] = {}
    for name in paths:
        for res_name, h, w in resolutions:
            if time.perf_counter() - started > path_budget_s:
                print(f"[skip] {name} {res_name}: time budget", flush=True)
                payload["results"].append({"path": name, "resolution": res_name, "skipped": "time budget"})
                continue
            values = path_options(name, args.attn, args.cache_dir, args.compile_backend, args.compile_mode)
            if values.get("precision") == "fp8":
                values.update(fp8_backend=args.fp8_backend, fp8_granularity=args.fp8_granularity)
            opts = AccelOptions.from_mapping(values)
            before = cache_counters()
            t_apply = time.perf_counter()
            try:
                applied = state.apply(opts)
                apply_s = time.perf_counter() - t_apply
                m = measure(
                    pipe,
                    h,
                    w,
                    args.frames,
                    args.steps,
                    args.warmup,
                    name in DECODING_PATHS,
                    args.seed,
                    capture_decode_input=bool(args.decode_check) and name == "stock",
                    profile=args.profile,
                )
            except Exception as exc:  # record and go on with the next path
                print(f"[fail] {name} {res_name}: {type(exc).__name__}: {exc}", flush=True)
                payload["results"].append(
                    {"path": name, "resolution": res_name, "error": f"{type(exc).__name__}: {exc}"[:2000]}
                )
                write_json(args.out, payload)
                continue
            after = cache_counters()
            r = {
                "path": name if name == "stock" else name + args.label_suffix,
                "resolution": res_name,
                "height": h,
                "width": w,
                "phase": args.phase,
                "options": opts.to_dict(),
                "applied": applied,
                "apply_s": round(apply_s, 2),
                **m["result"],
                "compile_cache": {k: after[k] - before[k] for k in after} if name in COMPILED_PATHS else None,
                "weights_gib": round(_mem("memory_allocated") / GIB, 2),
            }
            if m["decode_input"] is not None:
                decode_inputs.setdefault(res_name, m["decode_input"])
            if name == "stock" and res_name not in refs:
                refs[res_name] = {"latents": m["latents"], "velocity0": m["velocity0"]}
                if ref_dir:
                    ref_dir.mkdir(parents=True, exist_ok=True)
                    torch.save(
                        refs[res_name], ref_dir / f"stock-{res_name}-{args.frames}f-{args.steps}steps.pt"
                    )
            ref = refs.get(res_name)
            r["rel_l2_vs_stock"] = rel_l2(m["latents"], ref["latents"]) if ref else None
            r["rel_l2_velocity_step0"] = rel_l2(m["velocity0"], ref["velocity0"]) if ref else None
            payload["results"].append(r)
            print(
                f"[path] {name:20s} {res_name:9s} s/step {r['s_per_step']:.3f} "
                f"(min {r['s_per_step_min']:.3f} max {r['s_per_step_max']:.3f}) "
                f"first-call +{r['first_call_overhead_s']}s "
                f"decode {r['decode_s']} peak {r['peak_gib_denoise']}/{r['peak_gib_total']} GiB "
                f"relL2 {r['rel_l2_vs_stock']} v0 {r['rel_l2_velocity_step0']} cache {r['compile_cache']}",
                flush=True,
            )
            write_json(args.out, payload)
    if args.decode_check:
        payload["decode_check"] = {}
        for res_name, z in decode_inputs.items():
            check = decode_check(
                pipe,
                z,
                args.decode_check,
                started + args.budget_s - 5,
                settings=args.decode_settings.split(",") if args.decode_settings else None,
                backend=args.compile_backend,
            )
            payload["decode_check"][res_name] = {"phase": args.phase, **check}
            write_json(args.out, payload)
        decode_inputs.clear()
    if args.warm_check:
        # the tiled path differs from fp8-regional only in the VAE: nothing more to learn warm;
        # a path that failed or was skipped left nothing in the cache: re-running it would be cold
        measured = {r["path"] for r in payload["results"] if "s_per_step" in r}
        compiled = [
            p
            for p in paths
            if p in COMPILED_PATHS and p != "fp8-regional-tiled" and p + args.label_suffix in measured
        ]
        del state, pipe
        gc.collect()
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
        left = args.budget_s - (time.perf_counter() - started)
        if compiled and left > 60:
            child_out = str(Path(args.out or "bench.json").with_suffix(".warm.json"))
            cmd = [
                sys.executable,
                __file__,
                "run",
                "--phase",
                "warm-cache",
                "--paths",
                ",".join(compiled),
                "--resolutions",
                args.warm_resolutions or args.resolutions,
                "--frames",
                str(args.frames),
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--attn",
                args.attn,
                "--size",
                args.size,
                "--seed",
                str(args.seed),
                "--budget-s",
                str(int(left - 20)),
                "--device",
                args.device,
                "--compile-backend",
                args.compile_backend,
                "--fp8-backend",
                args.fp8_backend,
                "--fp8-granularity",
                args.fp8_granularity,
                f"--label-suffix={args.label_suffix}",
                "--out",
                child_out,
            ]
            if args.layers:
                cmd += ["--layers", str(args.layers)]
            if args.compile_mode:
                cmd += ["--compile-mode", args.compile_mode]
            if args.cache_dir:
                cmd += ["--cache-dir", args.cache_dir]
            if args.ref_dir:
                cmd += ["--ref-dir", args.ref_dir]
            print(f"[warm-check] fresh process: {' '.join(cmd)}", flush=True)
            try:
                subprocess.run(cmd, check=False, timeout=max(left - 10, 30))
            except subprocess.TimeoutExpired:
                print("[warm-check] timed out", flush=True)
            if Path(child_out).exists():
                child = json.loads(Path(child_out).read_text())
                payload["results"].extend(child["results"])
                payload["warm_build"] = child.get("build")
        else:
            print(f"[warm-check] skipped (compiled paths: {compiled}, seconds left {left:.0f})", flush=True)
    payload["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(args.out, payload)
    print_table(summarise([payload]))
    return 0


# ------------------------------------------------------------------------------------------------
# probe: micro-benchmarks of the kernels the paths rely on, at the real 480p shapes
# ------------------------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F
    from cosmos_generator import accel
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def bench(fn: Any, reps: int = 10) -> float:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e) / 1000)
        return statistics.median(times)

    out: dict[str, Any] = {"environment": environment(), "sdpa": {}, "gemm": {}}
    print(out["environment"], flush=True)
    n_gen, n_und, heads, kv_heads, d = args.tokens, 200, 32, 8, 128
    q = torch.randn(1, heads, n_gen, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, kv_heads, n_gen + n_und, d, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    k_full = k.repeat_interleave(heads // kv_heads, dim=1)
    v_full = v.repeat_interleave(heads // kv_heads, dim=1)
    flops = 4 * n_gen * (n_gen + n_und) * d * heads
    ref = F.scaled_dot_product_attention(q.float()[:, :, :256], k_full.float(), v_full.float())
    backends = {
        "default": None,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
    }
    for name, backend in backends.items():
        for gqa in (True, False):
            key = f"{name}/{'gqa' if gqa else 'expanded'}"

            def call(backend: Any = backend, gqa: bool = gqa) -> Any:
                kk, vv = (k, v) if gqa else (k_full, v_full)
                if backend is None:
                    return F.scaled_dot_product_attention(q, kk, vv, enable_gqa=gqa)
                with sdpa_kernel([backend]):
                    return F.scaled_dot_product_attention(q, kk, vv, enable_gqa=gqa)

            try:
                t = bench(call)
                err = rel_l2(call()[:, :, :256].float(), ref)
                out["sdpa"][key] = {"s": round(t, 5), "tflops": round(flops / t / 1e12, 1), "rel_err": err}
            except RuntimeError as exc:
                out["sdpa"][key] = {"error": str(exc).splitlines()[0][:200]}
            print(f"[sdpa] {key}: {out['sdpa'][key]}", flush=True)
    # FlashAttention 4 (flash-attn-4) through the accel custom op, [B, N, H, D] layout, native GQA
    try:
        accel.check_fa4_supported("cuda")
        qb, kb, vb = (t.transpose(1, 2).contiguous() for t in (q, k, v))

        def fa4_call() -> Any:
            return torch.ops.cosmos3.fa4_attention(qb, kb, vb, False)

        t0 = time.perf_counter()
        fa4_call()
        torch.cuda.synchronize()
        first = time.perf_counter() - t0
        t = bench(fa4_call)
        err = rel_l2(fa4_call().transpose(1, 2)[:, :, :256].float(), ref)
        out["sdpa"]["fa4/gqa"] = {
            "s": round(t, 5),
            "tflops": round(flops / t / 1e12, 1),
            "rel_err": err,
            "first_call_s": round(first, 2),
        }
    except Exception as exc:
        out["sdpa"]["fa4/gqa"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    print(f"[sdpa] fa4/gqa: {out['sdpa']['fa4/gqa']}", flush=True)
    if args.attention_only:
        write_json(args.out, out)
        return 0
    # GEMM: an MLP up-projection of the generation tower at 480p
    x = torch.randn(n_gen, 4096, device="cuda", dtype=torch.bfloat16)
    lin = torch.nn.Linear(4096, 12288, bias=False, device="cuda", dtype=torch.bfloat16)
    gflops = 2 * n_gen * 4096 * 12288
    y_ref = lin(x).float()
    cases: dict[str, Any] = {"bf16": lambda: lin(x)}
    for gran in ("row", "tensor"):
        f8 = accel.Float8Linear(lin, granularity=gran)
        cases[f"fp8-scaled_mm-{gran}"] = f8
        cases[f"fp8-scaled_mm-{gran}-compiled"] = torch.compile(f8, dynamic=True)
    try:
        import copy

        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

        ao = copy.deepcopy(torch.nn.Sequential(lin))
        quantize_(ao, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
        cases["fp8-torchao-row"] = ao
        cases["fp8-torchao-row-compiled"] = torch.compile(ao, dynamic=True)
    except Exception as exc:
        out["gemm"]["torchao"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    for name, fn in cases.items():
        try:
            call = (lambda fn=fn: fn(x)) if isinstance(fn, torch.nn.Module) or hasattr(fn, "forward") else fn
            t = bench(call)
            out["gemm"][name] = {
                "s": round(t, 5),
                "tflops": round(gflops / t / 1e12, 1),
                "rel_err": rel_l2(call().float(), y_ref),
            }
        except Exception as exc:
            out["gemm"][name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(f"[gemm] {name}: {out['gemm'][name]}", flush=True)
    write_json(args.out, out)
    return 0


# ------------------------------------------------------------------------------------------------
# report: merge result files, add ratios vs stock, write JSON + markdown
# ------------------------------------------------------------------------------------------------


def summarise(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows with ratios against stock: the stock row of the same result file (same process and
    machine) where it has one, else the first stock row at that resolution."""
    env = next((p["environment"] for p in payloads if "environment" in p), {})
    rows: list[dict[str, Any]] = []
    own_stock: list[dict[str, Any] | None] = []
    stock: dict[str, dict[str, Any]] = {}
    for p in payloads:
        measured = [r for r in p.get("results", []) if "s_per_step" in r]
        local = {r["resolution"]: r for r in measured if r["path"] == "stock"}
        for r in measured:
            rows.append(r)
            own_stock.append(local.get(r["resolution"]))
            if r["path"] == "stock":
                stock.setdefault(r["resolution"], r)
    table = []
    for r, local_base in zip(rows, own_stock, strict=True):
        base = local_base or stock.get(r["resolution"])
        decode = r.get("decode_s")
        decode_source = "measured"
        if decode is None and base is not None and not r["options"].get("vae_tiling"):
            decode, decode_source = base.get("decode_s"), "stock path (same VAE, no tiling)"
        s_video = STEPS_PER_VIDEO * r["s_per_step"] + (decode or 0.0)
        row = {
            "path": r["path"],
            "resolution": r["resolution"],
            "phase": r.get("phase", "main"),
            "s_per_step": r["s_per_step"],
            "s_per_step_min": r["s_per_step_min"],
            "s_per_step_max": r["s_per_step_max"],
            "spread_pct": r["spread_pct"],
            "decode_s": decode,
            "decode_source": decode_source if decode is not None else None,
            "s_per_video": round(s_video, 1),
            "peak_gib_denoise": r["peak_gib_denoise"],
            "peak_gib_total": r["peak_gib_total"] if r.get("decode_s") is not None else None,
            "reserved_gib_total": r.get("reserved_gib_total"),
            "first_call_overhead_s": r["first_call_overhead_s"],
            "compile_cache": r.get("compile_cache"),
            "rel_l2_vs_stock": r.get("rel_l2_vs_stock"),
            "rel_l2_velocity_step0": r.get("rel_l2_velocity_step0"),
            "latents_finite": r.get("latents_finite"),
            "options": r.get("options"),
            "stock_s_per_step": base["s_per_step"] if base is not None else None,
            "note": r.get("note"),
        }
        if base is not None:
            row["step_speedup_vs_stock"] = round(base["s_per_step"] / r["s_per_step"], 3)
            base_video = STEPS_PER_VIDEO * base["s_per_step"] + (base.get("decode_s") or 0.0)
            row["video_speedup_vs_stock"] = round(base_video / s_video, 3)
        table.append(row)
    checks = [
        {"resolution": res, **{k: v for k, v in check.items() if k != "settings"}, "setting": name, **entry}
        for p in payloads
        for res, check in (p.get("decode_check") or {}).items()
        for name, entry in check["settings"].items()
        if "first_s" in entry
    ]
    return {"environment": env, "rows": table, "decode_checks": checks}


def print_table(summary: dict[str, Any]) -> None:
    hdr = (
        f"{'path':20s} {'res':6s} {'phase':10s} {'s/step':>7s} {'spread%':>7s} {'s/video':>8s} "
        f"{'decode':>6s} {'peakGiB':>8s} {'relL2':>9s} {'x step':>6s} {'x video':>7s} {'1st+s':>6s}"
    )
    print(hdr)
    for r in summary["rows"]:
        rl = r["rel_l2_vs_stock"]
        print(
            f"{r['path']:20s} {r['resolution']:6s} {r['phase'][:10]:10s} {r['s_per_step']:7.3f} "
            f"{r['spread_pct']:7.2f} {r['s_per_video']:8.1f} {r['decode_s'] or 0:6.1f} "
            f"{(r['peak_gib_total'] or r['peak_gib_denoise']):8.2f} {(rl if rl is not None else float('nan')):9.2e} "
            f"{r.get('step_speedup_vs_stock', 0):6.2f} {r.get('video_speedup_vs_stock', 0):7.2f} "
            f"{r['first_call_overhead_s'] if r['first_call_overhead_s'] is not None else float('nan'):6.1f}"
        )


def render_markdown(summary: dict[str, Any], title: str) -> str:
    env = summary["environment"]
    lines = [
        f"# {title}",
        "",
        f"GPU: {env.get('gpu')} (compute capability {env.get('compute_capability')}, "
        f"{env.get('gpu_memory_gib')} GiB), driver {env.get('driver')}, CUDA {env.get('cuda')}, "
        f"cuDNN {env.get('cudnn')}, torch {env.get('torch')}, diffusers {env.get('diffusers')}, "
        f"torchao {env.get('torchao')}, Python {env.get('python')}.",
        "",
        "Full-size Cosmos3-Nano architecture with random weights, 189 frames, guidance 6, one video. "
        "s/video = 35 x median s/step + VAE decode (the steps were measured on a short schedule, "
        "warm-up excluded; see docs/performance.md). Peak = max allocated by PyTorch, GiB, "
        "while denoising / overall including decode. rel L2 = ||latents - stock|| / ||stock|| at the "
        "same seed. '1st call +s' = extra seconds of the first call over two steady steps "
        "(compile time for compiled paths; cold = empty cache, warm-cache = fresh process, cache filled).",
        "",
        "| path | res | phase | s/step (min-max) | s/video | decode s | peak GiB denoise / total "
        "| rel L2 vs stock | rel L2 step-0 velocity | x stock (step) | x stock (video) | 1st call +s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in summary["rows"]:
        rl = r["rel_l2_vs_stock"]
        v0 = r.get("rel_l2_velocity_step0")
        total = r["peak_gib_total"]
        lines.append(
            f"| {r['path']} | {r['resolution']} | {r['phase']} | {r['s_per_step']:.3f} "
            f"({r['s_per_step_min']:.3f}-{r['s_per_step_max']:.3f}) | {r['s_per_video']:.1f} | "
            f"{'' if r['decode_s'] is None else r['decode_s']}{'' if r['decode_source'] in (None, 'measured') else '*'} | "
            f"{r['peak_gib_denoise']} / {'-' if total is None else total} | "
            f"{'-' if rl is None else f'{rl:.2e}'} | {'-' if v0 is None else f'{v0:.2e}'} | "
            f"{r.get('step_speedup_vs_stock', '-')} | "
            f"{r.get('video_speedup_vs_stock', '-')} | {'-' if r['first_call_overhead_s'] is None else r['first_call_overhead_s']} |"
        )
    lines += ["", "\\* decode time taken from the stock path at that resolution (same VAE, no tiling).", ""]
    checks = summary.get("decode_checks") or []
    if checks:
        lines += [
            "VAE decode alone (`bench.py run --decode-check N`): stock's decode input decoded N times per "
            "setting, in this order, in one process; 'first' includes cuDNN's algorithm search where "
            "the setting searches and the shapes are new to the process; 'steady' = median of the "
            "others; rel L2 against the default setting's decode.",
            "",
            "| setting | res | phase | first s | steady s | rel L2 vs default | extra peak GiB |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in checks:
            steady = "-" if c.get("steady_s") is None else c["steady_s"]
            lines.append(
                f"| {c['setting']} | {c['resolution']} | {c.get('phase', 'main')} | {c['first_s']} | "
                f"{steady} | {c['rel_l2_vs_default']:.2e} | {c['peak_extra_gib']} |"
            )
        lines.append("")
    notes = sorted(
        {(r["path"], r["resolution"], r["phase"], r["note"]) for r in summary["rows"] if r.get("note")}
    )
    if notes:
        lines += ["Notes:", ""]
        lines += [f"- {path} {res} ({phase}): {note}" for path, res, phase, note in notes]
        lines.append("")
    return "\n".join(lines)


def catalog_view(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """resolution -> path -> the figures stacks/gpu_catalog.py needs (main-phase rows only).

    ``peak_gib`` is PyTorch's peak allocation including VAE decode where the path decoded (else
    while denoising); a GPU also needs the CUDA context (~0.5-1 GiB) and allocator slack on top.
    ``first_call_overhead_*_s`` is paid once per process (cold: empty compile cache; warm: cache
    filled by an earlier job), not per video.
    """
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["phase"] not in ("main", "warm-cache", "offload") and "[" not in r["path"]:
            continue
        entry = out.setdefault(r["resolution"], {}).setdefault(r["path"], {})
        cache = r.get("compile_cache") or {}
        warm = r["phase"] == "warm-cache" or (
            cache.get("fxgraph_hit", 0) > 0 and not cache.get("fxgraph_miss")
        )
        if warm:
            entry["first_call_overhead_warm_s"] = r["first_call_overhead_s"]
        if "s_per_video" in entry or r["phase"] == "warm-cache":
            continue
        entry.update(
            {
                "s_per_video": r["s_per_video"],
                "s_per_step": r["s_per_step"],
                "decode_s": r["decode_s"],
                "peak_gib": r["peak_gib_total"] if r["peak_gib_total"] is not None else r["peak_gib_denoise"],
                "reserved_gib": r["reserved_gib_total"],
                "video_speedup_vs_stock": r.get("video_speedup_vs_stock"),
                "rel_l2_vs_stock": r["rel_l2_vs_stock"],
                "rel_l2_velocity_step0": r["rel_l2_velocity_step0"],
                "first_call_overhead_cold_s": None if warm else r["first_call_overhead_s"],
                "options": r["options"],
            }
        )
    return out


def cmd_report(args: argparse.Namespace) -> int:
    payloads = [json.loads(Path(p).read_text()) for p in args.inputs]
    summary = summarise(payloads)
    merged = {
        "schema": "cosmos3-aws/generator-bench-summary/v1",
        "date": args.date or datetime.date.today().isoformat(),
        "environment": summary["environment"],
        "settings": next((p.get("settings") for p in payloads if p.get("settings")), {}),
        "rows": summary["rows"],
        "errors": [r for p in payloads for r in p.get("results", []) if "error" in r or "skipped" in r],
        "sources": [Path(p).name for p in args.inputs],
    }
    merged["decode_checks"] = summary["decode_checks"]
    merged["catalog"] = catalog_view(summary["rows"])
    merged["recommended_paths"] = RECOMMENDED
    if args.json:
        write_json(args.json, merged)
    if args.md:
        Path(args.md).write_text(render_markdown(summary, args.title))
    print_table(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="benchmark the paths")
    run.add_argument(
        "--paths",
        default="stock,sdpa-cudnn,bf16-regional,fp8,fp8-regional,fp8-regional-tiled",
    )
    run.add_argument("--resolutions", default="480p")
    run.add_argument("--warm-resolutions", default=None, help="resolutions for the --warm-check subprocess")
    run.add_argument("--frames", type=int, default=FRAMES)
    run.add_argument("--steps", type=int, default=7)
    run.add_argument("--warmup", type=int, default=2)
    run.add_argument(
        "--attn",
        default="default",
        help="attention backend of the fast paths (default: diffusers' dispatcher; torch picks cuDNN on H100)",
    )
    run.add_argument("--size", default="full", choices=("full", "tiny"))
    run.add_argument(
        "--layers", type=int, default=0, help="keep only the first N decoder blocks (smoke tests)"
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--cache-dir", default="/tmp/cosmos-compile-cache")
    run.add_argument("--ref-dir", default=None, help="save/load stock latents here (cross-process deviation)")
    run.add_argument("--warm-check", action="store_true")
    run.add_argument(
        "--budget-s", type=float, default=540.0, help="skip remaining paths after this many seconds"
    )
    run.add_argument(
        "--path-budget-s",
        type=float,
        default=None,
        help="start no further path after this many seconds (default: --budget-s); the rest of "
        "--budget-s is left to --warm-check",
    )
    run.add_argument("--phase", default="main")
    run.add_argument("--profile", action="store_true", help="profile one transformer pass per path")
    run.add_argument(
        "--decode-settings",
        default=None,
        help=f"comma-separated --decode-check settings (default: all of {list(DECODE_SETTINGS)})",
    )
    run.add_argument(
        "--decode-check",
        type=int,
        default=0,
        metavar="N",
        help="after the paths, re-decode stock's decode input N times under each VAE setting "
        "(cudnn_benchmark, vae_channels_last): cold and steady decode times, deviation",
    )
    run.add_argument("--out", default=None)
    run.add_argument(
        "--device", default="cuda", help="cuda, or cpu for a dry run of the script with --size tiny"
    )
    run.add_argument("--compile-backend", default="inductor")
    run.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile mode of the compiled paths (e.g. max-autotune-no-cudagraphs; default: torch's)",
    )
    run.add_argument("--fp8-backend", default="scaled_mm", choices=("scaled_mm", "torchao"))
    run.add_argument("--fp8-granularity", default="auto", choices=("auto", "row", "tensor"))
    run.add_argument("--label-suffix", default="", help="appended to non-stock path names in the results")
    run.set_defaults(func=cmd_run)
    probe = sub.add_parser("probe", help="SDPA and FP8 GEMM micro-benchmarks at 480p shapes")
    probe.add_argument(
        "--tokens", type=int, default=18720, help="generation tokens (480p, 189 frames: 18720)"
    )
    probe.add_argument("--out", default=None)
    probe.add_argument("--attention-only", action="store_true", help="skip the GEMM micro-benchmarks")
    probe.set_defaults(func=cmd_probe)
    report = sub.add_parser("report", help="merge result files into docs/benchmarks JSON + markdown")
    report.add_argument("inputs", nargs="+")
    report.add_argument("--json", default=None)
    report.add_argument("--md", default=None)
    report.add_argument("--date", default=None)
    report.add_argument("--title", default="Generator benchmark")
    report.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
