"""The generator's speed/memory switches (cosmos_generator.accel) on CPU with the tiny pipeline.

Where a switch applies on CPU the output must match stock; where it cannot (FP8 without a GPU of
compute capability >= 8.9, CUDA attention kernels, offload without a GPU) it must fail with a
clear AccelError before changing anything. GPU timings live in docs/benchmarks/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cosmos_generator import accel
from cosmos_generator.accel import AccelError, AccelOptions, apply_optimizations

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "container" / "generator" / "bench.py"
RAW = ROOT / "docs" / "benchmarks" / "raw-2026-11-25"


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
    ],
)
def test_bad_options_are_rejected(values, message):
    with pytest.raises(AccelError, match=message):
        AccelOptions.from_mapping(values)


# --- switches that apply on CPU: same output as stock -----------------------------------------


def test_no_switches_is_stock(fresh_pipe, stock_latents):
    report = apply_optimizations(fresh_pipe, {})
    assert report["attention"] == {"backend": "default"}
    assert _rel(_render(fresh_pipe), stock_latents) == 0.0


def test_math_attention_matches_stock(fresh_pipe, stock_latents):
    report = apply_optimizations(fresh_pipe, {"attention_backend": "math"})
    assert report["attention"]["backend"] == "math"
    assert isinstance(fresh_pipe.transformer.layers[0].self_attn.processor, accel.Cosmos3SDPAProcessor)
    assert _rel(_render(fresh_pipe), stock_latents) < 1e-5


@pytest.mark.parametrize("expand_kv", [False, True])
def test_sdpa_processor_matches_diffusers_with_gqa(expand_kv):
    """4 query heads sharing 2 key/value heads: the grouped-query case the real model has."""
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
        ref = Cosmos3AttnProcessor()(attn, und, gen, rotary)
        out = accel.Cosmos3SDPAProcessor("math", expand_kv=expand_kv)(attn, und, gen, rotary)
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
        import os

        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cc" / "inductor")
        assert _rel(_render(fresh_pipe), stock_latents) < 1e-5
    finally:
        accel.uncompile_transformer(fresh_pipe.transformer)
    assert all(layer._compiled_call_impl is None for layer in fresh_pipe.transformer.layers)


def test_vae_tiling_and_drop_lm_head_match_stock(fresh_pipe, stock_latents):
    params = sum(p.numel() for p in fresh_pipe.transformer.lm_head.parameters())
    report = apply_optimizations(fresh_pipe, {"vae_tiling": True, "drop_lm_head": True})
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
    report = apply_optimizations(fresh_pipe, {"cudnn_benchmark": True, "vae_channels_last": True})
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


# --- switches that cannot apply here: clear errors, nothing changed --------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_fp8_without_gpu_is_a_clear_error(fresh_pipe):
    with pytest.raises(AccelError, match=r"compute capability >= 8\.9.*precision='bf16'"):
        apply_optimizations(fresh_pipe, {"precision": "fp8", "attention_backend": "math"})
    # all checks run before any change
    assert not any(isinstance(m, accel.Float8Linear) for m in fresh_pipe.transformer.modules())
    assert not isinstance(fresh_pipe.transformer.layers[0].self_attn.processor, accel.Cosmos3SDPAProcessor)


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
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH), "run", "--device", "cpu", "--size", "tiny", "--resolutions", "32x48"]
    cmd += ["--frames", "9", "--steps", "3", "--attn", "math", "--compile-backend", "eager"]
    cmd += ["--paths", "stock,stock-cudnnbench,bf16-regional,fp8,fp8-regional"]
    cmd += ["--cache-dir", str(tmp_path / "cc"), "--decode-check", "2"]
    cmd += ["--ref-dir", str(tmp_path / "ref")]
    # the mode reaches the compiled paths (the eager backend ignores it); --warm-check re-runs
    # only the compiled paths that were measured (fp8-regional fails on CPU: not re-run)
    cmd += ["--compile-mode", "max-autotune-no-cudagraphs", "--label-suffix=[mat]", "--warm-check"]
    subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True, timeout=180)
    payload = json.loads(out.read_text())
    rows = payload["results"]
    results = {(r["path"], r["phase"]): r for r in rows if "phase" in r}
    assert results[("stock", "main")]["rel_l2_vs_stock"] == 0.0
    assert results[("stock", "main")]["decode_s"] is not None
    main = results[("bf16-regional[mat]", "main")]
    assert main["rel_l2_vs_stock"] < 1e-5
    assert main["options"]["compile_mode"] == "max-autotune-no-cudagraphs"
    assert results[("stock", "main")]["options"]["compile_mode"] is None
    cudnnbench = results[("stock-cudnnbench[mat]", "main")]
    assert cudnnbench["options"]["cudnn_benchmark"] is True
    assert cudnnbench["applied"]["cudnn_benchmark"]["enabled"] is True
    assert cudnnbench["rel_l2_vs_stock"] == 0.0 and cudnnbench["decode_s"] is not None
    assert results[("stock", "main")]["applied"]["cudnn_benchmark"]["enabled"] is False
    # the decode check: every VAE setting decoded twice, same output as the default setting
    check = payload["decode_check"]["32x48"]
    assert set(check["settings"]) == set(bench_module().DECODE_SETTINGS)
    for entry in check["settings"].values():
        assert len(entry["times_s"]) == 2 and entry["steady_s"] is not None
        assert entry["rel_l2_vs_default"] < 1e-5
    summary = bench_module().summarise([payload])
    assert len(summary["decode_checks"]) == 4
    assert "VAE decode alone" in bench_module().render_markdown(summary, "t")
    warm = results[("bf16-regional[mat]", "warm-cache")]
    assert warm["options"]["compile_mode"] == "max-autotune-no-cudagraphs"
    assert warm["rel_l2_vs_stock"] < 1e-5  # against the stock latents the first process saved
    errors = {r["path"]: r["error"] for r in rows if "error" in r}
    assert set(errors) == {"fp8", "fp8-regional"}
    assert all("compute capability" in e for e in errors.values())


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
