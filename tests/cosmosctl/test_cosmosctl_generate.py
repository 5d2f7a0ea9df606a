"""`cosmosctl generate` against moto S3 + Batch + CloudFormation outputs of the GeneratorBatchStack."""

from __future__ import annotations

import ast
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cosmosctl import generate
from cosmosctl.cli import app

Aws = Any  # the aws fixtures' type (tests/cosmosctl/conftest.py)
CONTAINER_SPEC = Path(__file__).resolve().parents[2] / "container/generator/cosmos_generator/spec.py"


def _submit(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, ["generate", "submit", *args])


def _job(aws: Aws, job_id: str) -> dict[str, Any]:
    return aws.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]


def _object(aws: Aws, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["container"]["environment"]}


def test_submit_single_prompt_with_image(runner: CliRunner, generator_stack: Aws, png_file: Path) -> None:
    result = _submit(
        runner, "--prompt", "water drips from a kitchen faucet", "--image", str(png_file),
        "--frames", "93", "--height", "480", "--width", "832", "--steps", "20", "--seed", "7",
        "--guidance", "5",
        "--offload", "model", "-o", "compile=default", "--option", "vae_tiling=true",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    job = _job(generator_stack, job_id)
    assert job["jobQueue"] == generator_stack.job_queue
    assert job["jobName"].startswith("cosmosctl-")
    assert "arrayProperties" not in job or not job["arrayProperties"].get("size")
    spec_uri = _env(job)["JOB_SPEC_URI"]
    assert spec_uri.startswith(f"s3://{generator_stack.bucket}/inputs/") and spec_uri.endswith("/spec.json")
    spec = json.loads(_object(generator_stack, spec_uri))
    image_uri = spec.pop("image")
    assert spec == {
        "prompt": "water drips from a kitchen faucet", "num_frames": 93, "height": 480, "width": 832,
        "steps": 20, "seed": 7, "guidance": 5.0, "offload": "model", "compile": "default", "vae_tiling": True,
    }  # fmt: skip
    assert image_uri.startswith(spec_uri.rsplit("/", 1)[0] + "/media/")
    assert _object(generator_stack, image_uri) == png_file.read_bytes()


def test_submit_manifest_is_an_array_job(
    runner: CliRunner, generator_stack: Aws, tmp_path: Path, png_file: Path, mp4_file: Path
) -> None:
    manifest = tmp_path / "prompts.jsonl"
    lines = [
        {"prompt": "a leaking pipe"},
        {"prompt": "a dripping tap", "image": png_file.name, "steps": 10},
        "",
        {"prompt": "fix it", "video": str(mp4_file), "num_frames": 61},
        {"prompt": "already uploaded", "image": "s3://elsewhere/in.png"},
    ]
    manifest.write_text("\n".join(json.dumps(x) if x else "" for x in lines) + "\n")
    result = _submit(runner, "--manifest", str(manifest), "--steps", "30", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["array_size"] == 4
    assert len(info["uploaded"]) == 2
    job = _job(generator_stack, info["job_id"])
    assert job["arrayProperties"]["size"] == 4
    assert _env(job)["JOB_SPEC_URI"] == info["spec_uri"]
    assert info["spec_uri"].endswith("/manifest.jsonl")
    rows = [json.loads(line) for line in _object(generator_stack, info["spec_uri"]).decode().splitlines()]
    assert [r["prompt"] for r in rows] == ["a leaking pipe", "a dripping tap", "fix it", "already uploaded"]
    assert [r["steps"] for r in rows] == [30, 10, 30, 30], "flags fill fields a line leaves unset"
    assert _object(generator_stack, rows[1]["image"]) == png_file.read_bytes()
    assert _object(generator_stack, rows[2]["video"]) == mp4_file.read_bytes()
    assert rows[3]["image"] == "s3://elsewhere/in.png"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --prompt or --manifest"),
        (["--prompt", "x", "--manifest", "m.jsonl"], "exactly one of --prompt or --manifest"),
        (["--prompt", "  "], "prompt"),
        (
            ["--prompt", "x", "--height", "500"],
            "height: Value error, must be a multiple of 16; try 496 or 512",
        ),
        (["--prompt", "x", "--frames", "90"], "num_frames: Value error, must be 1 or 4*k+1; try 89 or 93"),
        (["--prompt", "x", "--frames", "400"], "num_frames"),
        (["--prompt", "x", "--model", "huge"], "model"),
        (["--prompt", "x", "--offload", "yes"], "offload"),
        (["--prompt", "x", "--guidance", "0.5"], "guidance"),
        (["--prompt", "x", "--image", "missing.png"], "Image file not found"),
        (["--prompt", "x", "--video", "missing.mp4"], "Video file not found"),
        (["--manifest", "missing.jsonl"], "Manifest not found"),
        (["--prompt", "x", "-o", "novalue"], "--option must look like KEY=VALUE"),
        (["--prompt", "x", "-o", "steps=3"], "use --steps instead"),
    ],
)
def test_submit_rejects_bad_input_before_touching_aws(
    runner: CliRunner, args: list[str], message: str
) -> None:
    # No moto and no stack: any AWS call would fail differently.
    result = _submit(runner, *args)
    assert result.exit_code != 0
    assert message in result.stderr, result.stderr


def test_submit_rejects_bad_manifests(
    runner: CliRunner, tmp_path: Path, png_file: Path, mp4_file: Path
) -> None:
    cases = {
        "not json\n": "prompts.jsonl:1: not valid JSON",
        '{"prompt": "ok"}\n["a list"]\n': "prompts.jsonl:2: each line must be a JSON object",
        '{"prompt": "ok", "num_frames": "many"}\n': "Invalid job spec at ",
        "\n# only a comment\n": "has no prompts",
        json.dumps({"prompt": "both", "image": str(png_file), "video": str(mp4_file)}): "not both",
        json.dumps({"prompt": "doc", "image": str(tmp_path / "notes.txt")}): "Image file not found",
    }
    manifest = tmp_path / "prompts.jsonl"
    for text, message in cases.items():
        manifest.write_text(text)
        result = _submit(runner, "--manifest", str(manifest))
        assert result.exit_code == 1, text
        assert message in result.stderr, (text, result.stderr)
    (tmp_path / "notes.txt").write_text("x")
    manifest.write_text(json.dumps({"prompt": "doc", "image": "notes.txt"}))
    assert "Unsupported image type '.txt'" in _submit(runner, "--manifest", str(manifest)).stderr
    manifest.write_text(json.dumps({"prompt": "p"}))
    result = _submit(runner, "--manifest", str(manifest), "--image", str(png_file))
    assert "in a manifest give them per line" in result.stderr


def test_submit_without_the_stack(runner: CliRunner, aws: Aws) -> None:
    result = _submit(runner, "--prompt", "x")
    assert result.exit_code == 1
    assert "Stack GeneratorBatchStack was not found" in result.stderr
    assert "cdk deploy GeneratorBatchStack" in result.stderr


def test_status_wait_fetch_and_list(runner: CliRunner, generator_stack: Aws, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    job_id = json.loads(_submit(runner, "--manifest", str(manifest), "--json").stdout)["job_id"]

    status = runner.invoke(app, ["generate", "status", job_id, "--json"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert (data["job_id"], data["status"], data["total"], data["succeeded"]) == (job_id, "SUCCEEDED", 2, 2)
    assert data["spec_uri"].endswith("manifest.jsonl")
    assert runner.invoke(app, ["generate", "status", job_id]).exit_code == 0

    wait = runner.invoke(app, ["generate", "wait", job_id, "--interval", "0"])
    assert wait.exit_code == 0, wait.output
    assert "Done: 2 worker(s) succeeded" in wait.stderr

    # No outputs yet: a clear message, not an empty directory.
    early = runner.invoke(app, ["generate", "fetch", job_id, "--out", str(tmp_path / "out")])
    assert early.exit_code == 1
    assert f"Job {job_id} has no outputs yet (status SUCCEEDED)" in early.stderr

    # What the generator container writes: outputs/<job id>/<index>.{mp4,json,error.json}.
    s3 = generator_stack.client("s3")
    for key, body in {
        f"outputs/{job_id}/0.mp4": b"mp4-0",
        f"outputs/{job_id}/0.json": b'{"seed": 1}',
        f"outputs/{job_id}/1.error.json": b'{"error": "bad"}',
        f"outputs/{job_id}x/0.mp4": b"another job's output",
    }.items():
        s3.put_object(Bucket=generator_stack.bucket, Key=key, Body=body)
    fetched = runner.invoke(app, ["generate", "fetch", job_id, "--out", str(tmp_path / "out")])
    assert fetched.exit_code == 0, fetched.output
    folder = tmp_path / "out" / job_id
    assert sorted(p.name for p in folder.iterdir()) == ["0.json", "0.mp4", "1.error.json"]
    assert (folder / "0.mp4").read_bytes() == b"mp4-0"
    assert "1 video(s), 3 file(s), 1 spec error(s)" in fetched.stderr
    # one array child: only its own files, from the parent's folder
    child = runner.invoke(app, ["generate", "fetch", f"{job_id}:1", "--out", str(tmp_path / "child")])
    assert child.exit_code == 0, child.output
    assert sorted(p.name for p in (tmp_path / "child" / f"{job_id}_1").iterdir()) == ["1.error.json"]

    listed = runner.invoke(app, ["generate", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["job_id"] for r in rows] == [job_id], "array children are not listed separately"
    # Real list_jobs summaries carry arrayProperties.size; moto's leave it out.
    assert rows[0]["array_size"] in (2, None)
    assert rows[0]["status"] == "SUCCEEDED"
    assert job_id[:8] in runner.invoke(app, ["generate", "list"]).stdout


def test_fetch_array_children_layout(generator_stack: Aws, tmp_path: Path) -> None:
    # Also accept outputs/<job id>:<index>/... should a job write under its child id.
    s3 = generator_stack.client("s3")
    s3.put_object(Bucket=generator_stack.bucket, Key="outputs/abc:3/3.mp4", Body=b"v")
    paths = generate.fetch_outputs("abc", tmp_path, stack="GeneratorBatchStack", region=None)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["abc/3/3.mp4"]


def test_status_unknown_job(runner: CliRunner, generator_stack: Aws) -> None:
    result = runner.invoke(app, ["generate", "status", "no-such-job"])
    assert result.exit_code == 1
    assert "No Batch job no-such-job found" in result.stderr


def test_wait_shows_progress_and_reports_failures(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, generator_stack: Aws
) -> None:
    # moto finishes jobs at once; drive intermediate array states at the describe_jobs boundary.
    def summary(status: str, ok: int, failed: int) -> dict[str, Any]:
        counts = {s: 0 for s in generate.STATUSES} | {
            "SUCCEEDED": ok,
            "FAILED": failed,
            "RUNNING": 3 - ok - failed,
        }
        return {"jobId": "j1", "status": status, "arrayProperties": {"size": 3, "statusSummary": counts}}

    states = iter([summary("PENDING", 0, 0), summary("RUNNING", 1, 0), summary("FAILED", 2, 1)])
    monkeypatch.setattr(generate, "describe_job", lambda job_id, sess: next(states))
    result = runner.invoke(app, ["generate", "wait", "j1", "--interval", "0"])
    assert result.exit_code == 1
    assert "Job j1 finished with 1 of 3 failed" in result.stderr
    assert "cosmosctl generate fetch j1" in result.stderr


def test_wait_timeout(runner: CliRunner, monkeypatch: pytest.MonkeyPatch, generator_stack: Aws) -> None:
    monkeypatch.setattr(
        generate, "describe_job", lambda job_id, sess: {"jobId": job_id, "status": "RUNNABLE"}
    )
    result = runner.invoke(app, ["generate", "wait", "j2", "--interval", "0.01", "--timeout", "0.05"])
    assert result.exit_code == 2
    assert "still RUNNABLE" in result.stderr


def test_list_empty(runner: CliRunner, generator_stack: Aws) -> None:
    result = runner.invoke(app, ["generate", "list"])
    assert result.exit_code == 0
    assert "No jobs on this queue in the last 14 days" in result.stderr


def test_list_shows_every_job_on_the_queue_created_in_the_window(
    runner: CliRunner, generator_stack: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = generator_stack.client("batch")
    # a job submitted with the AWS CLI, not cosmosctl, is a generation job all the same
    job = batch.submit_job(
        jobName="console-submitted",
        jobQueue=generator_stack.job_queue,
        jobDefinition=generator_stack.job_definition,
    )
    sent: list[dict[str, Any]] = []
    real_client = generate.session

    def spying_session(region: str | None) -> Any:
        sess = real_client(region)
        original = sess.client

        def client(name: str, *args: Any, **kwargs: Any) -> Any:
            c = original(name, *args, **kwargs)
            if name == "batch":
                c.meta.events.register(
                    "provide-client-params.batch.ListJobs", lambda params, **_: sent.append(params)
                )
            return c

        sess.client = client
        return sess

    monkeypatch.setattr(generate, "session", spying_session)
    before = int(time.time() * 1000)
    rows = json.loads(runner.invoke(app, ["generate", "list", "--json", "--since-days", "2"]).stdout)
    assert [r["job_name"] for r in rows] == ["console-submitted"] and rows[0]["job_id"] == job["jobId"]
    (flt,) = sent[0]["filters"]
    assert flt["name"] == "AFTER_CREATED_AT"
    assert before - 2 * 86400 * 1000 - 5000 <= int(flt["values"][0]) <= before - 2 * 86400 * 1000 + 5000


@pytest.mark.skipif(not CONTAINER_SPEC.exists(), reason="generator container not in this checkout")
def test_spec_fields_match_the_generator_container() -> None:
    # Read the container's JobSpec fields without importing it (it is not an installed package).
    tree = ast.parse(CONTAINER_SPEC.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "JobSpec"]
    container_fields = {
        n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    container_fields.discard("extra_options")
    assert set(generate.JobSpec.model_fields) == container_fields
    constants = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id.isupper()
        and isinstance(n.value, ast.Constant)
    }  # fmt: skip
    assert constants["CHECKPOINT_SPATIAL_FACTOR"] == generate.SPATIAL_FACTOR
    assert constants["CHECKPOINT_TEMPORAL_FACTOR"] == generate.TEMPORAL_FACTOR
    assert constants["MAX_NUM_FRAMES"] == generate.MAX_NUM_FRAMES
    assert constants["MAX_SIDE"] == generate.MAX_SIDE
    assert constants["MAX_STEPS"] == generate.MAX_STEPS


class _FakeBatch:
    """The three Describe calls job_capacity makes, answering like a GeneratorBatchStack queue."""

    def __init__(self, max_vcpus: list[int], job_vcpus: str, types: list[str]) -> None:
        self.max_vcpus, self.job_vcpus, self.types = max_vcpus, job_vcpus, types

    def describe_job_queues(self, jobQueues: list[str]) -> dict[str, Any]:
        order = [{"order": i, "computeEnvironment": f"ce-{i}"} for i in range(len(self.max_vcpus))]
        return {"jobQueues": [{"computeEnvironmentOrder": order}]}

    def describe_compute_environments(self, computeEnvironments: list[str]) -> dict[str, Any]:
        return {
            "computeEnvironments": [
                {"computeResources": {"maxvCpus": v, "instanceTypes": self.types}} for v in self.max_vcpus
            ]
        }

    def describe_job_definitions(self, jobDefinitions: list[str]) -> dict[str, Any]:
        requirements = [{"type": "VCPU", "value": self.job_vcpus}, {"type": "GPU", "value": "1"}]
        return {"jobDefinitions": [{"containerProperties": {"resourceRequirements": requirements}}]}


def test_workers_follow_the_gpus_the_queue_can_run() -> None:
    # g6e.12xlarge: 48 vCPUs, 4 GPUs -> 11 vCPUs per one-GPU job; on-demand + Spot environments.
    capacity = generate.job_capacity(_FakeBatch([96, 96], "11", ["g6e.12xlarge"]), "q", "d")
    assert capacity == generate.Capacity(17, ("g6e.12xlarge",))
    assert generate.choose_workers(5, capacity) == 5  # never more workers than videos
    assert generate.choose_workers(1_000, capacity) == 17  # one per GPU: each loads the model once
    assert generate.choose_workers(50_000, generate.Capacity(40_000)) == generate.MAX_ARRAY_SIZE
    assert generate.choose_workers(100, capacity, requested=3) == 3
    # Unmanaged or unreadable environments: a fixed number, still bounded by the lines.
    assert generate.choose_workers(100, generate.Capacity(None)) == generate.FALLBACK_WORKERS


def test_attempt_timeout_covers_the_largest_share() -> None:
    from stacks import gpu_catalog as catalog

    at_480 = [{"prompt": "p"} for _ in range(40)]
    seconds, _ = catalog.estimated_generator_seconds("g6e.2xlarge", 480, 832, "bf16", True, False)
    timeout = generate.attempt_timeout_s(at_480, 4, ("g6e.2xlarge",))
    assert timeout == math.ceil(10 * seconds * generate.TIMEOUT_FACTOR + generate.WORKER_STARTUP_S)
    # 720p with offload: the slowest path; its timeout grows with the share instead of killing it.
    slow = [{"prompt": "p", "height": 720, "width": 1280, "offload": "group"}] * 3
    slow_s, _ = catalog.estimated_generator_seconds("g6e.2xlarge", 720, 1280, "bf16", False, True)
    assert generate.attempt_timeout_s(slow, 1, ("g6e.2xlarge",)) >= 3 * slow_s
    # Fewer steps, shorter videos: less time.
    assert generate.attempt_timeout_s([{"prompt": "p", "steps": 7}] * 40, 4, ("g6e.2xlarge",)) < timeout


def test_a_manifest_above_the_array_limit_is_shared_by_workers(
    runner: CliRunner, generator_stack: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "job_capacity", lambda *a: generate.Capacity(8, ("g6e.2xlarge",)))
    manifest = tmp_path / "many.jsonl"
    manifest.write_text("".join(json.dumps({"prompt": f"p{i}", "steps": 5}) + "\n" for i in range(10_050)))
    result = _submit(runner, "--manifest", str(manifest), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert (info["videos"], info["workers"], info["array_size"]) == (10_050, 8, 8)
    job = _job(generator_stack, info["job_id"])
    assert job["arrayProperties"]["size"] == 8
    assert _env(job)["WORKERS"] == "8"
    assert job["timeout"]["attemptDurationSeconds"] == info["attempt_timeout_s"]
