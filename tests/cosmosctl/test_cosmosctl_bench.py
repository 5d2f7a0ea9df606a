"""`cosmosctl bench` through the real OpenAI SDK against the fake NIM on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from cosmosctl.bench import Sample, percentile, summarize
from cosmosctl.cli import app
from cosmosctl.errors import CosmosError
from cosmosctl.shared import load_bench


def test_bench_writes_a_result(
    runner: CliRunner, nim_env: FakeOpenAI, tmp_path: Path, png_file: Path
) -> None:
    out = tmp_path / "bench.json"
    result = runner.invoke(
        app,
        ["bench", "--concurrency", "3", "--requests", "7", "--image", str(png_file), "--max-tokens", "5",
         "--instance", "g6e.xlarge", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["cosmosctl_bench"] == 1
    assert (data["ok"], data["errors"], data["requests"], data["concurrency"]) == (7, 0, 7, 3)
    assert data["instance"] == "g6e.xlarge"
    assert data["model"] == "nvidia/cosmos3-nano-reasoner"
    assert data["output_tokens"] == 7 * 5, "usage from the final stream chunk"
    for key in ("latency_s", "ttft_s"):
        stats = data[key]
        assert 0 < stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    assert data["requests_per_s"] > 0 and data["output_tokens_per_s"] > 0
    # 1 warm-up + 7 timed, all streamed with usage, each with the image.
    bodies = nim_env.chat_bodies()
    assert len(bodies) == 8
    assert all(b["stream"] and b["stream_options"] == {"include_usage": True} for b in bodies)
    assert all(b["messages"][0]["content"][0]["type"] == "image_url" for b in bodies)
    assert "latency" in result.stdout and "Wrote" in result.stderr
    assert load_bench(out)["requests_per_s"] == data["requests_per_s"]


def test_bench_video_json(runner: CliRunner, nim_env: FakeOpenAI, tmp_path: Path, mp4_file: Path) -> None:
    out = tmp_path / "b.json"
    result = runner.invoke(
        app,
        [
            "bench",
            "--requests",
            "2",
            "--warmup",
            "0",
            "--video",
            str(mp4_file),
            "--fps",
            "1",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["media"] == {
        "images": 0,
        "video": True,
        "fps": 1.0,
        "sampling": "client",
    }
    bodies = nim_env.chat_bodies()
    assert len(bodies) == 2
    assert not any("media_io_kwargs" in b or "mm_processor_kwargs" in b for b in bodies)
    # The video is sampled once, before the run: every request carries the same 1-fps re-encoding.
    urls = {b["messages"][0]["content"][0]["video_url"]["url"] for b in bodies}
    assert len(urls) == 1 and urls != {
        "data:video/mp4;base64," + base64.b64encode(mp4_file.read_bytes()).decode()
    }


def test_bench_counts_errors(runner: CliRunner, nim_env: FakeOpenAI, tmp_path: Path) -> None:
    nim_env.mode = "500"
    out = tmp_path / "b.json"
    result = runner.invoke(
        app, ["bench", "--model", "m", "--requests", "3", "--warmup", "0", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "All 3 requests failed" in result.stderr
    data = json.loads(out.read_text())
    assert (data["ok"], data["errors"]) == (0, 3)
    (message,) = data["error_messages"]
    assert "server error (500)" in message
    assert len(nim_env.chat_bodies()) == 3, "bench does not retry by default"


def test_bench_401_fails_on_model_discovery(runner: CliRunner, nim_env: FakeOpenAI, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["bench", "--api-key", "bad", "--requests", "1", "--out", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 1
    assert "(401)" in result.stderr
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "concurrency"),
        (["--requests", "100000"], "requests"),
        (["--instance", "g9.huge"], "unknown instance type 'g9.huge'"),
        (["--image", "missing.png"], "Image file not found"),
    ],
)
def test_bench_bad_input(runner: CliRunner, nim_env: FakeOpenAI, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code != 0
    assert message in result.output.replace("\n", " ") or message.lower() in result.output.lower()
    assert nim_env.requests == []


def test_percentiles_and_summary() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    samples = [Sample(True, 2.0, 0.5, 31), Sample(True, 4.0, 1.0, 61), Sample(False, 0.1, error="boom")]
    summary = summarize(samples, wall_s=4.0)
    assert (summary["ok"], summary["errors"], summary["error_messages"]) == (2, 1, {"boom": 1})
    assert summary["requests_per_s"] == 0.5
    assert summary["output_tokens_per_s"] == 23.0
    assert summary["per_request_decode_tokens_per_s"]["p50"] == pytest.approx((31 / 1.5 + 61 / 3.0) / 2)


def test_load_bench_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with pytest.raises(CosmosError, match="not found"):
        load_bench(path)
    path.write_text("{")
    with pytest.raises(CosmosError, match="not JSON"):
        load_bench(path)
    path.write_text('{"hello": 1}')
    with pytest.raises(CosmosError, match="not a cosmosctl bench result"):
        load_bench(path)
    path.write_text('{"cosmosctl_bench": 1, "ok": 0, "requests_per_s": 0}')
    with pytest.raises(CosmosError, match="no successful requests"):
        load_bench(path)
