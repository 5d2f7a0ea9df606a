"""The root `cosmosctl` app: every command is wired, documented and importable without AWS."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cosmosctl.cli import app

COMMANDS = [
    ["endpoint"],
    ["ask"],
    ["bench"],
    ["cost"],
    ["generate"],
    ["generate", "submit"],
    ["generate", "status"],
    ["generate", "wait"],
    ["generate", "fetch"],
    ["generate", "list"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_root_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("endpoint", "ask", "generate", "bench", "cost"):
        assert name in result.stdout


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("cosmosctl ")


def test_unknown_command(runner: CliRunner) -> None:
    assert runner.invoke(app, ["teleport"]).exit_code == 2


def test_ask_needs_a_question(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ask"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_diy_is_mounted_when_present(runner: CliRunner) -> None:
    try:
        import cosmosctl.diy.cli  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("cosmosctl/diy is not in this checkout yet")
    assert runner.invoke(app, ["diy", "--help"]).exit_code == 0


def test_console_script_module_runs() -> None:
    # python -m cosmosctl.cli is what the `cosmosctl` console script calls.
    result = subprocess.run(
        [sys.executable, "-m", "cosmosctl.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout
