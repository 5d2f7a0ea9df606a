"""Hints name the endpoint that failed: our reasoner's ALB, or someone else's OpenAI-compatible API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from conftest import API_KEY, MODEL_ID
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from cosmosctl.cli import app


def _closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


OBSERVATION = json.dumps(
    {
        "fixture_type": "sink trap",
        "components": [],
        "visible_damage": [],
        "uncertain": [],
        "summary": "a trap",
    }
)


def test_unreachable_llm_endpoint_does_not_blame_the_alb(
    runner: CliRunner, fake_nim: FakeOpenAI, png_file: Path
) -> None:
    fake_nim.replies = [OBSERVATION]
    llm = _closed_port_url()
    result = runner.invoke(
        app,
        ["diy", "ask", "--endpoint", fake_nim.url, "--api-key", API_KEY, "--llm-endpoint", llm,
         "--image", str(png_file), "What is leaking?"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"Could not connect to the endpoint at {llm}" in result.stderr
    assert "security group" not in result.stderr and "ALB" not in result.stderr
    assert "network, proxy, VPN" in result.stderr


def test_unreachable_reasoner_still_points_at_the_alb(runner: CliRunner) -> None:
    url = _closed_port_url()
    result = runner.invoke(
        app,
        ["ask", "--endpoint", url, "--api-key", API_KEY, "--model", MODEL_ID, "--max-retries", "0", "Hi?"],
    )
    assert result.exit_code == 1
    assert "Could not connect to the endpoint" in result.stderr
    assert "security group allows your IP" in result.stderr


def test_llm_endpoint_errors_get_their_own_hints(
    runner: CliRunner, fake_nim: FakeOpenAI, png_file: Path
) -> None:
    fake_nim.replies = [OBSERVATION]
    with FakeOpenAI("gpt-test", api_key="the-right-key", answer="ok") as llm:
        result = runner.invoke(
            app,
            ["diy", "ask", "--endpoint", fake_nim.url, "--api-key", API_KEY, "--llm-endpoint", llm.url,
             "--image", str(png_file), "What is leaking?"],
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "401" in result.stderr
    assert "cosmosctl endpoint --env" not in result.stderr  # that is the reasoner's key, not this one
    assert "Check the API key this endpoint expects" in result.stderr
