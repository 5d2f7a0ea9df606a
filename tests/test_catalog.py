"""The GPU catalog and its fit check: the facts every stack and the cost command rely on."""

from __future__ import annotations

import pytest

from stacks import gpu_catalog as cat


def test_catalog_covers_every_size_of_the_three_families() -> None:
    sizes = {f: sorted(n for n, i in cat.INSTANCES.items() if i.family == f) for f in cat.FAMILIES}
    assert len(sizes["g5"]) == 8
    assert len(sizes["g6e"]) == 8
    assert sizes["p5"] == ["p5.48xlarge", "p5.4xlarge"]
    for inst in cat.INSTANCES.values():
        assert inst.gpus >= 1 and inst.vcpus >= 4 and inst.memory_gib >= 16
        assert inst.price_per_hour_usd > 0


@pytest.mark.parametrize(
    ("name", "gpus", "gpu", "cc"),
    [
        ("g5.xlarge", 1, "A10G", 8.6),
        ("g5.48xlarge", 8, "A10G", 8.6),
        ("g6e.xlarge", 1, "L40S", 8.9),
        ("g6e.12xlarge", 4, "L40S", 8.9),
        ("p5.4xlarge", 1, "H100", 9.0),
        ("p5.48xlarge", 8, "H100", 9.0),
    ],
)
def test_instance_facts(name: str, gpus: int, gpu: str, cc: float) -> None:
    inst = cat.INSTANCES[name]
    assert (inst.gpus, inst.compute_capability) == (gpus, cc)
    assert gpu in inst.gpu_model


def test_prices_grow_with_size_within_a_family() -> None:
    for fam in cat.FAMILIES:
        rows = sorted(
            (i.gpus * 1000 + i.vcpus, i.price_per_hour_usd) for i in cat.INSTANCES.values() if i.family == fam
        )
        by_vcpu = sorted(
            (i.vcpus, i.price_per_hour_usd) for i in cat.INSTANCES.values() if i.family == fam and i.gpus == 1
        )
        assert [p for _, p in by_vcpu] == sorted(p for _, p in by_vcpu), fam
        assert rows


@pytest.mark.parametrize("size", ["xlarge", "2xlarge", "12xlarge", "24xlarge", "48xlarge"])
def test_nano_never_fits_any_g5_not_even_with_more_gpus(size: str) -> None:
    fit = cat.reasoner_fit(f"g5.{size}", "nano")
    assert not fit.ok
    assert "no tensor-parallel profile" in fit.reason
    assert fit.alternatives[0] == "g6e.xlarge"


def test_g5_runs_the_edge_reasoner_in_bf16() -> None:
    fit = cat.reasoner_fit("g5.2xlarge", "edge")
    assert fit.ok and fit.precision == "bf16" and fit.tensor_parallel == 1


def test_edge_needs_the_unified_image() -> None:
    assert not cat.reasoner_fit("g5.2xlarge", "edge", unified_image=False).ok


def test_auto_precision_follows_compute_capability() -> None:
    assert cat.automatic_precision(8.6) == "bf16"
    assert cat.automatic_precision(8.9) == "fp8"
    assert cat.automatic_precision(9.0) == "fp8"
    assert cat.automatic_precision(10.0) == "nvfp4"
    assert cat.reasoner_fit("g6e.xlarge", "nano").precision == "fp8"


def test_fp8_refused_on_a10g_and_nvfp4_on_everything_we_offer() -> None:
    fit = cat.reasoner_fit("g5.48xlarge", "edge", "fp8")
    assert not fit.ok and "compute capability" in fit.reason
    for name in cat.INSTANCES:
        assert not cat.reasoner_fit(name, "nano", "nvfp4").ok


def test_super_fits_one_h100_in_fp8_and_two_in_bf16() -> None:
    fp8 = cat.reasoner_fit("p5.4xlarge", "super")
    assert fp8.ok and fp8.precision == "fp8" and fp8.tensor_parallel == 1
    assert not cat.reasoner_fit("p5.4xlarge", "super", "bf16").ok
    bf16 = cat.reasoner_fit("p5.48xlarge", "super", "bf16")
    assert bf16.ok and bf16.tensor_parallel == 2 and bf16.gib_per_gpu == 73.0
    # 4 x L40S do not help: super has no TP4 profile and 67 GiB does not fit 44.5
    assert not cat.reasoner_fit("g6e.48xlarge", "super").ok


def test_cheapest_alternatives_are_sorted_by_price() -> None:
    alts = cat.cheapest_reasoner_instances("super", "auto", True)
    assert alts == ["p5.4xlarge", "p5.48xlarge"]


def test_generator_nano_bf16_fits_l40s_not_a10g() -> None:
    assert cat.generator_fit("g6e.2xlarge", "nano", "bf16").ok
    bad = cat.generator_fit("g5.2xlarge", "nano", "bf16")
    assert not bad.ok and bad.alternatives[0].startswith("g6e")
    # g6e.xlarge has the GPU but not the host RAM to stage ~30 GiB of weights
    small = cat.generator_fit("g6e.xlarge", "nano", "bf16")
    assert not small.ok and "host RAM" in small.reason


def test_generator_fp8_needs_ada_or_hopper() -> None:
    assert not cat.generator_fit("g5.8xlarge", "nano", "fp8").ok
    assert cat.generator_fit("g6e.2xlarge", "nano", "fp8").ok


def test_unknown_instance_lists_choices() -> None:
    with pytest.raises(cat.UnknownInstanceError, match="g5, g6e or p5"):
        cat.get_instance("m5.large")


def test_generator_time_estimates_come_from_the_measured_paths() -> None:
    measured = cat.GENERATOR_H100_SECONDS
    seconds, estimate = cat.estimated_generator_seconds("p5.4xlarge", 480, 832)
    assert (seconds, estimate) == (measured["bf16-compiled"][(480, 832)], False)
    stock, _ = cat.estimated_generator_seconds("p5.4xlarge", 480, 832, compiled=False)
    fp8, _ = cat.estimated_generator_seconds("p5.4xlarge", 480, 832, "fp8")
    assert fp8 < seconds < stock == measured["bf16"][(480, 832)]
    # other GPUs and unmeasured sizes are scaled and flagged as estimates
    l40s, est = cat.estimated_generator_seconds("g6e.2xlarge", 480, 832)
    cudnn = cat.GENERATOR_H100_SECONDS_CUDNN_ATTENTION["bf16-compiled"][(480, 832)]
    assert est and l40s == pytest.approx(cudnn * cat.H100.bf16_tflops / cat.L40S.bf16_tflops)
    odd, est = cat.estimated_generator_seconds("p5.4xlarge", 480, 640)
    assert est and odd == pytest.approx(measured["bf16-compiled"][(480, 832)] * 640 / 832)
    with pytest.raises(ValueError, match="no FP8"):
        cat.estimated_generator_seconds("g5.xlarge", 480, 832, "fp8")
    with pytest.raises(ValueError, match="eager FP8"):
        cat.generator_path("fp8", compiled=False)


def test_group_offload_lets_an_a10g_render_nano() -> None:
    fit = cat.generator_fit("g5.4xlarge", "nano", "bf16", offload=True)
    assert fit.ok
    # ...but g5.2xlarge lacks the host RAM to hold the streamed weights
    assert not cat.generator_fit("g5.2xlarge", "nano", "bf16", offload=True).ok


def test_generator_paths_match_the_job_and_the_benchmark() -> None:
    import json
    from pathlib import Path

    bench = json.loads((Path(cat.__file__).parent.parent / cat.BENCHMARK).read_text())["catalog"]
    names = {"bf16": "stock", "bf16-compiled": "bf16-regional-fa4", "fp8-compiled": "fp8-regional-fa4",
             "bf16-offload": "bf16-offload-group"}  # fmt: skip
    cudnn_names = {"bf16-compiled": "bf16-regional", "fp8-compiled": "fp8-regional"}
    labels = {(256, 448): "256p", (480, 832): "480p", (720, 1280): "720p"}
    for path, table in cat.GENERATOR_H100_SECONDS.items():
        for size, seconds in table.items():
            assert bench[labels[size]][names[path]]["s_per_video"] == seconds, (path, size)
    for path, table in cat.GENERATOR_H100_SECONDS_CUDNN_ATTENTION.items():
        for size, seconds in table.items():
            row = bench[labels[size]][cudnn_names[path]]
            assert row["s_per_video"] == seconds, (path, size)
            assert row["options"]["attention_backend"] != "fa4"
    # the measured compiled rows ran what a job runs by default on an H100
    for path in ("bf16-compiled", "fp8-compiled"):
        options = bench["480p"][names[path]]["options"]
        precision, compiled, _offload = cat.GENERATOR_PATHS[path]
        assert options["precision"] == precision and (options["compile"] == "regional") == compiled
        assert options["attention_backend"] == "fa4" and options["shared_timestep_embedding"] is True
    assert bench["720p"]["stock"]["peak_gib"] == pytest.approx(
        cat.generator_profile("nano", "bf16", False).gib_per_gpu, abs=0.05
    )
    assert bench["720p"]["fp8-regional"]["peak_gib"] == pytest.approx(
        cat.generator_profile("nano", "fp8", False).gib_per_gpu, abs=0.05
    )


def test_gpus_without_flash_attention_4_scale_the_cudnn_attention_figures() -> None:
    # auto attention uses FA4 only from compute capability 9.0: an L40S (8.9) estimate starts from
    # the H100's cuDNN-attention run, not from the faster FA4 one
    l40s = cat.get_instance("g6e.xlarge").gpu
    seconds, estimate = cat.estimated_generator_seconds("g6e.xlarge", 480, 832, "bf16", compiled=True)
    base = cat.GENERATOR_H100_SECONDS_CUDNN_ATTENTION["bf16-compiled"][(480, 832)]
    assert estimate and seconds == pytest.approx(base * cat.H100.bf16_tflops / l40s.bf16_tflops)
    h100, measured_estimate = cat.estimated_generator_seconds("p5.48xlarge", 480, 832, "fp8", compiled=True)
    assert not measured_estimate and h100 == cat.GENERATOR_H100_SECONDS["fp8-compiled"][(480, 832)]
    assert h100 < cat.GENERATOR_H100_SECONDS_CUDNN_ATTENTION["fp8-compiled"][(480, 832)]


def test_catalog_is_plain_data_without_cdk() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(cat.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m.startswith(("aws_cdk", "constructs")) for m in imported)


def test_cheapest_fit_is_per_profile() -> None:
    # docs/sizing.md lists one row per profile: super BF16 on a single 135 GiB GPU runs nowhere,
    # even though super BF16 with tensor parallelism 2 runs on a p5.48xlarge.
    super_bf16 = {
        p.tensor_parallel: p for p in cat.REASONER_PROFILES if (p.variant, p.precision) == ("super", "bf16")
    }
    assert cat.cheapest_instance_for_profile(super_bf16[1]) is None
    assert cat.cheapest_instance_for_profile(super_bf16[2]) == "p5.48xlarge"
