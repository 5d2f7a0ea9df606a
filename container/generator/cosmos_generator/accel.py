"""Speed and memory switches for the generator job (``apply_optimizations``).

Every switch is a field of :class:`AccelOptions`; the job spec carries them as a plain mapping and
the entrypoint calls ``apply_optimizations(pipe, options)`` once, after the pipeline is on its
device and before the first ``pipe(...)`` call. A switch that cannot apply on this machine raises
:class:`AccelError` with the reason (for example FP8 on a GPU older than compute capability 8.9)
instead of silently running the slow path.

What the switches do (measured numbers and recommended defaults: docs/performance.md):

- ``attention_backend``: which PyTorch scaled-dot-product-attention kernel the transformer uses.
  Cosmos3's attention is grouped-query (32 query heads, 8 key/value heads). diffusers' own
  ``_native_cudnn`` / ``_native_flash`` backends reject grouped-query attention, so ``cudnn``,
  ``flash``, ``efficient`` and ``math`` install :class:`Cosmos3SDPAProcessor`, which pins the kernel
  with ``torch.nn.attention.sdpa_kernel`` and repeats the key/value heads when that kernel has no
  native GQA. ``default`` keeps diffusers' dispatcher (PyTorch picks); any other name is passed to
  ``transformer.set_attention_backend``.
- ``precision``: ``bf16`` keeps the checkpoint's weights as loaded; ``fp8`` replaces the Linear
  layers of the 36 decoder blocks with FP8 (e4m3) weight + dynamic FP8 activation GEMMs
  (``torch._scaled_mm``; per-row scales on compute capability >= 9.0, per-tensor on 8.9), or with
  torchao's ``Float8DynamicActivationFloat8WeightConfig`` when ``fp8_backend="torchao"``. Halves
  the transformer's weight memory. Embeddings, the in/out projections and the timestep embedder
  stay in BF16.
- ``compile``: ``regional`` compiles the repeated decoder block once (``compile_repeated_blocks``)
  and reuses it for all 36 layers; ``full`` compiles the whole transformer. ``compile_dynamic``
  (default on) marks the sequence lengths dynamic so that one compiled graph serves every prompt
  length and resolution: with static shapes every new prompt length is a new compile.
  ``compile_cache_dir`` points Inductor's and Triton's on-disk caches (FX graph cache, AOTAutograd
  cache, compiled kernels) at a shared directory (EFS), so only the first job per model/dtype/GPU
  pays the compile and later jobs load it.
- ``vae_tiling``: decode the video in overlapping spatial tiles: lower peak memory, slower decode.
- ``cudnn_benchmark``: sets ``torch.backends.cudnn.benchmark = True`` (process-wide): the first
  convolution of each new shape times cuDNN's algorithms and later ones use the fastest. Only the
  VAE has convolutions (the Wan VAE's 3D convs, run latent frame by latent frame with repeating
  shapes), so this can only change the decode; the search runs in the first decode of each
  process (cuDNN does not keep it across processes). Same maths: the output can differ only by
  the chosen algorithms' summation order. On H100 with cuDNN 9.19 it changed nothing (same
  algorithms, bit-identical video, same 4.45 s decode at 480p).
- ``vae_channels_last``: stores the VAE's convolution weights channels-last (``channels_last_3d``
  for the 3D convs, ``channels_last`` for the 2D ones), so cuDNN runs the convolutions in its
  NDHWC/NHWC layout. Same maths with other conv kernels: on H100 the 480p decode took 8 % less
  time (4.45 -> 4.08 s) and the video moved by 1.2 % rel L2 (random weights).
- ``attention_backend="auto"`` (the default): FlashAttention 4 where it is installed, passes its
  self-check and the GPU is Hopper or Blackwell (compute capability 9.x/10.x, where it beat cuDNN:
  690 vs 600 TFLOP/s at the 480p shapes on an H100); elsewhere diffusers' dispatcher, as stock.
- ``attention_backend="fa4"``: FlashAttention 4 (the ``flash-attn-4`` package, CuTe DSL kernels
  for Hopper and Blackwell, native grouped-query attention) through a ``torch.library`` custom op,
  so the compiled decoder block keeps it inside its graph. Exact attention like cuDNN's: only the
  summation order differs. Its kernels are JIT-compiled once per shape; with ``compile_cache_dir``
  set, FA4's own on-disk cache lives there too.
- ``shared_timestep_embedding``: the transformer embeds the diffusion timestep once per *token*
  (18,720 rows at 480p, in FP32, in each of the two passes per step) although every noisy token of
  a step carries the same timestep. This computes the embedding once per step and broadcasts it:
  the same values up to FP32 rounding (one FP32 row instead of 18,720 identical ones), ~15 ms less
  per pass on an H100.
  Falls back to the per-row computation when the rows differ. On by default.
- ``drop_lm_head``: free the transformer's text ``lm_head`` (151936x4096, 1.16 GiB in BF16), which
  video generation never calls.
- ``offload``: ``model`` moves whole components between CPU and GPU (the transformer alone is
  ~30 GiB in BF16, so this only helps where the VAE is what does not fit); ``group`` streams the
  transformer's layers from CPU memory each step (diffusers group offload, with a CUDA stream);
  ``sequential`` is diffusers' per-module offload. Only for GPUs where nothing else fits.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRECISIONS = ("bf16", "fp8")
FP8_BACKENDS = ("scaled_mm", "torchao")
FP8_GRANULARITIES = ("auto", "row", "tensor")
COMPILE_MODES = ("none", "regional", "full")
OFFLOAD_MODES = ("none", "model", "group", "sequential")
# Attention backends this module implements with a pinned torch SDPA kernel.
SDPA_BACKENDS = ("cudnn", "flash", "efficient", "math")
# FlashAttention 4 (flash-attn-4, CuTe DSL): runs on compute capability 8.x to 12.x; "auto" picks it
# only where it was measured faster than cuDNN (Hopper) or is FA4's primary target (Blackwell).
FA4_BACKEND = "fa4"
AUTO_BACKEND = "auto"
FA4_AUTO_CAPABILITIES = (9, 10)
FP8_MIN_CAPABILITY = (8, 9)
FP8_E4M3_MAX = 448.0


class AccelError(ValueError):
    """A switch cannot apply to this pipeline on this machine."""


@dataclasses.dataclass(frozen=True)
class AccelOptions:
    """The generator job's speed/memory switches (see the module docstring)."""

    precision: str = "bf16"
    fp8_backend: str = "scaled_mm"
    fp8_granularity: str = "auto"
    compile: str = "none"
    compile_cache_dir: str | None = None
    compile_dynamic: bool | None = True
    compile_mode: str | None = None
    compile_backend: str = "inductor"
    compile_fullgraph: bool = False
    attention_backend: str = AUTO_BACKEND
    vae_tiling: bool = False
    cudnn_benchmark: bool = False
    vae_channels_last: bool = False
    drop_lm_head: bool = False
    shared_timestep_embedding: bool = True
    offload: str = "none"

    def __post_init__(self) -> None:
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("fp8_backend", self.fp8_backend, FP8_BACKENDS)
        _check_choice("fp8_granularity", self.fp8_granularity, FP8_GRANULARITIES)
        _check_choice("compile", self.compile, COMPILE_MODES)
        _check_choice("offload", self.offload, OFFLOAD_MODES)
        if not isinstance(self.attention_backend, str) or not self.attention_backend:
            raise AccelError("attention_backend must be a non-empty string")
        for name in (
            "cudnn_benchmark",
            "vae_channels_last",
            "drop_lm_head",
            "shared_timestep_embedding",
            "vae_tiling",
            "compile_fullgraph",
        ):
            if not isinstance(getattr(self, name), bool):
                raise AccelError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.compile_dynamic is not None and not isinstance(self.compile_dynamic, bool):
            raise AccelError(
                f"compile_dynamic must be true, false or null (torch decides), got {self.compile_dynamic!r}"
            )
        if self.offload in ("group", "sequential") and self.compile != "none":
            raise AccelError(
                f"offload={self.offload!r} streams weights per layer and cannot be combined with "
                f"compile={self.compile!r}; use compile='none' (or offload='model')"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> AccelOptions:
        """Build from a job spec mapping; unknown keys are an error, not ignored."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AccelError(f"unknown accel option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise AccelError(f"{name} must be one of {list(choices)}, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Top level
# ---------------------------------------------------------------------------------------------


def apply_optimizations(pipe: Any, options: AccelOptions | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``options`` to ``pipe`` in place and return a report of what was applied.

    Call once, with the pipeline already on its target device. Raises :class:`AccelError` when a
    switch cannot apply (nothing is changed in that case: all checks run before any change).
    """
    opts = options if isinstance(options, AccelOptions) else AccelOptions.from_mapping(options)
    transformer = pipe.transformer
    device = _module_device(transformer)
    _check_device(opts, device)
    if (opts.vae_channels_last or opts.vae_tiling) and getattr(pipe, "vae", None) is None:
        raise AccelError("vae_channels_last / vae_tiling need a pipeline with a VAE (pipe.vae)")

    report: dict[str, Any] = {"options": opts.to_dict(), "device": str(device)}
    if opts.drop_lm_head:
        report["dropped_lm_head_params"] = drop_lm_head(transformer)
    report["attention"] = set_attention_backend(
        transformer, opts.attention_backend, cache_dir=opts.compile_cache_dir
    )
    if opts.shared_timestep_embedding:
        report["shared_timestep_embedding"] = share_timestep_embedding(transformer, True)
    if opts.precision == "fp8":
        report["fp8"] = quantize_fp8(transformer, backend=opts.fp8_backend, granularity=opts.fp8_granularity)
    if opts.compile != "none":
        report["compile"] = compile_with_options(transformer, opts)
    if opts.vae_tiling:
        pipe.vae.enable_tiling()
        report["vae_tiling"] = True
    if opts.cudnn_benchmark:
        report["cudnn_benchmark"] = set_cudnn_benchmark(True)
    if opts.vae_channels_last:
        report["vae_channels_last"] = set_vae_channels_last(pipe.vae, True)
    if opts.offload != "none":
        report["offload"] = enable_offload(pipe, opts.offload)
    return report


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _check_device(opts: AccelOptions, device: torch.device) -> None:
    if opts.precision == "fp8":
        check_fp8_supported(device)
        if opts.fp8_backend == "torchao":
            try:
                import torchao  # noqa: F401
            except ImportError as exc:
                raise AccelError(
                    "fp8_backend='torchao' needs the torchao package; use fp8_backend='scaled_mm'"
                ) from exc
    if opts.attention_backend == FA4_BACKEND:
        check_fa4_supported(device, cache_dir=opts.compile_cache_dir)
    if opts.attention_backend in SDPA_BACKENDS and opts.attention_backend != "math" and device.type != "cuda":
        raise AccelError(
            f"attention_backend={opts.attention_backend!r} is a CUDA kernel but the transformer is on "
            f"{device}; use 'default' or 'math'"
        )
    if opts.offload != "none" and not torch.cuda.is_available():
        raise AccelError(
            f"offload={opts.offload!r} moves weights between CPU and a CUDA GPU; no GPU is present"
        )


def check_fp8_supported(device: torch.device | str) -> tuple[int, int]:
    """Return the GPU's compute capability, or raise AccelError when FP8 GEMMs cannot run there."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise AccelError(
            "precision='fp8' needs an NVIDIA GPU of compute capability >= 8.9 (L4, L40S, H100, H200 or "
            f"newer) for FP8 tensor-core GEMMs; the transformer is on {device}. Use precision='bf16'."
        )
    cap = torch.cuda.get_device_capability(device)
    if cap < FP8_MIN_CAPABILITY:
        name = torch.cuda.get_device_name(device)
        raise AccelError(
            f"precision='fp8' needs compute capability >= 8.9; {name} is {cap[0]}.{cap[1]} (A10G and A100 "
            "have no FP8 tensor cores). Use precision='bf16'."
        )
    return cap


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _sdpa_backend_enum(name: str) -> Any:
    from torch.nn.attention import SDPBackend

    return {
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "math": SDPBackend.MATH,
    }[name]


_GQA_SUPPORT: dict[tuple[str, str, int], bool] = {}


def sdpa_supports_gqa(backend: str, device: torch.device, dtype: torch.dtype, head_dim: int) -> bool:
    """Probe once whether a pinned SDPA kernel accepts ``enable_gqa=True`` (torch version dependent)."""
    key = (backend, str(device), head_dim)
    if key not in _GQA_SUPPORT:
        from torch.nn.attention import sdpa_kernel

        q = torch.randn(1, 4, 16, head_dim, device=device, dtype=dtype)
        kv = torch.randn(1, 2, 16, head_dim, device=device, dtype=dtype)
        try:
            with sdpa_kernel([_sdpa_backend_enum(backend)]):
                F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
            _GQA_SUPPORT[key] = True
        except RuntimeError:
            _GQA_SUPPORT[key] = False
    return _GQA_SUPPORT[key]


class Cosmos3SDPAProcessor:
    """Cosmos3 dual-pathway attention with a pinned PyTorch SDPA kernel.

    Same math as diffusers' ``Cosmos3AttnProcessor`` (per-pathway projections, QK norms, rotary
    embeddings, a causal understanding pathway and a full generation pathway that attends to both),
    but calls ``F.scaled_dot_product_attention`` under ``sdpa_kernel([backend])``. When the kernel
    has no native grouped-query support the key/value heads are repeated (a few MB per layer).
    Subclasses change only :meth:`_attend` (the kernel call).
    """

    def __init__(self, backend: str, expand_kv: bool):
        if backend not in SDPA_BACKENDS:
            raise AccelError(f"unknown SDPA backend {backend!r}; known: {list(SDPA_BACKENDS)}")
        self.backend = backend
        self.expand_kv = expand_kv
        self._backends = [_sdpa_backend_enum(backend)]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool) -> torch.Tensor:
        """``q``: [N, H, D], ``k``/``v``: [M, H_kv, D] -> [N, H * D]."""
        from torch.nn.attention import sdpa_kernel

        # [N, H, D] -> [1, H, N, D]
        q = q.transpose(0, 1).unsqueeze(0)
        k = k.transpose(0, 1).unsqueeze(0)
        v = v.transpose(0, 1).unsqueeze(0)
        groups = q.shape[1] // k.shape[1]
        gqa = groups > 1
        if gqa and self.expand_kv:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
            gqa = False
        with sdpa_kernel(self._backends):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, enable_gqa=gqa)
        return out.squeeze(0).transpose(0, 1).flatten(-2, -1)

    def __call__(
        self,
        attn: Any,
        und_seq: torch.Tensor,
        gen_seq: torch.Tensor,
        rotary_emb: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        q_und = attn.to_q(und_seq).view(-1, attn.num_attention_heads, attn.head_dim)
        k_und = attn.to_k(und_seq).view(-1, attn.num_key_value_heads, attn.head_dim)
        v_und = attn.to_v(und_seq).view(-1, attn.num_key_value_heads, attn.head_dim)
        q_gen = attn.add_q_proj(gen_seq).view(-1, attn.num_attention_heads, attn.head_dim)
        k_gen = attn.add_k_proj(gen_seq).view(-1, attn.num_key_value_heads, attn.head_dim)
        v_gen = attn.add_v_proj(gen_seq).view(-1, attn.num_key_value_heads, attn.head_dim)

        q_und = attn.norm_q(q_und)
        k_und = attn.norm_k(k_und)
        k_und_for_gen = attn.k_norm_und_for_gen(k_und) if attn.k_norm_und_for_gen is not None else k_und
        q_gen = attn.norm_added_q(q_gen)
        k_gen = attn.norm_added_k(k_gen)

        cos_und, sin_und, cos_gen, sin_gen = rotary_emb
        cos_und = cos_und.unsqueeze(1)
        sin_und = sin_und.unsqueeze(1)
        q_und = q_und * cos_und + _rotate_half(q_und) * sin_und
        k_und = k_und * cos_und + _rotate_half(k_und) * sin_und
        k_und_for_gen = k_und_for_gen * cos_und + _rotate_half(k_und_for_gen) * sin_und
        cos_gen = cos_gen.unsqueeze(1)
        sin_gen = sin_gen.unsqueeze(1)
        q_gen = q_gen * cos_gen + _rotate_half(q_gen) * sin_gen
        k_gen = k_gen * cos_gen + _rotate_half(k_gen) * sin_gen

        causal_out = self._attend(q_und, k_und, v_und, is_causal=True)
        all_k = torch.cat([k_und_for_gen, k_gen], dim=0)
        all_v = torch.cat([v_und, v_gen], dim=0)
        full_out = self._attend(q_gen, all_k, all_v, is_causal=False)
        return attn.to_out(causal_out), attn.to_add_out(full_out)


@torch.library.custom_op("cosmos3::fa4_attention", mutates_args=())
def fa4_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool) -> torch.Tensor:
    """FlashAttention 4 forward: ``q`` [B, N, H, D], ``k``/``v`` [B, M, H_kv, D] -> [B, N, H, D].

    A custom op so that ``torch.compile`` keeps the call inside the compiled block (FA4's own entry
    point is an autograd.Function that JIT-compiles CuTe kernels, which dynamo cannot trace).
    """
    from flash_attn.cute import flash_attn_func

    out = flash_attn_func(q, k, v, causal=is_causal)
    return out[0] if isinstance(out, tuple) else out


@fa4_attention.register_fake
def _fa4_attention_fake(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool) -> torch.Tensor:
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


class Cosmos3FA4Processor(Cosmos3SDPAProcessor):
    """:class:`Cosmos3SDPAProcessor` with FlashAttention 4 as the kernel (GQA native, [B, N, H, D]
    layout: no transposes or key/value copies)."""

    def __init__(self) -> None:
        self.backend = FA4_BACKEND
        self.expand_kv = False
        self._backends = []

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool) -> torch.Tensor:
        out = torch.ops.cosmos3.fa4_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), is_causal)
        return out.squeeze(0).flatten(-2, -1)


_FA4_CHECKED: dict[str, tuple[int, int]] = {}


def resolve_auto_attention(
    device: torch.device | str, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[str, str]:
    """What ``attention_backend="auto"`` runs on ``device``: (backend, why)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return "default", f"no CUDA device ({device})"
    cap = torch.cuda.get_device_capability(device)
    if cap[0] not in FA4_AUTO_CAPABILITIES:
        return "default", f"compute capability {cap[0]}.{cap[1]}: FlashAttention 4 is used on 9.x/10.x only"
    try:
        check_fa4_supported(device, cache_dir=cache_dir)
    except AccelError as exc:
        return "default", f"FlashAttention 4 unavailable: {exc}"
    return FA4_BACKEND, f"compute capability {cap[0]}.{cap[1]} with FlashAttention 4"


def _require_cuda_for_fa4(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise AccelError(
            f"attention_backend='fa4' runs FlashAttention 4 CUDA kernels; the transformer is on {device}. "
            "Use attention_backend='default' (or 'cudnn' on a GPU)."
        )
    return device


def check_fa4_supported(
    device: torch.device | str, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[int, int]:
    """Raise AccelError unless FlashAttention 4 imports and runs on ``device``; returns its capability.

    Runs one tiny GQA attention through the custom op and compares it with PyTorch's math kernel,
    so a broken install (missing CuTe DSL libraries, an unsupported GPU) fails before the model runs.
    ``cache_dir``: keep FA4's compiled kernels on disk under ``<cache_dir>/fa4``. FA4 reads that
    setting when it is first imported, which this check does: set here, before the import.
    """
    device = _require_cuda_for_fa4(device)
    if cache_dir is not None:
        os.environ.setdefault("FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED", "1")
        os.environ.setdefault("FLASH_ATTENTION_CUTE_DSL_CACHE_DIR", os.path.join(os.fspath(cache_dir), "fa4"))
    key = str(device)
    if key in _FA4_CHECKED:
        return _FA4_CHECKED[key]
    cap = torch.cuda.get_device_capability(device)
    try:
        import flash_attn.cute  # noqa: F401
    except Exception as exc:  # ImportError, or the CuTe DSL failing to load its native libraries
        raise AccelError(
            "attention_backend='fa4' needs the flash-attn-4 package (pip install flash-attn-4, with "
            f"nvidia-cutlass-dsl for this CUDA version): {type(exc).__name__}: {exc}. Use 'cudnn'."
        ) from exc
    try:
        q = torch.randn(1, 128, 4, 128, device=device, dtype=torch.bfloat16)
        kv = torch.randn(1, 160, 2, 128, device=device, dtype=torch.bfloat16)
        out = torch.ops.cosmos3.fa4_attention(q, kv, kv, False)
        ref = F.scaled_dot_product_attention(
            q.transpose(1, 2).float(), kv.transpose(1, 2).float(), kv.transpose(1, 2).float(), enable_gqa=True
        ).transpose(1, 2)
        err = float((out.float() - ref).norm() / ref.norm())
    except Exception as exc:
        name = torch.cuda.get_device_name(device)
        raise AccelError(
            f"FlashAttention 4 cannot run on {name} (compute capability {cap[0]}.{cap[1]}): "
            f"{type(exc).__name__}: {str(exc)[:300]}. Use attention_backend='cudnn'."
        ) from exc
    if not err < 2e-2:
        raise AccelError(f"FlashAttention 4 self-check failed on {device}: rel error {err:.3g} vs PyTorch")
    _FA4_CHECKED[key] = cap
    return cap


def set_attention_backend(
    transformer: nn.Module, name: str, *, cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Select the attention kernel (see the module docstring); returns what was installed.

    ``cache_dir`` (FA4 only) keeps FlashAttention 4's compiled kernels on disk there.
    """
    from diffusers.models.transformers.transformer_cosmos3 import Cosmos3AttnProcessor

    if name == "default":
        transformer.set_attn_processor(Cosmos3AttnProcessor())
        reset = getattr(transformer, "reset_attention_backend", None)
        if reset is not None:
            reset()
        return {"backend": "default"}
    if name == AUTO_BACKEND:
        choice, reason = resolve_auto_attention(_module_device(transformer), cache_dir=cache_dir)
        report = set_attention_backend(transformer, choice, cache_dir=cache_dir)
        return {**report, "auto": reason}
    if name == FA4_BACKEND:
        cap = check_fa4_supported(_module_device(transformer), cache_dir=cache_dir)
        transformer.set_attn_processor(Cosmos3FA4Processor())
        return {"backend": FA4_BACKEND, "gqa": "native", "compute_capability": f"{cap[0]}.{cap[1]}"}
    if name in SDPA_BACKENDS:
        device = _module_device(transformer)
        if name != "math" and device.type != "cuda":
            raise AccelError(f"attention_backend={name!r} needs a CUDA device, transformer is on {device}")
        head_dim = int(transformer.config.head_dim)
        dtype = next(transformer.layers[0].parameters()).dtype
        if dtype not in (torch.float16, torch.bfloat16, torch.float32):
            dtype = torch.bfloat16
        native_gqa = sdpa_supports_gqa(name, device, dtype, head_dim)
        transformer.set_attn_processor(Cosmos3SDPAProcessor(name, expand_kv=not native_gqa))
        return {"backend": name, "gqa": "native" if native_gqa else "expanded_kv"}
    try:
        transformer.set_attention_backend(name)
    except Exception as exc:  # diffusers raises ValueError/ImportError for unknown or missing kernels
        raise AccelError(f"diffusers attention backend {name!r} cannot be used here: {exc}") from exc
    return {"backend": name, "via": "diffusers"}


# ---------------------------------------------------------------------------------------------
# Timestep embedding
# ---------------------------------------------------------------------------------------------


class SharedTimestepEmbedding(nn.Module):
    """Wraps the transformer's ``time_embedder``: identical input rows are embedded once.

    The pipeline hands the embedder one row per noisy token, all with the step's timestep. When
    every row equals the first (one host synchronisation to check), the first row alone goes
    through the MLP and the result is broadcast; otherwise every row is computed as before. The
    values are those of the per-row computation up to FP32 rounding (a one-row GEMM may run
    another kernel: differences of ~1e-7 relative).
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, sample: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        # The equality check depends on the data: under torch.compile (a full-transformer compile;
        # regional compilation leaves this module eager) compute every row instead, so the graph
        # neither breaks here nor fails with fullgraph=True.
        compiling = torch.compiler.is_compiling()
        if not compiling and not args and not kwargs and sample.dim() == 2 and sample.shape[0] > 1:
            first = sample[:1]
            if torch.equal(sample, first.expand_as(sample)):
                return self.inner(first).expand(sample.shape[0], -1)
        return self.inner(sample, *args, **kwargs)


def share_timestep_embedding(transformer: nn.Module, enabled: bool = True) -> dict[str, Any]:
    """Install (``enabled``) or remove :class:`SharedTimestepEmbedding` on ``transformer``."""
    current = getattr(transformer, "time_embedder", None)
    if current is None:
        raise AccelError("shared_timestep_embedding needs a transformer with a time_embedder")
    wrapped = isinstance(current, SharedTimestepEmbedding)
    if enabled and not wrapped:
        transformer.time_embedder = SharedTimestepEmbedding(current)
    elif not enabled and wrapped:
        transformer.time_embedder = current.inner
    return {"enabled": bool(enabled)}


# ---------------------------------------------------------------------------------------------
# FP8
# ---------------------------------------------------------------------------------------------


class Float8Linear(nn.Module):
    """``y = x @ W.T`` with W stored as FP8 e4m3 plus scales and x quantized to FP8 on the fly.

    Weight scales are per output row (``granularity='row'``) or one per tensor; the activation
    scale follows the same granularity (per token row, or per tensor). The GEMM is
    ``torch._scaled_mm`` with BF16 output; under ``torch.compile`` the activation quantization
    fuses into a single kernel. ``emulate=True`` runs the same quantization with a float matmul
    (CPU tests of the numerics only).
    """

    def __init__(self, linear: nn.Linear, granularity: str = "row", emulate: bool = False):
        super().__init__()
        if granularity not in ("row", "tensor"):
            raise AccelError(f"granularity must be 'row' or 'tensor', got {granularity!r}")
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.granularity = granularity
        self.emulate = emulate
        self.out_dtype = linear.weight.dtype if linear.weight.dtype != torch.float32 else torch.bfloat16
        w = linear.weight.detach().float()
        amax = w.abs().amax(dim=1, keepdim=True) if granularity == "row" else w.abs().amax().reshape(1, 1)
        scale = amax.clamp(min=1e-12) / FP8_E4M3_MAX
        w_fp8 = (w / scale).clamp(-FP8_E4M3_MAX, FP8_E4M3_MAX).to(torch.float8_e4m3fn)
        self.register_buffer("weight_fp8", w_fp8.contiguous())
        # scale_b for _scaled_mm: [1, out] (row) or [1, 1] (tensor), float32
        self.register_buffer("weight_scale", scale.reshape(1, -1).contiguous())
        self.bias = (
            None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, granularity={self.granularity}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        xf = x2.float()
        if self.granularity == "row":
            amax = xf.abs().amax(dim=-1, keepdim=True)
        else:
            amax = xf.abs().amax().reshape(1, 1)
        x_scale = amax.clamp(min=1e-12) / FP8_E4M3_MAX
        x_fp8 = (xf / x_scale).clamp(-FP8_E4M3_MAX, FP8_E4M3_MAX).to(torch.float8_e4m3fn)
        if self.emulate:
            out = (x_fp8.float() * x_scale) @ (self.weight_fp8.float() * self.weight_scale.reshape(-1, 1)).t()
            out = out.to(x.dtype if x.dtype != torch.float32 else torch.float32)
        else:
            out = torch._scaled_mm(
                x_fp8,
                self.weight_fp8.t(),
                scale_a=x_scale,
                scale_b=self.weight_scale,
                out_dtype=self.out_dtype,
                use_fast_accum=True,  # as torchao's float8 inference: ~15% faster GEMMs on H100
            )
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*shape[:-1], self.out_features)


def _fp8_eligible(module: nn.Module) -> bool:
    return (
        type(module) is nn.Linear
        and module.in_features % 16 == 0
        and module.out_features % 16 == 0
        and module.weight.dtype in (torch.bfloat16, torch.float16, torch.float32)
    )


def quantize_fp8(
    transformer: nn.Module, backend: str = "scaled_mm", granularity: str = "auto", emulate: bool = False
) -> dict[str, Any]:
    """Swap the decoder blocks' Linear layers for FP8 ones, in place, one layer at a time."""
    device = _module_device(transformer)
    cap = (9, 0) if emulate else check_fp8_supported(device)
    if granularity == "auto":
        # per-row scaled_mm kernels are Hopper-first; Ada (8.9) gets per-tensor scales
        granularity = "row" if cap >= (9, 0) else "tensor"
    before = _param_bytes(transformer)
    count = 0
    if backend == "torchao" and not emulate:
        from torchao.quantization import (
            Float8DynamicActivationFloat8WeightConfig,
            PerRow,
            PerTensor,
            quantize_,
        )

        config = Float8DynamicActivationFloat8WeightConfig(
            granularity=PerRow() if granularity == "row" else PerTensor()
        )
        for layer in transformer.layers:
            eligible = [m for m in layer.modules() if _fp8_eligible(m)]
            count += len(eligible)
            quantize_(layer, config, filter_fn=lambda m, _fqn: _fp8_eligible(m))
    elif backend in ("scaled_mm", "torchao"):
        for layer in transformer.layers:
            for parent in list(layer.modules()):
                for child_name, child in list(parent.named_children()):
                    if _fp8_eligible(child):
                        setattr(
                            parent, child_name, Float8Linear(child, granularity=granularity, emulate=emulate)
                        )
                        count += 1
                        del child
        backend = "emulated" if emulate else "scaled_mm"
    else:
        raise AccelError(f"fp8_backend must be one of {list(FP8_BACKENDS)}, got {backend!r}")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "backend": backend,
        "granularity": granularity,
        "linears": count,
        "param_bytes_before": before,
        "param_bytes_after": _param_bytes(transformer),
    }


def _param_bytes(module: nn.Module) -> int:
    total = sum(p.numel() * p.element_size() for p in module.parameters())
    total += sum(b.numel() * b.element_size() for b in module.buffers())
    return int(total)


# ---------------------------------------------------------------------------------------------
# Compile
# ---------------------------------------------------------------------------------------------


def configure_compile_cache(cache_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Point Inductor's and Triton's persistent caches at ``cache_dir`` (a shared EFS path in jobs).

    Must run before the first compile in the process. The FX graph cache and the AOTAutograd cache
    are keyed by graph, torch version, GPU and config, so one directory can serve several models,
    resolutions and GPU types; a concurrent writer only ever adds files (atomic renames).
    """
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    try:
        import torch._functorch.config as functorch_config

        functorch_config.enable_autograd_cache = True
    except (ImportError, AttributeError):
        pass
    if cache_dir is None:
        return {"cache_dir": None}
    root = os.fspath(cache_dir)
    os.makedirs(root, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(root, "inductor")
    os.environ["TRITON_CACHE_DIR"] = os.path.join(root, "triton")
    return {"cache_dir": root}


def compile_transformer(
    transformer: nn.Module,
    mode: str = "regional",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    dynamic: bool | None = True,
    mode_name: str | None = None,
    backend: str = "inductor",
    fullgraph: bool = False,
) -> dict[str, Any]:
    """Compile the transformer (``regional``: the repeated decoder block; ``full``: everything)."""
    _check_choice("compile", mode, COMPILE_MODES)
    info = configure_compile_cache(cache_dir)
    kwargs: dict[str, Any] = {"dynamic": dynamic, "backend": backend, "fullgraph": fullgraph}
    if mode_name:
        kwargs["mode"] = mode_name
    if mode == "regional":
        transformer.compile_repeated_blocks(**kwargs)
    elif mode == "full":
        transformer.compile(**kwargs)
    info.update({"mode": mode, **kwargs})
    return info


def compile_with_options(transformer: nn.Module, opts: AccelOptions) -> dict[str, Any]:
    """:func:`compile_transformer` with the ``compile*`` fields of ``opts``."""
    return compile_transformer(
        transformer,
        opts.compile,
        cache_dir=opts.compile_cache_dir,
        dynamic=opts.compile_dynamic,
        mode_name=opts.compile_mode,
        backend=opts.compile_backend,
        fullgraph=opts.compile_fullgraph,
    )


def uncompile_transformer(transformer: nn.Module) -> None:
    """Undo ``compile_transformer`` (benchmarks switch paths on one pipeline)."""
    for module in transformer.modules():
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None
    torch._dynamo.reset()


# ---------------------------------------------------------------------------------------------
# VAE convolutions
# ---------------------------------------------------------------------------------------------


def set_cudnn_benchmark(enabled: bool) -> dict[str, Any]:
    """Turn cuDNN's per-shape algorithm search on or off (process-wide); returns the change."""
    was = bool(torch.backends.cudnn.benchmark)
    torch.backends.cudnn.benchmark = bool(enabled)
    return {
        "enabled": bool(enabled),
        "was": was,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def set_vae_channels_last(vae: nn.Module, enabled: bool = True) -> dict[str, Any]:
    """Store the VAE's conv weights channels-last (``enabled``) or contiguous again, in place.

    A convolution whose weight is channels-last runs channels-last and hands its output on in that
    layout, so the layout spreads through the decoder from its first conv on. Returns how many
    weights were converted.
    """
    formats = (
        {5: torch.channels_last_3d, 4: torch.channels_last}
        if enabled
        else {5: torch.contiguous_format, 4: torch.contiguous_format}
    )
    converted = 0
    for module in vae.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            weight = module.weight
            fmt = formats[weight.dim()]
            if not weight.is_contiguous(memory_format=fmt):
                weight.data = weight.data.contiguous(memory_format=fmt)
                converted += 1
    return {"enabled": bool(enabled), "weights_converted": converted}


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def drop_lm_head(transformer: nn.Module) -> int:
    """Free the text LM head, which video generation never calls; returns the parameters freed."""
    head = getattr(transformer, "lm_head", None)
    if head is None or isinstance(head, nn.Identity):
        return 0
    freed = sum(p.numel() for p in head.parameters())
    transformer.lm_head = nn.Identity()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return int(freed)


def enable_offload(pipe: Any, mode: str) -> dict[str, Any]:
    _check_choice("offload", mode, OFFLOAD_MODES)
    if mode == "model":
        pipe.enable_model_cpu_offload()
    elif mode == "sequential":
        pipe.enable_sequential_cpu_offload()
    elif mode == "group":
        onload = torch.device("cuda")
        pipe.transformer.to("cpu")
        pipe.transformer.enable_group_offload(
            onload_device=onload,
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
        pipe.vae.to(onload)
        # The pipeline picks its device from the transformer's parameters, which now live on the
        # CPU between uses: pin the execution device to the GPU.
        pipe._get_execution_device = lambda: onload
    return {"mode": mode}
