"""Job-spec parsing and validation: every rejection is one clear line."""

from __future__ import annotations

import json

import pytest
from cosmos_generator.spec import JobSpec, SpecError, check_geometry, parse_spec, select_item


def test_defaults() -> None:
    spec = parse_spec({"prompt": "a robot"})
    assert spec == JobSpec(prompt="a robot")
    assert (spec.num_frames, spec.height, spec.width, spec.fps) == (189, 480, 832, 24.0)
    assert (spec.steps, spec.guidance, spec.seed) == (35, 6.0, None)
    assert (spec.model, spec.precision, spec.offload) == ("nano", "bf16", "none")
    assert spec.model_id == "nvidia/Cosmos3-Nano"
    assert parse_spec({"prompt": "x", "model": "super"}).model_id == "nvidia/Cosmos3-Super"


def test_extra_options_pass_through_only_when_declared() -> None:
    spec = parse_spec({"prompt": "x", "compile": "regional"}, extra_option_names=frozenset({"compile"}))
    assert spec.extra_options == {"compile": "regional"}
    assert spec.to_dict()["compile"] == "regional"
    assert spec.optimization_options() == {"compile": "regional", "precision": "bf16", "offload": "none"}
    assert parse_spec({"prompt": "x", "precision": "fp8"}).optimization_options()["precision"] == "fp8"
    assert parse_spec({"prompt": "x", "precision": "fp8"}).load_precision == "bf16"
    with pytest.raises(SpecError, match=r"^unknown field\(s\) compile in job spec; allowed: fps, guidance"):
        parse_spec({"prompt": "x", "compile": "regional"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "job spec must be a JSON object, got list"),
        ({"negative_prompt": "x"}, "job spec needs a 'prompt'"),
        ({"prompt": "  "}, "'prompt' must not be empty"),
        ({"prompt": 3}, "field 'prompt' must be str, got 3"),
        ({"prompt": "x", "num_frames": 9.0}, "field 'num_frames' must be int, got 9.0"),
        ({"prompt": "x", "steps": True}, "field 'steps' must be int, got true"),
        ({"prompt": "x", "guidance": "6"}, "field 'guidance' must be int or number, got \"6\""),
        ({"prompt": "x", "model": "ultra"}, "'model' must be one of nano, super, got 'ultra'"),
        ({"prompt": "x", "precision": "int4"}, "'precision' must be one of bf16, fp8, fp32, got 'int4'"),
        ({"prompt": "x", "offload": "disk"}, "'offload' must be one of none, model, group, sequential"),
        ({"prompt": "x", "num_frames": 0}, "'num_frames' must be between 1 and 189, got 0"),
        ({"prompt": "x", "num_frames": 193}, "'num_frames' must be between 1 and 189, got 193"),
        ({"prompt": "x", "height": 2048}, "'height' must be between 1 and 1280 pixels, got 2048"),
        ({"prompt": "x", "fps": 0}, "'fps' must be > 0 and <= 120, got 0"),
        ({"prompt": "x", "steps": 0}, "'steps' must be between 1 and 200, got 0"),
        ({"prompt": "x", "guidance": 0.5}, "'guidance' must be between 1 (no guidance) and 30, got 0.5"),
        ({"prompt": "x", "seed": -1}, "'seed' must be between 0 and 2**63-1, got -1"),
        ({"prompt": "x", "image": "s3://b/i.png", "video": "s3://b/v.mp4"}, "give either 'image'"),
        ({"prompt": "x", "image": "https://example.com/i.png"}, "'image' must be an s3://bucket/key URI"),
        ({"prompt": "x", "video": "s3://bucket-only"}, "'video' must be an s3://bucket/key URI"),
        ({"prompt": "x", "video": "s3://b/v.mp4", "num_frames": 1}, "video-to-video needs 'num_frames' >= 5"),
    ],
)
def test_rejections(data, message) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_unknown_fields_are_listed_with_the_allowed_ones() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"prompt": "x", "frames": 9, "size": 3})
    assert str(err.value).startswith(
        "unknown field(s) frames, size in job spec; allowed: fps, guidance, height"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"height": 470},
            "'height' must be a multiple of 16 (the VAE's spatial compression), got 470; try 464 or 480",
        ),
        (
            {"width": 8},
            "'width' must be a multiple of 16 (the VAE's spatial compression), got 8; try 16 or 32",
        ),
        (
            {"num_frames": 120},
            "'num_frames' must be 1 or 4*k+1 (the VAE's temporal compression), got 120; try 117 or 121",
        ),
    ],
)
def test_geometry(changes, message) -> None:
    spec = parse_spec({"prompt": "x", **changes})
    with pytest.raises(SpecError) as err:
        check_geometry(spec, spatial_factor=16, temporal_factor=4)
    assert str(err.value) == message


@pytest.mark.parametrize("frames", [1, 5, 121, 189])
def test_geometry_accepts(frames) -> None:
    check_geometry(
        parse_spec({"prompt": "x", "num_frames": frames, "height": 720, "width": 1280}),
        spatial_factor=16,
        temporal_factor=4,
    )


def test_select_item_single_and_pretty_printed() -> None:
    assert select_item(json.dumps({"prompt": "a"}, indent=2), 0, is_array=False) == {"prompt": "a"}
    assert select_item('{"prompt": "a"}\n', 0, is_array=False) == {"prompt": "a"}


def test_select_item_manifest() -> None:
    manifest = '{"prompt": "a"}\n\n{"prompt": "b"}\n{"prompt": "c"}\n'
    assert select_item(manifest, 1, is_array=True) == {"prompt": "b"}
    assert select_item(manifest, 2, is_array=True) == {"prompt": "c"}
    assert select_item('{"prompt": "a"}', 0, is_array=True) == {"prompt": "a"}  # array of size 1
    with pytest.raises(SpecError, match="array index 3 out of range: the manifest holds 3 line"):
        select_item(manifest, 3, is_array=True)
    with pytest.raises(SpecError, match="the spec holds 3 items but this is not an array job"):
        select_item(manifest, 0, is_array=False)
    with pytest.raises(SpecError, match="manifest line 2 is not valid JSON"):
        select_item('{"prompt": "a"}\n{"prompt": \n', 1, is_array=True)
    with pytest.raises(SpecError, match="a manifest must be JSON Lines"):
        select_item('[{"prompt": "a"}]', 0, is_array=True)
    with pytest.raises(SpecError, match="job spec is empty"):
        select_item("  \n", 0, is_array=False)


def test_deployment_defaults_fill_missing_fields_but_never_override_the_spec() -> None:
    from cosmos_generator.spec import parse_spec

    defaults = {"model": "super", "precision": "fp8", "offload": "group"}
    spec = parse_spec({"prompt": "a red cube"}, defaults=defaults)
    assert (spec.model, spec.precision, spec.offload) == ("super", "fp8", "group")
    spec = parse_spec({"prompt": "a red cube", "precision": "bf16"}, defaults=defaults)
    assert spec.precision == "bf16"


def test_a_bad_deployment_default_is_reported_like_a_bad_spec() -> None:
    import pytest
    from cosmos_generator.spec import SpecError, parse_spec

    with pytest.raises(SpecError, match="precision"):
        parse_spec({"prompt": "a red cube"}, defaults={"precision": "int4"})


def test_compile_default_yields_to_a_spec_that_streams_weights() -> None:
    from cosmos_generator.main import _applicable_defaults

    defaults = {"model": "nano", "compile": "regional", "compile_cache_dir": "/cache/tc", "offload": "none"}
    names = frozenset({"compile", "compile_cache_dir"})
    assert _applicable_defaults(defaults, {"prompt": "x"}, names) == defaults
    streamed = _applicable_defaults(defaults, {"prompt": "x", "offload": "group"}, names)
    assert "compile" not in streamed and streamed["compile_cache_dir"] == "/cache/tc"
    # without the accel module only the core fields apply
    assert _applicable_defaults(defaults, {"prompt": "x"}, frozenset()) == {
        "model": "nano",
        "offload": "none",
    }
