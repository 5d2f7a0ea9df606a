"""`cosmosctl endpoint` and resolve_endpoint: flags, then environment, then stack outputs (moto)."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from cosmosctl.cli import app
from cosmosctl.endpoint import resolve_endpoint
from cosmosctl.errors import CosmosError

REASONER_URL = "http://cosmos-alb-123.us-east-1.elb.amazonaws.com"
STORED_KEY = "stored-key-abcdefghijklmnopqrstuvwxyz0123456789"
Aws = Any  # the aws fixtures' type (tests/cosmosctl/conftest.py)


def test_flags_win_without_touching_aws() -> None:
    # No moto here: any AWS call would fail (and the socket guard forbids the network).
    assert resolve_endpoint("https://flag", "flag-key") == ("https://flag", "flag-key")


def test_env_is_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMOS_ENDPOINT", "https://env")
    monkeypatch.setenv("COSMOS_API_KEY", "env-key")
    assert resolve_endpoint(None, None) == ("https://env", "env-key")
    assert resolve_endpoint("https://flag", None) == ("https://flag", "env-key")


def test_stack_fills_the_gaps(reasoner_stack: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_endpoint(None, None) == (REASONER_URL, STORED_KEY)
    assert resolve_endpoint("https://flag", None) == ("https://flag", STORED_KEY)
    monkeypatch.setenv("COSMOS_API_KEY", "env-key")
    assert resolve_endpoint(None, None, region="us-east-1") == (REASONER_URL, "env-key")


def test_missing_stack_is_one_clear_error(aws: Aws) -> None:
    with pytest.raises(CosmosError) as info:
        resolve_endpoint(None, None, stack="NoSuchStack")
    assert "NoSuchStack was not found in us-east-1" in info.value.message
    assert "--endpoint" in (info.value.hint or "")


def test_stack_without_outputs(aws: Aws) -> None:
    template = {
        "Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "other-bucket-x"}}}
    }
    aws.client("cloudformation").create_stack(StackName="Other", TemplateBody=json.dumps(template))
    with pytest.raises(CosmosError, match="Stack Other has no output EndpointUrl"):
        resolve_endpoint(None, None, stack="Other")


def test_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CosmosError, match="No AWS credentials") as info:
        resolve_endpoint(None, None)
    assert "aws configure" in str(info.value)


def test_endpoint_command_prints_url_and_key_hint(runner: CliRunner, reasoner_stack: Aws) -> None:
    result = runner.invoke(app, ["endpoint"])
    assert result.exit_code == 0, result.output
    assert REASONER_URL in result.stdout
    assert f"{REASONER_URL}/v1" in result.stdout
    assert reasoner_stack.secret_arn in result.stdout
    assert "aws secretsmanager get-secret-value" in result.stdout
    assert STORED_KEY not in result.stdout, "the key only with --show-key"


def test_endpoint_show_key(runner: CliRunner, reasoner_stack: Aws) -> None:
    result = runner.invoke(app, ["endpoint", "--show-key", "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert STORED_KEY in result.stdout


def test_endpoint_json(runner: CliRunner, reasoner_stack: Aws) -> None:
    data = json.loads(runner.invoke(app, ["endpoint", "--json"]).stdout)
    assert data["endpoint"] == REASONER_URL
    assert data["base_url"] == REASONER_URL + "/v1"
    assert data["api_key_secret_arn"] == reasoner_stack.secret_arn
    assert "api_key" not in data
    assert (
        json.loads(runner.invoke(app, ["endpoint", "--json", "--show-key"]).stdout)["api_key"] == STORED_KEY
    )


def test_endpoint_env_lines_eval_in_a_shell(runner: CliRunner, reasoner_stack: Aws) -> None:
    result = runner.invoke(app, ["endpoint", "--env"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"export COSMOS_ENDPOINT={shlex.quote(REASONER_URL)}",
        f"export COSMOS_API_KEY={shlex.quote(STORED_KEY)}",
    ]
    shell = subprocess.run(
        ["sh", "-c", result.stdout + 'printf "%s %s" "$COSMOS_ENDPOINT" "$COSMOS_API_KEY"'],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert shell.stdout == f"{REASONER_URL} {STORED_KEY}"


def test_endpoint_missing_stack(runner: CliRunner, aws: Aws) -> None:
    result = runner.invoke(app, ["endpoint", "--stack", "Nope"])
    assert result.exit_code == 1
    assert "Stack Nope was not found" in result.stderr
    assert "Traceback" not in result.output
