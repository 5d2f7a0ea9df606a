"""The generator's speed/memory switches (cosmos_generator.accel) on CPU with the tiny pipeline.

Where a switch applies on CPU the output must match stock; where it cannot (FP8 without a GPU of
compute capability >= 8.9, CUDA attention kernels, FlashAttention 4, offload without a GPU) it must
fail with a clear AccelError before changing anything. GPU timings live in docs/benchmarks/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from cosmos_generator import accel
from cosmos_generator.accel import AccelError, AccelOptions, apply_optimizations

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "container" / "generator" / "bench.py"
RAW = ROOT / "docs" / "benchmarks" / "raw-2026-11-25"
# the options under which apply_optimizations leaves the pipeline exactly as diffusers ships it
# (AccelOptions' own defaults are the job's recommended settings: "auto" attention, shared
# timestep embedding)
STOCK = {"attention_backend": "default", "shared_timestep_embedding": False}


def _render(pipe) -> torch.Tensor:
    return pipe(
        "a robot arm picks up a red cup",
        num_frames=9,
        height=32,
        width=48,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
        enable_safety_check=False,
    ).video


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.fixture()
def fresh_pipe():
    """A pipeline of its own: the switches change it in place."""
    from cosmos_generator.random_pipeline import build_random_pipeline

    return build_random_pipeline("tiny")


@pytest.fixture(scope="module")
def stock_latents():
    from cosmos_generator.random_pipeline import build_random_pipeline

    return _render(build_random_pipeline("tiny"))


# --- options ---------------------------------------------------------------------------------


def test_defaults_and_round_trip():
    opts = AccelOptions.from_mapping(None)
    assert opts == AccelOptions()
    assert opts.precision == "bf16" and opts.compile == "none" and opts.offload == "none"
    # on by default: FlashAttention 4 where it runs and pays off, one timestep embedding per step
    assert opts.attention_backend == "auto" and opts.shared_timestep_embedding is True
    assert AccelOptions.from_mapping(opts.to_dict()) == opts


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"precison": "fp8"}, "unknown accel option"),
        ({"precision": "int4"}, "precision must be one of"),
        ({"compile": "max"}, "compile must be one of"),
        ({"offload": "disk"}, "offload must be one of"),
        ({"fp8_backend": "te"}, "fp8_backend must be one of"),
        ({"offload": "group", "compile": "regional"}, "cannot be combined"),
        ({"attention_backend": ""}, "attention_backend"),
        ({"cudnn_benchmark": "yes"}, "cudnn_benchmark must be true or false"),
        ({"vae_channels_last": 1}, "vae_channels_last must be true or false"),
        ({"shared_timestep_embedding": "false"}, "shared_timestep_embedding must be true or false"),
        ({"drop_lm_head": 0}, "drop_lm_head must be true or false"),
        ({"vae_tiling": "yes"}, "vae_tiling must be true or false"),
        ({"compile_dynamic": "true"}, "compile_dynamic must be true, false or null"),
        ({"compile_fullgraph": 1}, "compile_fullgraph must be true or false"),
    ],
)
def test_bad_options_are_rejected(values, message):
    with pytest.raises(AccelError, match=message):
        AccelOptions.from_mapping(values)


# --- switches that apply on CPU: same output as stock -----------------------------------------


def test_stock_options_are_stock(fresh_pipe, stock_latents):
    report = apply_optimizations(fresh_pipe, STOCK)
    assert report["attention"] == {"backend": "default"}
    assert "shared_timestep_embedding" not in report
    assert not isinstance(fresh_pipe.transformer.time_embedder, accel.SharedTimestepEmbedding)
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0


def test_defaults_on_cpu_match_stock(fresh_pipe, stock_latents):
    """What a job gets when its spec sets nothing: "auto" attention is diffusers' dispatcher on
    CPU (and says why), the shared timestep embedding is on, the output is stock's."""
    report = apply_optimizations(fresh_pipe, {})
    assert report["attention"] == {"backend": "default", "auto": "no CUDA device (cpu)"}
    assert report["shared_timestep_embedding"] == {"enabled": True}
    processor = fresh_pipe.transformer.layers[0].self_attn.processor
    assert type(processor).__name__ == "Cosmos3AttnProcessor"
    assert isinstance(fresh_pipe.transformer.time_embedder, accel.SharedTimestepEmbedding)
    # one embedding row instead of one per token: a GEMM of another shape, so rounding may differ
    assert _rel(_render(fresh_pipe), stock_latents) < 1e-5


def test_math_attention_matches_stock(fresh_pipe, stock_latents):
    report = apply_optimizations(fresh_pipe, {"attention_backend": "math"})
    assert report["attention"]["backend"] == "math"
    assert isinstance(fresh_pipe.transformer.layers[0].self_attn.processor, accel.Cosmos3SDPAProcessor)
    assert _rel(_render(fresh_pipe), stock_latents) < 1e-5


def _gqa_attention_outputs(processor) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """``processor``'s and diffusers' outputs on one attention layer with 4 query heads sharing 2
    key/value heads (the grouped-query case the real model has: 32 and 8), 5 text and 7 video
    tokens."""
    from diffusers.models.transformers.transformer_cosmos3 import (
        Cosmos3AttnProcessor,
        Cosmos3PackedMoTAttention,
    )

    torch.manual_seed(0)
    attn = Cosmos3PackedMoTAttention(
        hidden_size=32,
        head_dim=8,
        num_attention_heads=4,
        num_key_value_heads=2,
        attention_bias=False,
        rms_norm_eps=1e-6,
    ).eval()
    und, gen = torch.randn(5, 32), torch.randn(7, 32)
    rotary = (torch.randn(5, 8), torch.randn(5, 8), torch.randn(7, 8), torch.randn(7, 8))
    with torch.no_grad():
        return processor(attn, und, gen, rotary), Cosmos3AttnProcessor()(attn, und, gen, rotary)


@pytest.mark.parametrize("expand_kv", [False, True])
def test_sdpa_processor_matches_diffusers_with_gqa(expand_kv):
    out, ref = _gqa_attention_outputs(accel.Cosmos3SDPAProcessor("math", expand_kv=expand_kv))
    for a, b in zip(out, ref, strict=True):
        assert _rel(a, b) < 1e-5


def test_regional_compile_matches_stock(fresh_pipe, stock_latents, tmp_path, monkeypatch):
    # eager backend: checks the wiring (regional compile of the repeated block, cache directory)
    # in seconds; Inductor itself is measured on the GPU by bench.py
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "unset")
    monkeypatch.setenv("TRITON_CACHE_DIR", "unset")
    report = apply_optimizations(
        fresh_pipe,
        {"compile": "regional", "compile_backend": "eager", "compile_cache_dir": str(tmp_path / "cc")},
    )
    try:
        assert report["compile"]["mode"] == "regional" and report["compile"]["dynamic"] is True
        assert all(layer._compiled_call_impl is not None for layer in fresh_pipe.transformer.layers)
        assert (tmp_path / "cc").is_dir()
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cc" / "inductor")
        assert _rel(_render(fresh_pipe), stock_latents) < 1e-5
    finally:
        accel.uncompile_transformer(fresh_pipe.transformer)
    assert all(layer._compiled_call_impl is None for layer in fresh_pipe.transformer.layers)


def test_vae_tiling_and_drop_lm_head_match_stock(fresh_pipe, stock_latents):
    params = sum(p.numel() for p in fresh_pipe.transformer.lm_head.parameters())
    report = apply_optimizations(fresh_pipe, {**STOCK, "vae_tiling": True, "drop_lm_head": True})
    assert report["dropped_lm_head_params"] == params > 0
    assert isinstance(fresh_pipe.transformer.lm_head, torch.nn.Identity)
    assert fresh_pipe.vae.use_tiling
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0


def _decode(pipe) -> torch.Tensor:
    vae = pipe.vae
    torch.manual_seed(1)
    z = torch.randn(1, vae.config.z_dim, 3, 4, 6)
    with torch.no_grad():
        return vae.decode(z, return_dict=False)[0]


def _conv_weights(vae) -> list[torch.Tensor]:
    return [m.weight for m in vae.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d)]


def _channels_last(w: torch.Tensor) -> bool:
    return w.is_contiguous(memory_format=torch.channels_last_3d if w.dim() == 5 else torch.channels_last)


def test_cudnn_benchmark_and_vae_channels_last_keep_the_output(fresh_pipe, stock_latents, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    stock_video = _decode(fresh_pipe)
    # 1x1 kernels are both layouts at once: only the others need converting
    to_convert = sum(not _channels_last(w) for w in _conv_weights(fresh_pipe.vae))
    report = apply_optimizations(fresh_pipe, {**STOCK, "cudnn_benchmark": True, "vae_channels_last": True})
    assert report["cudnn_benchmark"]["enabled"] is True and report["cudnn_benchmark"]["was"] is False
    assert torch.backends.cudnn.benchmark is True
    weights = _conv_weights(fresh_pipe.vae)
    assert report["vae_channels_last"]["weights_converted"] == to_convert > 0
    assert all(_channels_last(w) for w in weights)
    # the transformer has no convolutions: its latents are stock's; the decode is the same maths
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0
    video = _decode(fresh_pipe)
    assert video.shape == stock_video.shape
    assert _rel(video, stock_video) < 1e-5
    # and back: contiguous weights, default flag
    assert accel.set_vae_channels_last(fresh_pipe.vae, False)["weights_converted"] == to_convert
    assert all(w.is_contiguous() for w in _conv_weights(fresh_pipe.vae))
    assert accel.set_cudnn_benchmark(False) == {
        "enabled": False,
        "was": True,
        "cudnn": report["cudnn_benchmark"]["cudnn"],
    }
    assert _rel(_decode(fresh_pipe), stock_video) == 0.0


def test_vae_channels_last_on_the_nano_vae_layout():
    """The real VAE's residual Wan 2.2 decoder (DupUp3D reshapes, 2D and 3D convs), narrow."""
    from cosmos_generator.random_pipeline import NANO_VAE
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae = AutoencoderKLWan(**{**NANO_VAE, "base_dim": 8, "decoder_base_dim": 8}).eval()
    z = torch.randn(1, NANO_VAE["z_dim"], 3, 2, 3)
    with torch.no_grad():
        ref = vae.decode(z, return_dict=False)[0]
        assert accel.set_vae_channels_last(vae, True)["weights_converted"] > 0
        out = vae.decode(z, return_dict=False)[0]
    assert out.shape == ref.shape == (1, 3, 9, 32, 48)
    assert _rel(out, ref) < 1e-5


# --- shared timestep embedding ------------------------------------------------------------------


def test_shared_timestep_embedding_matches_stock_with_one_row(fresh_pipe, stock_latents):
    transformer = fresh_pipe.transformer
    original = transformer.time_embedder
    report = apply_optimizations(
        fresh_pipe, {"attention_backend": "default", "shared_timestep_embedding": True}
    )
    assert report["shared_timestep_embedding"] == {"enabled": True}
    shared = transformer.time_embedder
    assert isinstance(shared, accel.SharedTimestepEmbedding) and shared.inner is original
    outer_rows: list[int] = []
    inner_rows: list[int] = []
    hooks = [
        shared.register_forward_pre_hook(lambda _m, args: outer_rows.append(args[0].shape[0])),
        shared.inner.register_forward_pre_hook(lambda _m, args: inner_rows.append(args[0].shape[0])),
    ]
    try:
        latents = _render(fresh_pipe)
    finally:
        for hook in hooks:
            hook.remove()
    # the pipeline hands over one row per noisy token; the MLP sees one row per call
    assert outer_rows and min(outer_rows) > 1
    assert inner_rows == [1] * len(outer_rows)
    assert _rel(latents, stock_latents) < 1e-5
    # and off again: the original module, stock's output bit for bit
    assert accel.share_timestep_embedding(transformer, False) == {"enabled": False}
    assert transformer.time_embedder is original
    assert accel.share_timestep_embedding(transformer, False) == {"enabled": False}  # idempotent
    assert transformer.time_embedder is original
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0


def _embedder_and_calls():
    from diffusers.models.embeddings import TimestepEmbedding

    torch.manual_seed(0)
    inner = TimestepEmbedding(in_channels=16, time_embed_dim=8, cond_proj_dim=4).eval()
    calls: list[tuple[tuple[int, ...], bool]] = []
    inner.register_forward_pre_hook(
        lambda _m, args, kwargs: calls.append((tuple(args[0].shape), bool(args[1:] or kwargs))),
        with_kwargs=True,
    )
    return inner, calls


def test_shared_timestep_embedding_identical_rows_are_embedded_once():
    inner, calls = _embedder_and_calls()
    shared = accel.SharedTimestepEmbedding(inner)
    x = torch.randn(1, 16).expand(50, 16).contiguous()
    with torch.no_grad():
        out = shared(x)
        calls_shared = list(calls)
        ref = inner(x)
    assert calls_shared == [((1, 16), False)]
    assert out.shape == ref.shape == (50, 8)
    assert torch.equal(out[0], out[-1])
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


def test_shared_timestep_embedding_falls_back_when_rows_differ():
    inner, calls = _embedder_and_calls()
    shared = accel.SharedTimestepEmbedding(inner)
    x = torch.randn(1, 16).expand(50, 16).clone()
    x[17] += 1e-3  # one token with another timestep
    cond = torch.randn(50, 4)
    with torch.no_grad():
        out = shared(x)
        out_cond = shared(x[:1].expand(50, 16).contiguous(), cond)  # a condition: not shared
        out_one = shared(x[:1])
        expected = (inner(x), inner(x[:1].expand(50, 16).contiguous(), cond), inner(x[:1]))
    assert calls[:3] == [((50, 16), False), ((50, 16), True), ((1, 16), False)]
    # the full computation, as without the wrapper: exactly the same numbers
    for got, want in zip((out, out_cond, out_one), expected, strict=True):
        assert torch.equal(got, want)
    assert not torch.equal(out[17], out[16])


def test_share_timestep_embedding_needs_a_time_embedder():
    with pytest.raises(AccelError, match="time_embedder"):
        accel.share_timestep_embedding(torch.nn.Linear(2, 2), True)


# --- attention "auto" and FlashAttention 4 ------------------------------------------------------


def test_auto_attention_on_cpu_is_the_default_dispatcher():
    assert accel.resolve_auto_attention("cpu") == ("default", "no CUDA device (cpu)")


def _fake_gpu(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Test GPU")


@pytest.mark.parametrize(
    ("capability", "fa4_works", "expected", "reason"),
    [
        ((8, 0), True, "default", r"compute capability 8\.0: FlashAttention 4 is used on 9\.x/10\.x only"),
        ((12, 0), True, "default", r"compute capability 12\.0: .*9\.x/10\.x only"),
        ((9, 0), True, "fa4", r"compute capability 9\.0 with FlashAttention 4"),
        ((10, 0), True, "fa4", r"compute capability 10\.0 with FlashAttention 4"),
        ((9, 0), False, "default", r"FlashAttention 4 unavailable: .*flash-attn-4"),
    ],
)
def test_auto_attention_picks_fa4_only_on_hopper_and_blackwell(
    monkeypatch, capability, fa4_works, expected, reason
):
    _fake_gpu(monkeypatch, capability)
    if fa4_works:
        monkeypatch.setattr(accel, "check_fa4_supported", lambda device, cache_dir=None: capability)
    else:
        monkeypatch.setitem(sys.modules, "flash_attn", None)  # "not installed", even where it is
        monkeypatch.setattr(accel, "_FA4_CHECKED", {})
    choice, why = accel.resolve_auto_attention("cuda")
    assert choice == expected
    assert re.match(reason, why), why


def test_fa4_without_the_package_is_a_clear_error(monkeypatch, tmp_path):
    _fake_gpu(monkeypatch, (9, 0))
    monkeypatch.setitem(sys.modules, "flash_attn", None)
    monkeypatch.setattr(accel, "_FA4_CHECKED", {})
    for name in ("FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED", "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AccelError, match=r"needs the flash-attn-4 package.*Use 'cudnn'"):
        accel.check_fa4_supported("cuda", cache_dir=tmp_path)
    # FA4 reads its disk-cache settings when first imported: they are in place before the import
    assert os.environ["FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED"] == "1"
    assert os.environ["FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"] == str(tmp_path / "fa4")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_fa4_on_cpu_is_a_clear_error_and_changes_nothing(fresh_pipe, stock_latents, tmp_path, monkeypatch):
    for name in ("FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED", "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    processor = fresh_pipe.transformer.layers[0].self_attn.processor
    embedder = fresh_pipe.transformer.time_embedder
    with pytest.raises(AccelError, match=r"FlashAttention 4 CUDA kernels.*on cpu.*'default'.*'cudnn'"):
        apply_optimizations(
            fresh_pipe, {"attention_backend": "fa4", "compile_cache_dir": str(tmp_path / "cc")}
        )
    # all checks run before any change: processor, timestep embedder, FA4's cache settings
    assert fresh_pipe.transformer.layers[0].self_attn.processor is processor
    assert fresh_pipe.transformer.time_embedder is embedder
    assert "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR" not in os.environ
    assert not (tmp_path / "cc").exists()
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0


def _reference_fa4(calls: list[tuple[tuple[int, ...], tuple[int, ...], bool]]):
    """A CPU kernel for cosmos3::fa4_attention: FA4's contract ([B, N, H, D] in and out, GQA by
    H_kv dividing H) computed with PyTorch's own attention."""

    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool) -> torch.Tensor:
        calls.append((tuple(q.shape), tuple(k.shape), is_causal))
        assert q.dim() == k.dim() == v.dim() == 4 and k.shape == v.shape
        assert q.shape[0] == k.shape[0] and q.shape[-1] == k.shape[-1] and q.shape[2] % k.shape[2] == 0
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=is_causal, enable_gqa=True
        )
        return out.transpose(1, 2).contiguous()

    return kernel


@pytest.fixture()
def fa4_on_cpu():
    """cosmos3::fa4_attention with a reference CPU kernel, for this test only (the op's own
    kernel needs flash-attn-4 on a GPU); yields the calls it saw."""
    calls: list[tuple[tuple[int, ...], tuple[int, ...], bool]] = []
    lib = torch.library.Library("cosmos3", "IMPL")
    lib.impl("fa4_attention", _reference_fa4(calls), "CPU")
    try:
        yield calls
    finally:
        lib._destroy()  # no CPU kernel left behind for other tests
    assert not torch._C._dispatch_has_kernel_for_dispatch_key("cosmos3::fa4_attention", "CPU")


def test_fa4_processor_matches_stock(fresh_pipe, stock_latents, fa4_on_cpu):
    """The processor's layout ([B, N, H, D], no transposes) and causal flags, through the op."""
    transformer = fresh_pipe.transformer
    transformer.set_attn_processor(accel.Cosmos3FA4Processor())
    latents = _render(fresh_pipe)
    # per layer and pass: the causal understanding pathway and the full generation pathway
    assert {causal for *_, causal in fa4_on_cpu} == {True, False}
    for q_shape, k_shape, causal in fa4_on_cpu:
        assert q_shape[0] == 1 and q_shape[2:] == (
            transformer.config.num_attention_heads,
            transformer.config.head_dim,
        )
        if causal:  # understanding tokens attend to each other only
            assert k_shape[1] == q_shape[1]
        else:  # generation tokens attend to the understanding tokens and to themselves
            assert k_shape[1] > q_shape[1]
    assert _rel(latents, stock_latents) < 1e-4
    # even with a CPU kernel present, "fa4" is refused on CPU: the device check comes first
    with pytest.raises(AccelError, match="FlashAttention 4 CUDA kernels"):
        accel.check_fa4_supported("cpu")


def test_fa4_processor_matches_diffusers_with_gqa(fa4_on_cpu):
    """The grouped-query case, handed to the kernel without repeating the key/value heads."""
    out, ref = _gqa_attention_outputs(accel.Cosmos3FA4Processor())
    assert fa4_on_cpu == [((1, 5, 4, 8), (1, 5, 2, 8), True), ((1, 7, 4, 8), (1, 12, 2, 8), False)]
    for a, b in zip(out, ref, strict=True):
        assert _rel(a, b) < 1e-5


@pytest.mark.parametrize("is_causal", [False, True])
def test_fa4_op_registration(fa4_on_cpu, is_causal):
    """Schema, fake (meta) kernel and torch.compile tracing of the custom op (torch.library.opcheck)."""
    torch.manual_seed(0)
    q = torch.randn(1, 6, 4, 8)
    k, v = torch.randn(1, 6, 2, 8), torch.randn(1, 6, 2, 8)
    result = torch.library.opcheck(accel.fa4_attention, (q, k, v, is_causal))
    assert set(result.values()) == {"SUCCESS"}, result
    with torch._subclasses.FakeTensorMode():
        fake = torch.ops.cosmos3.fa4_attention(
            torch.empty(1, 6, 4, 8), torch.empty(1, 9, 2, 8), torch.empty(1, 9, 2, 8), False
        )
    assert fake.shape == (1, 6, 4, 8)


# --- switches that cannot apply here: clear errors, nothing changed --------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_fp8_without_gpu_is_a_clear_error(fresh_pipe):
    with pytest.raises(AccelError, match=r"compute capability >= 8\.9.*precision='bf16'"):
        apply_optimizations(fresh_pipe, {"precision": "fp8", "attention_backend": "math"})
    # all checks run before any change
    assert not any(isinstance(m, accel.Float8Linear) for m in fresh_pipe.transformer.modules())
    assert not isinstance(fresh_pipe.transformer.layers[0].self_attn.processor, accel.Cosmos3SDPAProcessor)
    assert not isinstance(fresh_pipe.transformer.time_embedder, accel.SharedTimestepEmbedding)


def test_fp8_on_older_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A10G")
    with pytest.raises(AccelError, match=r"NVIDIA A10G is 8\.6"):
        accel.check_fp8_supported("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    assert accel.check_fp8_supported("cuda") == (8, 9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU errors")
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"attention_backend": "cudnn"}, "CUDA kernel"),
        ({"attention_backend": "flash"}, "CUDA kernel"),
        ({"offload": "group"}, "no GPU is present"),
        ({"offload": "model"}, "no GPU is present"),
    ],
)
def test_gpu_only_switches_fail_on_cpu(fresh_pipe, values, message):
    with pytest.raises(AccelError, match=message):
        apply_optimizations(fresh_pipe, values)


def test_unknown_diffusers_attention_backend_is_a_clear_error(fresh_pipe):
    with pytest.raises(AccelError, match="cannot be used here"):
        apply_optimizations(fresh_pipe, {"attention_backend": "no-such-kernel"})


# --- FP8 numerics (emulated on CPU: same quantization, float matmul) --------------------------


@pytest.mark.parametrize("granularity", ["row", "tensor"])
def test_float8_linear_quantization_error(granularity):
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 128, bias=True)
    x = torch.randn(3, 10, 256)
    f8 = accel.Float8Linear(lin, granularity=granularity, emulate=True)
    assert f8.weight_fp8.dtype == torch.float8_e4m3fn and f8.weight_fp8.shape == (128, 256)
    expected_scale_shape = (1, 128) if granularity == "row" else (1, 1)
    assert tuple(f8.weight_scale.shape) == expected_scale_shape
    with torch.no_grad():
        out, ref = f8(x), lin(x)
    assert out.shape == ref.shape
    assert 1e-4 < _rel(out, ref) < 0.06  # e4m3 has a 3-bit mantissa: a few percent, never exact


def test_quantize_fp8_skips_layers_fp8_gemms_cannot_take(fresh_pipe):
    # the tiny model's 6- and 12-wide layers are not multiples of 16: all stay as they were
    report = accel.quantize_fp8(fresh_pipe.transformer, emulate=True)
    assert report["linears"] == 0


# --- the benchmark script: CPU dry run and the report it writes -------------------------------


def test_bench_dry_run_on_cpu(tmp_path):
    bench = bench_module()
    out = tmp_path / "bench.json"
    paths = ["stock", "stock-cudnnbench", "bf16-regional", "bf16-regional-ts", "bf16-regional-fa4"]
    paths += ["job-default", "fp8", "fp8-regional"]
    decode_settings = ["default", "cudnn_benchmark+vae_channels_last", "vae_compile"]
    cmd = [sys.executable, str(BENCH), "run", "--device", "cpu", "--size", "tiny", "--resolutions", "32x48"]
    cmd += ["--frames", "9", "--steps", "3", "--attn", "math", "--compile-backend", "eager"]
    cmd += ["--paths", ",".join(paths), "--profile"]
    cmd += ["--cache-dir", str(tmp_path / "cc"), "--decode-check", "2"]
    # vae_compile compiles the VAE decoder with --compile-backend (eager here: seconds, not minutes)
    cmd += ["--decode-settings", ",".join(decode_settings)]
    cmd += ["--ref-dir", str(tmp_path / "ref")]
    # the mode reaches the compiled paths (the eager backend ignores it); --warm-check re-runs
    # only the compiled paths that were measured (fp8-regional fails on CPU: not re-run)
    cmd += ["--compile-mode", "max-autotune-no-cudagraphs", "--label-suffix=[mat]", "--warm-check"]
    subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True, timeout=180)
    payload = json.loads(out.read_text())
    rows = payload["results"]
    results = {(r["path"], r["phase"]): r for r in rows if "phase" in r}
    stock = results[("stock", "main")]
    assert stock["rel_l2_vs_stock"] == 0.0
    assert stock["decode_s"] is not None
    # every path starts from diffusers as shipped, not from AccelOptions' defaults
    assert stock["options"]["attention_backend"] == "default"
    assert stock["options"]["shared_timestep_embedding"] is False
    assert "shared_timestep_embedding" not in stock["applied"]
    main = results[("bf16-regional[mat]", "main")]
    assert main["rel_l2_vs_stock"] < 1e-5
    assert main["options"]["compile_mode"] == "max-autotune-no-cudagraphs"
    assert main["options"]["shared_timestep_embedding"] is False
    assert stock["options"]["compile_mode"] is None
    ts = results[("bf16-regional-ts[mat]", "main")]
    assert ts["options"]["shared_timestep_embedding"] is True
    assert ts["applied"]["shared_timestep_embedding"] == {"enabled": True}
    assert ts["rel_l2_vs_stock"] < 1e-5
    # the job's defaults (attention "auto": diffusers' dispatcher on CPU, shared timestep
    # embedding) with the stack's regional compile
    job = results[("job-default[mat]", "main")]
    assert job["options"]["attention_backend"] == "auto" and job["options"]["compile"] == "regional"
    assert job["applied"]["attention"] == {"backend": "default", "auto": "no CUDA device (cpu)"}
    assert job["rel_l2_vs_stock"] < 1e-5 and job["decode_s"] is not None
    cudnnbench = results[("stock-cudnnbench[mat]", "main")]
    assert cudnnbench["options"]["cudnn_benchmark"] is True
    assert cudnnbench["applied"]["cudnn_benchmark"]["enabled"] is True
    assert cudnnbench["rel_l2_vs_stock"] == 0.0 and cudnnbench["decode_s"] is not None
    assert stock["applied"]["cudnn_benchmark"]["enabled"] is False
    # --profile: one transformer pass per measured path, its time split into kernel categories
    categories = {c for c, _ in bench.KERNEL_CATEGORIES} | {"other"}
    for (path, phase), r in results.items():
        if phase != "main" or "s_per_step" not in r:
            continue
        prof = r["profile"]
        assert prof["pass_wall_s"] > 0 and prof["kernel_s"] >= 0, path
        assert set(prof["categories_s"]) <= categories and min(prof["categories_s"].values()) >= 0
        # each figure is rounded to 0.1 ms
        assert sum(prof["categories_s"].values()) == pytest.approx(
            prof["kernel_s"], abs=5e-5 * (len(prof["categories_s"]) + 1)
        ), path
        assert prof["top_kernels"] and all(k["category"] in prof["categories_s"] for k in prof["top_kernels"])
        assert "attention" in prof["categories_s"], path
    # the decode check: the chosen VAE settings decoded twice each, same output as the default
    check = payload["decode_check"]["32x48"]
    assert list(check["settings"]) == decode_settings
    for entry in check["settings"].values():
        assert len(entry["times_s"]) == 2 and entry["steady_s"] is not None
        assert entry["rel_l2_vs_default"] < 1e-5
    assert check["settings"]["vae_compile"]["vae_compile"] is True
    assert check["settings"]["default"]["vae_compile"] is False
    summary = bench.summarise([payload])
    assert [c["setting"] for c in summary["decode_checks"]] == decode_settings
    assert "VAE decode alone" in bench.render_markdown(summary, "t")
    warm = results[("bf16-regional[mat]", "warm-cache")]
    assert warm["options"]["compile_mode"] == "max-autotune-no-cudagraphs"
    assert warm["rel_l2_vs_stock"] < 1e-5  # against the stock latents the first process saved
    assert results[("bf16-regional-ts[mat]", "warm-cache")]["rel_l2_vs_stock"] < 1e-5
    assert ("bf16-regional-fa4[mat]", "warm-cache") not in results
    errors = {r["path"]: r["error"] for r in rows if "error" in r}
    assert set(errors) == {"fp8", "fp8-regional", "bf16-regional-fa4"}
    assert "compute capability" in errors["fp8"] and "compute capability" in errors["fp8-regional"]
    assert errors["bf16-regional-fa4"].startswith("AccelError: attention_backend='fa4'")


def test_full_graph_compile_runs_with_the_shared_timestep_embedding(fresh_pipe, stock_latents):
    # the wrapper's equality check is data-dependent: under a whole-transformer compile it computes
    # every row instead, so fullgraph=True neither fails nor breaks the graph there
    apply_optimizations(
        fresh_pipe,
        {"compile": "full", "compile_fullgraph": True, "compile_backend": "eager", "compile_dynamic": None},
    )
    try:
        assert isinstance(fresh_pipe.transformer.time_embedder, accel.SharedTimestepEmbedding)
        assert _rel(_render(fresh_pipe), stock_latents) < 1e-5
    finally:
        accel.uncompile_transformer(fresh_pipe.transformer)


def test_compile_dynamic_takes_true_false_or_none():
    assert AccelOptions.from_mapping({"compile_dynamic": None}).compile_dynamic is None
    with pytest.raises(AccelError, match="compile_dynamic must be true, false or null"):
        AccelOptions.from_mapping({"compile_dynamic": "yes"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_fa4_backend_on_cpu_leaves_fa4_cache_settings_alone(fresh_pipe, tmp_path, monkeypatch):
    for name in ("FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED", "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AccelError, match="FlashAttention 4 CUDA kernels"):
        accel.set_attention_backend(fresh_pipe.transformer, "fa4", cache_dir=str(tmp_path))
    assert "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR" not in os.environ
    assert "FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED" not in os.environ


@pytest.mark.parametrize(
    ("name", "category"),
    [
        # Inductor names a fused kernel after what it fused: FP8 activation quantization, not a GEMM
        ("triton_red_fused__scaled_mm__to_copy_abs_amax", "fused (triton)"),
        ("nvjet_sm90_tst_256x160_64x4_1x2_h_bz_coopA_NTN", "gemm"),
        ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64", "gemm"),
        ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3", "attention"),
        ("kernel_cutlass_kernel_flash_attncuteflash_fwd_sm90", "attention"),  # FA4 (CuTe DSL)
        ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
        ("void at::native::CatArrayBatchedCopy<float, unsigned int, 3, 128, 1>", "copy/fill"),
        ("Memcpy DtoD (Device -> Device)", "copy/fill"),
        ("aten::cat", "copy/fill"),
        # the timestep scatter_add is compute, not a copy, though its name contains "cat"
        ("void at::native::_scatter_gather_elementwise_kernel<128, 8>", "other"),
        ("aten::scatter_add", "other"),
        ("void at::native::reduce_kernel<512, 1>", "other"),
    ],
)
def test_bench_kernel_category(name, category):
    assert bench_module().kernel_category(name) == category


def bench_module():
    if str(BENCH.parent) not in sys.path:
        sys.path.insert(0, str(BENCH.parent))
    import bench

    return bench


@pytest.mark.skipif(not RAW.is_dir(), reason="no committed benchmark results")
def test_report_merges_committed_results(tmp_path):
    bench = bench_module()

    payloads = [json.loads(p.read_text()) for p in sorted(RAW.glob("*.json")) if "probe" not in p.name]
    summary = bench.summarise(payloads)
    rows = {(r["path"], r["resolution"], r["phase"]): r for r in summary["rows"]}
    stock = rows[("stock", "480p", "main")]
    assert stock["step_speedup_vs_stock"] == 1.0
    assert stock["s_per_video"] == pytest.approx(35 * stock["s_per_step"] + stock["decode_s"], abs=0.1)
    catalog = bench.catalog_view(summary["rows"])
    assert {"stock", "bf16-regional", "fp8-regional"} <= set(catalog["480p"]) & set(catalog["720p"])
    assert "stock" in bench.render_markdown(summary, "t")
