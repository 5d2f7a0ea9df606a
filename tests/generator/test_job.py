"""The real job entrypoint end to end on CPU: tiny random pipeline, S3 through moto."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import boto3
import generator_test_loader
import numpy as np
import pytest
from cosmos_generator import main as job_main
from cosmos_generator import pipeline as job_pipeline
from diffusers import Cosmos3OmniPipeline
from diffusers.utils import export_to_video
from moto import mock_aws
from PIL import Image

BUCKET = "cosmos-jobs"
LOADER = "generator_test_loader:load"
SMALL = {"num_frames": 9, "height": 32, "width": 48, "steps": 2, "guidance": 3.0, "seed": 7}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def calls(tiny_pipeline, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Install the tiny pipeline behind PIPELINE_LOADER and record every pipeline call."""
    job_pipeline.clear_cache()
    generator_test_loader.PIPELINE = tiny_pipeline
    generator_test_loader.LOADS.clear()
    recorded: list[dict[str, Any]] = []
    original = Cosmos3OmniPipeline.__call__

    def counting_call(self, *args: Any, **kwargs: Any) -> Any:
        recorded.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Cosmos3OmniPipeline, "__call__", counting_call)
    for name in ("JOB_SPEC", "JOB_SPEC_URI", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ID", "JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUTPUT_BUCKET", BUCKET)
    monkeypatch.setenv("PIPELINE_LOADER", LOADER)
    yield recorded
    job_pipeline.clear_cache()


def invoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str
) -> tuple[int, list]:
    """Run ``python -m cosmos_generator``'s main() with ``env``; return exit code and log records."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        job_main.main()
    out = capsys.readouterr().out
    return exited.value.code, [json.loads(line) for line in out.splitlines() if line.strip()]


def get_json(client, key: str) -> dict[str, Any]:
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def decode_mp4(client, key: str, tmp_path: Path) -> tuple[int, int, int]:
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    height, width = frames[0].shape[:2]
    return len(frames), height, width


def put(client, key: str, body: bytes | str) -> str:
    client.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def test_single_job_renders_mp4_and_metadata(s3, calls, monkeypatch, capsys, tmp_path) -> None:
    spec_uri = put(s3, "specs/one.json", json.dumps({"prompt": "a robot arm picks up a red cup", **SMALL}))

    code, logs = invoke(monkeypatch, capsys, JOB_SPEC_URI=spec_uri, AWS_BATCH_JOB_ID="job-1")

    assert code == job_main.EXIT_OK
    assert decode_mp4(s3, "outputs/job-1/0.mp4", tmp_path) == (9, 32, 48)
    meta = get_json(s3, "outputs/job-1/0.json")
    assert meta["status"] == "succeeded"
    assert meta["seed"] == 7
    assert meta["spec"]["prompt"] == "a robot arm picks up a red cup"
    assert meta["spec"]["negative_prompt"] is None  # defaults are written out in full
    assert meta["spec"]["model"] == "nano"
    assert meta["model"] == {
        "name": "nano",
        "id": "nvidia/Cosmos3-Nano",
        "revision": "main",
        "loader": LOADER,
    }
    assert meta["output"] == {
        "video": f"s3://{BUCKET}/outputs/job-1/0.mp4",
        "frames": 9,
        "height": 32,
        "width": 48,
        "fps": 24.0,
        "bytes": meta["output"]["bytes"],
    }
    assert meta["gpu"]["peak_memory_bytes"] is None  # CPU run
    assert {"check_spec", "load_model", "fetch_inputs", "generate", "denoise", "encode_mp4"} <= set(
        meta["timings_s"]
    )
    assert len(calls) == 1
    assert calls[0]["num_inference_steps"] == 2
    assert calls[0]["guidance_scale"] == 3.0
    # One JSON line per phase on stdout, each tagged with the job, the worker and the item.
    phases = [r["phase"] for r in logs if r["event"] == "phase"]
    assert phases[0] == "read_spec"
    assert {"load_model", "fetch_inputs", "generate", "encode_mp4", "upload"} <= set(phases)
    assert all(r["job_id"] == "job-1" and r["worker"] == 0 for r in logs)
    assert all(r["index"] == 0 for r in logs if r["event"] == "phase" and r["phase"] != "read_spec")
    assert [r["event"] for r in logs][-2:] == ["succeeded", "worker_done"]
    assert logs[-1]["succeeded"] == 1 and logs[-1]["exit_code"] == 0


def test_same_seed_renders_the_same_video(s3, calls, monkeypatch, capsys) -> None:
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps({"prompt": "a dog", **SMALL}), JOB_ID="a")
    code_b, _ = invoke(monkeypatch, capsys, JOB_ID="b")
    assert code == code_b == 0
    first = s3.get_object(Bucket=BUCKET, Key="outputs/a/0.mp4")["Body"].read()
    second = s3.get_object(Bucket=BUCKET, Key="outputs/b/0.mp4")["Body"].read()
    assert first == second
    assert len(generator_test_loader.LOADS) == 1  # weights loaded once per container


def test_array_job_renders_each_manifest_line(s3, calls, monkeypatch, capsys, tmp_path) -> None:
    image = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (40, 1))).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    image_uri = put(s3, "inputs/start.png", buffer.getvalue())
    clip = tmp_path / "clip.mp4"
    export_to_video([np.full((32, 48, 3), i / 10, dtype=np.float32) for i in range(9)], str(clip), fps=8)
    video_uri = put(s3, "inputs/clip.mp4", clip.read_bytes())
    manifest = "\n".join(
        json.dumps(item)
        for item in (
            {"prompt": "text to video", **SMALL},
            {"prompt": "image to video", "image": image_uri, **{**SMALL, "height": 48, "width": 32}},
            {"prompt": "video to video", "video": video_uri, **{**SMALL, "num_frames": 13}, "fps": 12},
        )
    )
    manifest_uri = put(s3, "specs/batch.jsonl", manifest + "\n")

    for index in range(3):
        code, _ = invoke(
            monkeypatch,
            capsys,
            JOB_SPEC_URI=manifest_uri,
            AWS_BATCH_JOB_ID=f"arr-9:{index}",
            AWS_BATCH_JOB_ARRAY_INDEX=str(index),
        )
        assert code == 0

    assert decode_mp4(s3, "outputs/arr-9/0.mp4", tmp_path) == (9, 32, 48)
    assert decode_mp4(s3, "outputs/arr-9/1.mp4", tmp_path) == (9, 48, 32)
    assert decode_mp4(s3, "outputs/arr-9/2.mp4", tmp_path) == (13, 32, 48)
    metas = [get_json(s3, f"outputs/arr-9/{i}.json") for i in range(3)]
    assert [m["index"] for m in metas] == [0, 1, 2]
    assert all(m["array_job"] for m in metas)
    assert metas[2]["output"]["fps"] == 12.0
    assert isinstance(calls[1]["image"], Image.Image) and calls[1]["video"] is None
    assert isinstance(calls[2]["video"], list) and len(calls[2]["video"]) == 9


def test_retry_skips_finished_items(s3, calls, monkeypatch, capsys) -> None:
    env = {"JOB_SPEC": json.dumps({"prompt": "a cat", **SMALL}), "AWS_BATCH_JOB_ID": "job-r"}
    assert invoke(monkeypatch, capsys, **env)[0] == 0
    assert len(calls) == 1
    job_pipeline.clear_cache()  # a retry is a new container
    generator_test_loader.LOADS.clear()

    code, logs = invoke(monkeypatch, capsys, **env)

    assert code == 0
    assert len(calls) == 1  # the pipeline was not called again
    assert generator_test_loader.LOADS == []  # nor loaded
    assert logs[-2]["event"] == "skipped"
    assert logs[-1]["skipped"] == 1


def test_rerun_after_failure_clears_stale_error(s3, calls, monkeypatch, capsys) -> None:
    put(s3, "outputs/job-e/0.error.json", "{}")
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps({"prompt": "x", **SMALL}), JOB_ID="job-e")
    assert code == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/job-e/")["Contents"]]
    assert sorted(keys) == ["outputs/job-e/0.json", "outputs/job-e/0.mp4"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"prompt": "x", "colour": "red"}, "unknown field(s) colour in job spec"),
        ({"prompt": "x", **SMALL, "height": 36}, "'height' must be a multiple of 8"),
        ({"prompt": "x", **SMALL, "num_frames": 10}, "'num_frames' must be 1 or 4*k+1"),
        (
            {"prompt": "x", **SMALL, "image": f"s3://{BUCKET}/nope.png"},
            f"s3://{BUCKET}/nope.png does not exist",
        ),
        ({"prompt": "x", "steps": "many"}, "field 'steps' must be int"),
    ],
)
def test_bad_spec_fails_fast_with_error_json(s3, calls, monkeypatch, capsys, item, message) -> None:
    code, logs = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps(item), AWS_BATCH_JOB_ID="bad")

    assert code == job_main.EXIT_INVALID_SPEC == 64
    error = get_json(s3, "outputs/bad/0.error.json")
    assert error["kind"] == "invalid_spec"
    assert error["exit_code"] == 64
    assert message in error["message"]
    assert "\n" not in error["message"]
    assert error["item"] == item
    assert logs[-2]["event"] == "failed" and message in logs[-2]["message"]
    assert logs[-1]["event"] == "worker_done" and logs[-1]["failed"] == 1
    assert calls == []
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/bad/")["Contents"]
    assert [o["Key"] for o in listed] == ["outputs/bad/0.error.json"]


def test_bad_size_fails_before_loading_the_real_model(s3, calls, monkeypatch, capsys) -> None:
    # No PIPELINE_LOADER: the hub path. 40 is a multiple of the tiny VAE's 8 but not of Nano's 16.
    monkeypatch.delenv("PIPELINE_LOADER")
    monkeypatch.setattr(job_pipeline, "load_from_hub", pytest.fail)
    item = {"prompt": "x", **SMALL, "height": 40}
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps(item), JOB_ID="size")
    assert code == 64
    assert "'height' must be a multiple of 16" in get_json(s3, "outputs/size/0.error.json")["message"]


def test_manifest_index_out_of_range(s3, calls, monkeypatch, capsys) -> None:
    uri = put(s3, "specs/two.jsonl", '{"prompt": "a"}\n{"prompt": "b"}\n')
    code, _ = invoke(
        monkeypatch, capsys, JOB_SPEC_URI=uri, AWS_BATCH_JOB_ID="j:5", AWS_BATCH_JOB_ARRAY_INDEX="5"
    )
    assert code == 64
    assert "out of range" in get_json(s3, "outputs/j/5.error.json")["message"]


def test_gated_model_without_access_exits_65(s3, calls, monkeypatch, capsys) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    response = SimpleNamespace(status_code=403, headers={}, request=None)

    def refuse(self, repo_id: str, **kwargs: Any) -> Any:
        raise GatedRepoError(f"403 Client Error: access to {repo_id} is restricted", response=response)

    monkeypatch.delenv("PIPELINE_LOADER")
    monkeypatch.setattr(HfApi, "model_info", refuse)
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps({"prompt": "x", **SMALL}), JOB_ID="gated")

    assert code == job_main.EXIT_MODEL_ACCESS == 65
    error = get_json(s3, "outputs/gated/0.error.json")
    assert error["kind"] == "model_access"
    assert "no access to the gated repository nvidia/Cosmos3-Nano" in error["message"]


def test_missing_environment_is_a_config_error(s3, calls, monkeypatch, capsys) -> None:
    monkeypatch.delenv("OUTPUT_BUCKET")
    code, logs = invoke(monkeypatch, capsys, JOB_SPEC='{"prompt": "x"}', JOB_ID="c")
    assert code == job_main.EXIT_CONFIG == 78
    assert logs[-1]["message"] == "OUTPUT_BUCKET is not set"


def test_optimisations_are_never_silently_ignored(s3, calls, monkeypatch, capsys) -> None:
    monkeypatch.setattr(job_main, "_import_accel", lambda: None)  # an image built without accel.py
    item = {"prompt": "x", **SMALL, "precision": "fp8"}
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps(item), JOB_ID="acc")
    assert code == 64
    message = get_json(s3, "outputs/acc/0.error.json")["message"]
    assert (
        message
        == "precision='fp8' requested, but this image has no cosmos_generator.accel module to apply it"
    )


def test_bad_performance_option_fails_before_loading(s3, calls, monkeypatch, capsys) -> None:
    if job_main._import_accel() is None:
        pytest.skip("image without cosmos_generator.accel")
    item = {"prompt": "x", **SMALL, "compile": "fastest"}
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps(item), JOB_ID="opt")
    assert code == 64
    assert (
        "performance options rejected: compile must be one of"
        in get_json(s3, "outputs/opt/0.error.json")["message"]
    )
    assert generator_test_loader.LOADS == []


def test_performance_options_reach_accel(s3, calls, monkeypatch, capsys, tmp_path) -> None:
    accel = job_main._import_accel()
    if accel is None:
        pytest.skip("image without cosmos_generator.accel")
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(accel, "apply_optimizations", lambda pipe, options: seen.append(options) or {"ok": 1})
    item = {"prompt": "x", **SMALL, "vae_tiling": True, "attention_backend": "math"}
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=json.dumps(item), JOB_ID="opt2")
    assert code == 0
    assert seen == [{"vae_tiling": True, "attention_backend": "math", "precision": "bf16", "offload": "none"}]
    meta = get_json(s3, "outputs/opt2/0.json")
    assert meta["optimizations"] == {"ok": 1}
    assert meta["spec"]["vae_tiling"] is True


def test_hf_token_never_reaches_logs_or_outputs(s3, calls, monkeypatch, capsys) -> None:
    canary = "hf_" + "CanaryTokenThatMustNeverBeWritten0123456789"  # split: no secret-scanner hit
    monkeypatch.setenv("HF_TOKEN", canary)
    good = json.dumps({"prompt": "a cat", **SMALL})
    bad = json.dumps({"prompt": "x", "colour": "red"})
    for job_id, spec in (("tok-ok", good), ("tok-bad", bad)):
        monkeypatch.setenv("JOB_ID", job_id)
        monkeypatch.setenv("JOB_SPEC", spec)
        with pytest.raises(SystemExit):
            job_main.main()
        captured = capsys.readouterr()
        assert canary not in captured.out + captured.err
    for obj in s3.list_objects_v2(Bucket=BUCKET)["Contents"]:
        assert canary.encode() not in s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read(), obj["Key"]
    # The objects that hold the token keep it out of their repr (exception messages, debug logs).
    env = job_main.JobEnv.from_environ(
        {"JOB_SPEC": good, "JOB_ID": "r", "OUTPUT_BUCKET": BUCKET, "HF_TOKEN": canary}
    )
    request = job_pipeline.LoadRequest("m", "main", "bf16", "none", "cpu", canary, True)
    assert canary not in repr(env) + repr(request)
