"""Workers (one container renders a share of the manifest), the weights stage and hub access checks."""
# ruff: noqa: F811  (the s3 and calls fixtures are imported from test_job)

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import generator_test_loader
import pytest
from cosmos_generator import main as job_main
from cosmos_generator import pipeline as job_pipeline
from cosmos_generator import weights as job_weights
from test_job import BUCKET, SMALL, calls, get_json, invoke, put, s3  # noqa: F401  (fixtures)

FP32 = {**SMALL, "precision": "fp32"}


def keys_under(client, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def manifest(client, items: list[Any], name: str = "m") -> str:
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    return put(client, f"specs/{name}.jsonl", "\n".join(lines) + "\n")


def test_worker_renders_its_share_with_the_pipeline_loaded_once(s3, calls, monkeypatch, capsys) -> None:
    uri = manifest(s3, [{"prompt": f"video {i}", **SMALL} for i in range(5)])
    env = {"JOB_SPEC_URI": uri, "WORKERS": "2"}

    code, logs = invoke(monkeypatch, capsys, **env, AWS_BATCH_JOB_ID="w:1", AWS_BATCH_JOB_ARRAY_INDEX="1")

    assert code == 0
    assert len(generator_test_loader.LOADS) == 1  # one load for the worker's two videos
    assert [c["prompt"] for c in calls] == ["video 1", "video 3"]
    assert keys_under(s3, "outputs/w/") == [f"outputs/w/{i}.{ext}" for i in (1, 3) for ext in ("json", "mp4")]
    done = logs[-1]
    assert (done["event"], done["items"], done["succeeded"], done["exit_code"]) == ("worker_done", 2, 2, 0)

    job_pipeline.clear_cache()  # worker 0 is another container
    code, _ = invoke(monkeypatch, capsys, **env, AWS_BATCH_JOB_ID="w:0", AWS_BATCH_JOB_ARRAY_INDEX="0")
    assert code == 0
    assert len(keys_under(s3, "outputs/w/")) == 10
    assert get_json(s3, "outputs/w/4.json")["worker"] == {"index": 0, "workers": 2, "load_model_s": pytest.approx(
        get_json(s3, "outputs/w/4.json")["worker"]["load_model_s"])}  # fmt: skip


def test_a_bad_item_fails_alone_and_the_worker_goes_on(s3, calls, monkeypatch, capsys) -> None:
    uri = manifest(
        s3,
        [
            {"prompt": "good 0", **SMALL},
            '{"prompt": "broken',
            {"prompt": "x", "colour": "red"},
            {"prompt": "good 3", **SMALL},
        ],
    )

    code, logs = invoke(monkeypatch, capsys, JOB_SPEC_URI=uri, JOB_ID="bad")

    # A bad spec never makes Batch retry the worker (it retries host failures only); the exit
    # code says that some items were bad, and each bad item has its error document.
    assert code == job_main.EXIT_INVALID_SPEC
    assert keys_under(s3, "outputs/bad/") == [
        "outputs/bad/0.json",
        "outputs/bad/0.mp4",
        "outputs/bad/1.error.json",
        "outputs/bad/2.error.json",
        "outputs/bad/3.json",
        "outputs/bad/3.mp4",
    ]
    assert "manifest line 2 is not valid JSON" in get_json(s3, "outputs/bad/1.error.json")["message"]
    assert get_json(s3, "outputs/bad/2.error.json")["item"] == {"prompt": "x", "colour": "red"}
    assert (logs[-1]["succeeded"], logs[-1]["failed"]) == (2, 2)


def test_an_unexpected_item_error_outranks_bad_specs(s3, calls, monkeypatch, capsys) -> None:
    uri = manifest(
        s3, [{"prompt": "boom", **SMALL}, {"prompt": "x", "colour": "red"}, {"prompt": "ok", **SMALL}]
    )
    original = job_main._Worker._generate

    def flaky(self, pipe, spec, *args: Any) -> Any:
        if spec.prompt == "boom":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, pipe, spec, *args)

    monkeypatch.setattr(job_main._Worker, "_generate", flaky)
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC_URI=uri, JOB_ID="mix")
    assert code == job_main.EXIT_INTERNAL
    assert get_json(s3, "outputs/mix/0.error.json")["kind"] == "internal"
    assert "outputs/mix/2.mp4" in keys_under(s3, "outputs/mix/")


def test_a_retried_worker_renders_only_what_is_missing(s3, calls, monkeypatch, capsys) -> None:
    uri = manifest(s3, [{"prompt": f"v{i}", **SMALL} for i in range(3)])
    put(s3, "outputs/r/1.json", "{}")  # item 1 committed by the attempt that Spot interrupted

    code, logs = invoke(
        monkeypatch,
        capsys,
        JOB_SPEC_URI=uri,
        AWS_BATCH_JOB_ID="r:0",
        AWS_BATCH_JOB_ARRAY_INDEX="0",
        WORKERS="1",
    )

    assert code == 0
    assert [c["prompt"] for c in calls] == ["v0", "v2"]
    assert (logs[-1]["succeeded"], logs[-1]["skipped"]) == (2, 1)


def test_shares_cover_a_manifest_above_the_array_limit_exactly_once() -> None:
    lines, workers = 25_001, 10_000  # Batch arrays hold at most 10,000 children
    seen: list[int] = []
    for index in range(workers):
        env = job_main.JobEnv.from_environ(
            {
                "JOB_SPEC": "{}",
                "AWS_BATCH_JOB_ID": f"j:{index}",
                "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
                "WORKERS": str(workers),
                "OUTPUT_BUCKET": "b",
            }
        )
        share = env.my_items(lines)
        assert len(share) in (2, 3)
        seen.extend(share)
    assert sorted(seen) == list(range(lines))


def test_workers_must_match_the_array(s3, calls, monkeypatch, capsys) -> None:
    code, logs = invoke(
        monkeypatch,
        capsys,
        JOB_SPEC='{"prompt": "x"}',
        AWS_BATCH_JOB_ID="j:3",
        AWS_BATCH_JOB_ARRAY_INDEX="3",
        WORKERS="2",
    )
    assert code == job_main.EXIT_CONFIG
    assert "WORKERS=2 but this is array child 3" in logs[-1]["message"]


# -- hub access ----------------------------------------------------------------------------------


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No PIPELINE_LOADER (the real hub path), a host cache in tmp_path, offline mode restored after."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("PIPELINE_LOADER")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("WEIGHTS_DIR", str(tmp_path / "host"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "host" / "hf-home"))
    monkeypatch.delenv("WEIGHTS_S3_URI", raising=False)
    return tmp_path


def _refuse(repos: set[str], error: type[Exception]):
    response = SimpleNamespace(status_code=403, headers={}, request=None, url="")
    asked: list[str] = []

    def model_info(self, repo_id: str, **kwargs: Any) -> Any:
        asked.append(repo_id)
        if repo_id in repos:
            raise error(f"403 Client Error for {repo_id}", response=response)
        return SimpleNamespace(sha="c0ffee")

    return model_info, asked


def test_gated_guardrail_is_checked_before_any_download(s3, calls, hub_env, monkeypatch, capsys) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    model_info, asked = _refuse({job_weights.GUARDRAIL_REPO}, GatedRepoError)
    monkeypatch.setattr(HfApi, "model_info", model_info)
    monkeypatch.setattr(job_pipeline, "hub_download", pytest.fail)
    monkeypatch.setenv("SAFETY_CHECKER", "on")
    uri = manifest(s3, [{"prompt": "a", **SMALL}, {"prompt": "b", **SMALL}])

    code, logs = invoke(monkeypatch, capsys, JOB_SPEC_URI=uri, JOB_ID="g")

    assert code == job_main.EXIT_MODEL_ACCESS == 65
    assert asked[:2] == ["nvidia/Cosmos3-Nano", "nvidia/Cosmos-1.0-Guardrail"]
    message = get_json(s3, "outputs/g/0.error.json")["message"]
    assert "no access to the gated repository nvidia/Cosmos-1.0-Guardrail" in message
    # Every later item would fail the same way: the worker stops instead of asking again.
    assert logs[-1]["not_started"] == 1 and "outputs/g/1.error.json" not in keys_under(s3, "outputs/g/")


def test_a_bad_model_revision_is_a_bad_spec(s3, calls, hub_env, monkeypatch, capsys) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    model_info, _ = _refuse({"nvidia/Cosmos3-Nano"}, RevisionNotFoundError)
    monkeypatch.setattr(HfApi, "model_info", model_info)
    monkeypatch.setenv("SAFETY_CHECKER", "off")
    code, _ = invoke(
        monkeypatch,
        capsys,
        JOB_SPEC=json.dumps({"prompt": "x", **SMALL}),
        JOB_ID="rev",
        MODEL_REVISION="v9-nope",
    )
    assert code == job_main.EXIT_INVALID_SPEC == 64
    error = get_json(s3, "outputs/rev/0.error.json")
    assert "nvidia/Cosmos3-Nano has no revision 'v9-nope'" in error["message"]


# -- weights: host cache, S3 mirror, Hub -------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory) -> Path:
    """A freshly built tiny pipeline on disk (the session's one has been through accel in other tests)."""
    from cosmos_generator.random_pipeline import build_random_pipeline

    folder = tmp_path_factory.mktemp("tiny-saved")
    build_random_pipeline("tiny").save_pretrained(str(folder))
    return folder


def fake_hub(saved: Path, commit: str = "a" * 40):
    """A hub_download that lays out the saved tiny pipeline like the Hugging Face cache: blobs + links."""
    downloads: list[str] = []

    def download(need: Any, hub_cache: Path, token: str | None) -> tuple[str, Path]:
        downloads.append(need.repo_id)
        repo = Path(hub_cache) / need.folder
        snapshot = repo / "snapshots" / commit
        for path in saved.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
                blob.parent.mkdir(parents=True, exist_ok=True)
                blob.write_bytes(data)
                link = snapshot / path.relative_to(saved)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(os.path.relpath(blob, link.parent))
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / need.revision).write_text(commit)
        return commit, snapshot

    return download, downloads


def test_weights_come_from_the_hub_then_the_s3_mirror_then_the_host_cache(
    s3, calls, hub_env, saved_tiny, monkeypatch, capsys
) -> None:
    from huggingface_hub import HfApi

    download, downloads = fake_hub(saved_tiny)
    monkeypatch.setattr(job_pipeline, "hub_download", download)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: SimpleNamespace(sha="a" * 40))
    monkeypatch.setenv("SAFETY_CHECKER", "off")
    monkeypatch.setenv("WEIGHTS_S3_URI", f"s3://{BUCKET}/weights/")
    item = json.dumps({"prompt": "x", **FP32})

    # 1. A fresh account: from the Hub, then mirrored to S3 (manifest written last).
    code, _ = invoke(monkeypatch, capsys, JOB_SPEC=item, JOB_ID="h1")
    assert code == 0, get_json(s3, "outputs/h1/0.error.json")["message"]
    assert downloads == ["nvidia/Cosmos3-Nano"]
    meta = get_json(s3, "outputs/h1/0.json")
    assert [(w["repo"], w["source"], w["commit"]) for w in meta["weights"]] == [
        ("nvidia/Cosmos3-Nano", "hub", "a" * 40)
    ]
    mirror = get_json(s3, "weights/nvidia/Cosmos3-Nano/main/manifest.json")
    assert mirror["commit"] == "a" * 40
    assert {"model_index.json", "transformer/config.json"} <= {f["path"] for f in mirror["files"]}
    assert f"weights/nvidia/Cosmos3-Nano/main/files/{mirror['files'][0]['path']}" in keys_under(
        s3, "weights/"
    )

    # 2. A new host: from the mirror, with no Hub call at all (not even the access check).
    job_pipeline.clear_cache()
    host2 = hub_env / "host2"
    monkeypatch.setenv("WEIGHTS_DIR", str(host2))
    monkeypatch.setenv("HF_HOME", str(host2 / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(job_pipeline, "hub_download", pytest.fail)
    monkeypatch.setattr(HfApi, "model_info", pytest.fail)
    code, logs = invoke(monkeypatch, capsys, JOB_ID="h2")
    assert code == 0, get_json(s3, "outputs/h2/0.error.json")
    assert get_json(s3, "outputs/h2/0.json")["weights"][0]["source"] == "s3"
    restored = host2 / "hf-home" / "hub" / "models--nvidia--Cosmos3-Nano"
    assert (restored / "refs" / "main").read_text() == "a" * 40
    assert (restored / "snapshots" / ("a" * 40) / "model_index.json").is_file()
    timing = next(r for r in logs if r["event"] == "weights")
    assert timing["source"] == "s3" and timing["bytes"] > 0 and "seconds" in timing

    # 3. The same host again (the mirror even gone): the host cache, offline.
    job_pipeline.clear_cache()
    for key in keys_under(s3, "weights/"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    code, _ = invoke(monkeypatch, capsys, JOB_ID="h3")
    assert code == 0, get_json(s3, "outputs/h3/0.error.json")
    assert get_json(s3, "outputs/h3/0.json")["weights"][0]["source"] == "local"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_an_incomplete_host_copy_is_not_used(tmp_path: Path) -> None:
    config = job_weights.WeightsConfig(hub_cache=tmp_path / "hub", weights_dir=tmp_path)
    cache = job_weights.WeightsCache(config, s3_client=None, log=lambda *a, **k: None)
    need = job_weights.RepoNeed("nvidia/Cosmos3-Nano", "main")
    snapshot = cache.snapshot_dir(need, "c1")
    snapshot.mkdir(parents=True)
    (snapshot / "a.bin").write_bytes(b"12345")
    manifest = {
        "format": 1,
        "commit": "c1",
        "files": [{"path": "a.bin", "size": 5}, {"path": "b.bin", "size": 3}],
    }
    cache._write_marker(need, manifest)
    assert cache.local_manifest(need) is None  # b.bin missing: an interrupted copy
    (snapshot / "b.bin").write_bytes(b"123")
    assert cache.local_manifest(need) == manifest
    shutil.rmtree(snapshot)
    assert cache.local_manifest(need) is None


def test_the_guardrail_repositories_are_needed_only_with_the_checker() -> None:
    on = job_weights.needs_for("nvidia/Cosmos3-Super", "v1", safety_checker=True)
    assert [(n.repo_id, n.revision, n.gated) for n in on] == [
        ("nvidia/Cosmos3-Super", "v1", True),
        ("nvidia/Cosmos-1.0-Guardrail", "main", True),
        ("Qwen/Qwen3Guard-Gen-0.6B", "main", False),
    ]
    assert len(job_weights.needs_for("nvidia/Cosmos3-Nano", "main", safety_checker=False)) == 1


def test_the_job_throughput_record_is_consistent() -> None:
    """docs/benchmarks' job-throughput record: the fields the issue asks for, and its arithmetic."""
    root = Path(__file__).resolve().parents[2]
    record = json.loads((root / "docs/benchmarks/h200-job-throughput-2026-11-29.json").read_text())
    assert {"kind", "gpu", "path", "resolution", "videos", "wall_s", "per_video_s", "efficiency"} <= set(
        record
    )
    assert record["kind"] == "job-throughput" and record["resolution"] == "480p" and record["videos"] >= 16
    assert record["efficiency"] == pytest.approx(
        record["videos"] * record["per_video_s"] / record["wall_s"], abs=1e-3
    )
    bench = record["bench"]
    assert record["per_video_s"] == pytest.approx(
        record["steps"] * bench["s_per_step"] + bench["decode_s"], abs=0.01
    )
    raw = json.loads(
        (root / "docs/benchmarks" / (record["raw"].split("*")[0] + "job-throughput.json")).read_text()
    )
    assert (raw["wall_s"], raw["videos"]) == (record["wall_s"], record["videos"])
    assert raw["job"]["videos_uploaded"] == raw["job"]["metadata_uploaded"] == record["videos"]
