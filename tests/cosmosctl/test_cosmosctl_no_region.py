"""Every command that talks to AWS answers a missing region (and missing credentials) in one line.

Before, `endpoint`, `ask` without `--endpoint`, `bench` and `generate` printed botocore's
NoRegionError traceback (~190 lines), because the AWS clients were made outside the error handling.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosmosctl.cli import app

COMMANDS = [
    ["endpoint"],
    ["endpoint", "--env"],
    ["endpoint", "--json"],
    ["ask", "What is leaking here?"],
    ["bench", "--requests", "1"],
    ["generate", "list"],
    ["generate", "submit", "--prompt", "a dripping tap"],
    ["generate", "status", "job-123"],
]


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No region and no credentials anywhere: AWS_* cleared, empty config and credentials files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return dict(os.environ)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_region_is_one_clear_line(runner: CliRunner, no_aws: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code not in (0, None), result.output
    # A CosmosError ends in typer.Exit (SystemExit); anything else is the traceback users saw.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "No AWS region is set" in errors[0]
    assert "AWS_REGION" in result.stderr and "--region" in result.stderr and "aws configure" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.splitlines()) <= 3, result.stderr


def test_no_region_through_the_console_script(no_aws: dict[str, str]) -> None:
    """The installed entry point, in a fresh process: exit 1, a short stderr, no traceback."""
    done = subprocess.run(
        [sys.executable, "-c", "from cosmosctl.cli import main; main()", "endpoint", "--env"],
        capture_output=True, text=True, env=no_aws, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""  # nothing an `eval "$(cosmosctl endpoint --env)"` would run
    assert "Traceback" not in done.stderr and "No AWS region is set" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr


@pytest.mark.parametrize("args", [["endpoint"], ["generate", "list"], ["ask", "Hi?"]], ids=" ".join)
def test_bad_region_name_is_one_line(runner: CliRunner, no_aws: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--region", "us east 1"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Invalid AWS region 'us east 1'" in result.stderr


def test_missing_profile_is_one_line(
    runner: CliRunner, no_aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    result = runner.invoke(app, ["generate", "list"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "AWS profile not found: nope" in result.stderr


def test_cost_needs_no_region(runner: CliRunner, no_aws: dict[str, str]) -> None:
    """cost prices the shipped list's region when none is set, and says which prices it used."""
    result = runner.invoke(app, ["cost", "--json"])
    assert result.exit_code == 0, result.output
    assert '"region": "us-east-1"' in result.stdout
    assert "Pricing API not used: no AWS credentials" in result.stdout
