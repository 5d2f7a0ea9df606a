"""`cosmosctl ask` and cosmosctl.client through the real OpenAI SDK against the fake NIM on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from media_utils import probe_mp4, tiny_mp4
from typer.testing import CliRunner

from cosmosctl import client as cclient
from cosmosctl.cli import app
from cosmosctl.errors import CosmosError

API_KEY = "test-key-0123456789abcdef"
MODEL_ID = "nvidia/cosmos3-nano-reasoner"


def _ask(runner: CliRunner, *args: str) -> object:
    return runner.invoke(app, ["ask", *args])


def test_ask_with_image_sends_what_the_nim_expects(
    runner: CliRunner, nim_env: FakeOpenAI, png_file: Path
) -> None:
    result = _ask(runner, "--image", str(png_file), "--max-tokens", "64", "What is leaking here?")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == nim_env.answer
    # The model id came from GET /v1/models.
    assert [r.path for r in nim_env.requests] == ["/v1/models", "/v1/chat/completions"]
    request = nim_env.requests[-1]
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.body
    assert body["model"] == MODEL_ID
    assert body["max_tokens"] == 64
    assert not body.get("stream")
    assert "media_io_kwargs" not in body
    (message,) = body["messages"]
    assert message["role"] == "user"
    image, text = message["content"]
    assert image["type"] == "image_url"
    assert (
        image["image_url"]["url"]
        == "data:image/png;base64," + base64.b64encode(png_file.read_bytes()).decode()
    )
    assert text == {"type": "text", "text": "What is leaking here?"}


def test_ask_video_with_fps_is_sampled_in_the_client(
    runner: CliRunner, nim_env: FakeOpenAI, tmp_path: Path
) -> None:
    """The body every vLLM accepts: no media_io_kwargs/mm_processor_kwargs, a re-encoded MP4 at --fps."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_mp4(width=640, height=360, frames=60, fps=30))  # 2 s at 30 fps
    result = _ask(
        runner, "--video", str(clip), "--fps", "2", "--max-video-side", "320", "--model", "my-model",
        "What happens?",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r.path for r in nim_env.requests] == ["/v1/chat/completions"], "--model skips GET /v1/models"
    body = nim_env.chat_bodies()[0]
    assert body["model"] == "my-model"
    assert "media_io_kwargs" not in body and "mm_processor_kwargs" not in body
    video = body["messages"][0]["content"][0]
    assert set(video) == {"type", "video_url"} and set(video["video_url"]) == {"url"}
    sent = base64.b64decode(video["video_url"]["url"].removeprefix("data:video/mp4;base64,"))
    # 1.97 s at 2 fps: frames at 0, 0.5, 1 and 1.5 s; 640x360 scaled to the 320-px side.
    assert probe_mp4(sent) == {
        "format": "mov,mp4,m4a,3gp,3g2,mj2", "codec": "h264", "size": (320, 180), "frames": 4,
        "rate": 2.0, "span_s": 1.5,
    }  # fmt: skip
    assert len(sent) < clip.stat().st_size


def test_ask_video_server_side_sampling_sends_nvidias_form(
    runner: CliRunner, nim_env: FakeOpenAI, mp4_file: Path
) -> None:
    nim_env.trust_request_mm_kwargs = True  # a server started with --trust-request-mm-kwargs
    result = _ask(runner, "--video", str(mp4_file), "--fps", "4", "--server-side-sampling", "What happens?")
    assert result.exit_code == 0, result.output
    body = nim_env.chat_bodies()[0]
    assert body["mm_processor_kwargs"] == {"fps": 4.0, "do_sample_frames": True}
    assert "media_io_kwargs" not in body
    video = body["messages"][0]["content"][0]
    assert video == {
        "type": "video_url",
        "video_url": {"url": "data:video/mp4;base64," + base64.b64encode(mp4_file.read_bytes()).decode()},
    }


def test_ask_400_about_mm_kwargs_says_what_to_do(
    runner: CliRunner, nim_env: FakeOpenAI, mp4_file: Path
) -> None:
    # The fake answers like a vLLM >= 0.31 started without --trust-request-mm-kwargs.
    result = _ask(runner, "--video", str(mp4_file), "--fps", "4", "--server-side-sampling", "What happens?")
    assert result.exit_code == 1
    assert "rejected the request's video sampling (400)" in result.stderr
    assert "--trust-request-mm-kwargs" in result.stderr
    assert "Drop --server-side-sampling" in result.stderr
    assert "Traceback" not in result.output


def test_400_hint_is_about_mm_kwargs_whenever_they_were_sent(
    runner: CliRunner, nim_env: FakeOpenAI, mp4_file: Path
) -> None:
    """A 400 whose message does not name the kwargs still gets the kwargs hint when we sent them."""
    nim_env.trust_request_mm_kwargs, nim_env.mode = True, "400"
    result = _ask(
        runner, "--model", "m", "--video", str(mp4_file), "--fps", "4", "--server-side-sampling", "Why?"
    )
    assert result.exit_code == 1 and "--trust-request-mm-kwargs" in result.stderr
    # Without the kwargs, the same 400 keeps the usual hint.
    result = _ask(runner, "--model", "m", "--video", str(mp4_file), "--fps", "4", "What happens?")
    assert result.exit_code == 1
    assert "--trust-request-mm-kwargs" not in result.stderr and "NIM_MAX_IMAGES_PER_PROMPT" in result.stderr


def test_ask_stream_prints_tokens_and_requests_usage(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    result = _ask(runner, "--stream", "Why does a faucet drip?")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == nim_env.answer
    body = nim_env.chat_bodies()[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_ask_json(runner: CliRunner, nim_env: FakeOpenAI, stream: str) -> None:
    result = _ask(runner, "--json", stream, "--max-tokens", "3", "Hi?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == MODEL_ID
    assert data["answer"] == " ".join(nim_env.answer.split(" ")[:3])
    assert data["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 3
    if stream == "--stream":
        assert data["time_to_first_token_s"] is not None


def test_ask_flags_override_env(
    runner: CliRunner, fake_nim: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMOS_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("COSMOS_API_KEY", "wrong")
    result = _ask(runner, "--endpoint", fake_nim.origin + "/v1/", "--api-key", API_KEY, "Hi?")
    assert result.exit_code == 0, result.output


def test_ask_401(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    result = _ask(runner, "--api-key", "wrong-key", "Hi?")
    assert result.exit_code == 1
    assert "rejected the API key (401): Invalid API key" in result.stderr
    assert "cosmosctl endpoint --env" in result.stderr
    assert "Traceback" not in result.output


def test_ask_500_is_retried_then_reported(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    nim_env.mode = "500"
    result = _ask(runner, "--model", "m", "--max-retries", "1", "Hi?")
    assert result.exit_code == 1
    assert "server error (500): CUDA error: out of memory" in result.stderr
    assert "LogGroupName" in result.stderr
    assert len(nim_env.chat_bodies()) == 2, "one retry"


def test_ask_400_shows_the_nim_message(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    nim_env.mode = "400"
    result = _ask(runner, "--model", "m", "Hi?")
    assert result.exit_code == 1
    assert "rejected the request (400): At most 4 image(s)" in result.stderr
    assert len(nim_env.chat_bodies()) == 1, "4xx is not retried"


def test_ask_transient_503_recovers_with_backoff(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    nim_env.mode, nim_env.failures = "flaky", 1
    result = _ask(runner, "--model", "m", "--max-retries", "2", "Hi?")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == nim_env.answer
    assert len(nim_env.chat_bodies()) == 2


def test_ask_timeout(runner: CliRunner, nim_env: FakeOpenAI) -> None:
    nim_env.mode, nim_env.slow_s = "slow", 1.5
    result = _ask(runner, "--model", "m", "--timeout", "0.3", "--max-retries", "0", "Hi?")
    assert result.exit_code == 1
    assert "did not answer in time" in result.stderr
    assert "--timeout" in result.stderr


def test_ask_connection_refused(runner: CliRunner, fake_nim: FakeOpenAI) -> None:
    url = fake_nim.origin.rsplit(":", 1)[0] + ":9"
    result = _ask(runner, "--endpoint", url, "--api-key", "k", "--max-retries", "0", "Hi?")
    assert result.exit_code == 1
    assert "Could not connect to the endpoint at http://127.0.0.1:9/v1" in result.stderr


def test_ask_checks_inputs_before_sending(
    runner: CliRunner, nim_env: FakeOpenAI, png_file: Path, tmp_path: Path
) -> None:
    cases = [
        (["--image", str(tmp_path / "missing.jpg")], "Image file not found"),
        (["--image", str(tmp_path)], "not a file"),
        (["--video", str(png_file)], "not an MP4"),
        (["--fps", "2"], "no video was given"),
        (
            ["--image", str(png_file)] * 3 + ["--max-images", "2"],
            "Too many images: 3 given, the server allows 2",
        ),
        (["--image", str(png_file), "--max-payload-mib", "0.00001"], "Request too large"),
        (["--endpoint", "ftp://host"], "Invalid endpoint URL"),
    ]
    for args, message in cases:
        result = _ask(runner, *args, "Hi?")
        assert result.exit_code == 1, args
        assert message in result.stderr, (args, result.stderr)
    bad_doc = tmp_path / "notes.txt"
    bad_doc.write_text("hello")
    result = _ask(runner, "--image", str(bad_doc), "Hi?")
    assert "Unsupported image type" in result.stderr
    result = _ask(runner, "   ")
    assert "question is empty" in result.stderr
    assert nim_env.requests == [], "nothing was sent"


def test_ask_without_endpoint_or_stack(runner: CliRunner) -> None:
    from moto import mock_aws

    with mock_aws():
        result = _ask(runner, "Hi?")
    assert result.exit_code == 1
    assert "No endpoint and API key given and the stack lookup failed" in result.stderr
    assert "ReasonerStack was not found" in result.stderr


def test_pick_model_prefers_a_reasoner(fake_nim: FakeOpenAI) -> None:
    fake_nim.models = ["some/lora", MODEL_ID]
    oai = cclient.make_client(fake_nim.origin, API_KEY, max_retries=0)
    assert cclient.pick_model(oai, None) == MODEL_ID
    assert cclient.pick_model(oai, "explicit") == "explicit"
    fake_nim.models = []
    with pytest.raises(CosmosError, match="serves no models"):
        cclient.pick_model(oai, None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://host", "https://host/v1"),
        ("https://host/", "https://host/v1"),
        ("http://alb-dns/v1", "http://alb-dns/v1"),
        ("http://alb-dns/v1/chat/completions", "http://alb-dns/v1"),
    ],
)
def test_normalize_base_url(given: str, expected: str) -> None:
    assert cclient.normalize_base_url(given) == expected


def test_make_client_validates() -> None:
    with pytest.raises(CosmosError, match="Invalid endpoint URL"):
        cclient.make_client("host-without-scheme", "k")
    with pytest.raises(CosmosError, match="--timeout"):
        cclient.make_client("http://h", "k", timeout=0)
