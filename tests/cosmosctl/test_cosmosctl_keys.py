"""`cosmosctl endpoint keys`: named keys in Secrets Manager (moto), rollouts on a stubbed ECS service.

moto serves the secret, the stack outputs and the target group (for the drain estimate); ECS is a small
fake whose deployments move from IN_PROGRESS to COMPLETED as it is polled, like a rolling deployment.
Each stored secret is also fed to the proxy's real start script (stacks/proxy/start.sh), so what
cosmosctl writes is what the proxy accepts.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import LAPTOP_KEY, STORED_KEY
from typer.testing import CliRunner

from cosmosctl import keys
from cosmosctl.cli import app
from cosmosctl.errors import CosmosError

Aws = Any
START_SCRIPT = Path(__file__).resolve().parents[2] / "stacks" / "proxy" / "start.sh"


class FakeEcs:
    """describe_services / update_service of one service; a forced deployment completes after `steps` polls."""

    def __init__(
        self, *, desired: int = 1, steps: int = 2, fail: bool = False, target_group: str = ""
    ) -> None:
        self.desired = desired
        self.steps = steps
        self.fail = fail
        self.target_group = target_group
        self.forced = 0
        self.polls_since_force = 0
        self.deployments: list[dict[str, Any]] = [
            self._deployment("ecs-svc/0", datetime(2020, 1, 1, tzinfo=UTC))
        ]
        self.deployments[0]["rolloutState"] = "COMPLETED"

    def _deployment(self, ident: str, created: datetime) -> dict[str, Any]:
        return {
            "id": ident,
            "status": "PRIMARY",
            "rolloutState": "IN_PROGRESS",
            "desiredCount": self.desired,
            "runningCount": self.desired,
            "createdAt": created,
        }

    def _service(self) -> dict[str, Any]:
        load_balancers = [{"targetGroupArn": self.target_group}] if self.target_group else []
        return {
            "serviceName": "cosmos-reasoner-service",
            "desiredCount": self.desired,
            "deployments": copy.deepcopy(self.deployments),
            "loadBalancers": load_balancers,
        }

    def describe_services(self, *, cluster: str, services: list[str]) -> dict[str, Any]:
        assert cluster == "cosmos-reasoner-cluster" and services == ["cosmos-reasoner-service"]
        primary = self.deployments[0]
        if primary["rolloutState"] == "IN_PROGRESS":
            self.polls_since_force += 1
            if self.fail:
                primary["rolloutState"] = "FAILED"
                primary["rolloutStateReason"] = "tasks failed to start"
            elif self.polls_since_force >= self.steps:
                primary["rolloutState"] = "COMPLETED"
                self.deployments = [primary]
            else:
                primary["runningCount"] = 0
        return {"services": [self._service()]}

    def update_service(self, *, cluster: str, service: str, forceNewDeployment: bool) -> dict[str, Any]:
        assert forceNewDeployment is True
        self.forced += 1
        self.polls_since_force = 0
        for old in self.deployments:
            old["status"] = "ACTIVE"
        new = self._deployment(f"ecs-svc/{self.forced}", datetime.now(UTC) + timedelta(seconds=1))
        self.deployments = [new, *self.deployments]
        return {"service": self._service()}


@pytest.fixture
def ecs(reasoner_stack: Aws, monkeypatch: pytest.MonkeyPatch) -> FakeEcs:
    fake = FakeEcs()
    monkeypatch.setattr(keys, "ecs_client", lambda session: fake)
    monkeypatch.setattr(keys, "POLL_SECONDS", 0.0)
    return fake


@pytest.fixture
def target_group(reasoner_stack: Aws, ecs: FakeEcs) -> str:
    """The service's target group in moto, draining for 900 s (only where a test reads the estimate)."""
    ec2 = reasoner_stack.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    elbv2 = reasoner_stack.client("elbv2")
    tg = elbv2.create_target_group(Name="reasoner", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")
    arn: str = tg["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "900"}]
    )
    ecs.target_group = arn
    return arn


def stored(aws: Aws) -> dict[str, str]:
    text = aws.client("secretsmanager").get_secret_value(SecretId=aws.secret_arn)["SecretString"]
    data: dict[str, str] = json.loads(text)
    # What the proxy's start script makes of it: it refuses to start on anything it cannot use.
    result = subprocess.run(
        ["sh", str(START_SCRIPT)],
        env={"PATH": os.environ["PATH"], "API_KEYS": text, "PROXY_KEYS_FILE": os.devnull},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(": ", 2)[2].split() == list(data)
    return data


def run(runner: CliRunner, *args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, ["endpoint", "keys", *args], input=input)
    assert "Traceback" not in result.output
    return result


# ---------------------------------------------------------------------------------------------- list


def test_list_shows_names_never_values(runner: CliRunner, ecs: FakeEcs) -> None:
    result = run(runner, "list")
    assert result.exit_code == 0, result.output
    assert "laptop" in result.stdout and "default" in result.stdout
    assert STORED_KEY not in result.output and LAPTOP_KEY not in result.output
    # The running tasks started (2020) before the secret was last written (now).
    assert "NOT up to date" in result.stdout
    data = json.loads(run(runner, "list", "--json").stdout)
    assert data["keys"] == ["laptop", "default"] and data["default"] == "default"
    assert STORED_KEY not in json.dumps(data)


def test_list_after_a_rollout_is_up_to_date(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    assert run(runner, "add", "ci").exit_code == 0
    assert "up to date with these keys" in run(runner, "list").stdout


# ---------------------------------------------------------------------------------------------- add


def test_add_prints_the_value_once_stores_it_and_rolls_out(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs, target_group: str
) -> None:
    result = run(runner, "add", "ci")
    assert result.exit_code == 0, result.output
    keys_now = stored(reasoner_stack)
    assert set(keys_now) == {"laptop", "default", "ci"}
    assert keys_now["default"] == STORED_KEY and keys_now["laptop"] == LAPTOP_KEY
    value = keys_now["ci"]
    assert keys.VALUE_PATTERN.match(value) and len(value) == 64
    assert result.stdout.count(value) == 1
    assert f"Key ci: {value}" in result.stdout
    assert "only time the value is shown" in result.stderr
    assert ecs.forced == 1
    assert "Rollout complete: key ci works" in result.stderr
    # The user is told what the wait is made of, with the target group's real drain time.
    assert "up to 900 s" in result.stderr
    assert value not in run(runner, "list").output


def test_add_json_and_no_wait(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    result = run(runner, "add", "bot", "--json", "--no-wait")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout is the JSON alone; progress went to stderr
    assert data["name"] == "bot" and stored(reasoner_stack)["bot"] == data["value"]
    assert "Rollout started" in result.stderr
    assert ecs.polls_since_force == 0  # did not wait


@pytest.mark.parametrize(("name", "message"), [("default", "exists"), ("bad name", "Invalid key name")])
def test_add_refuses_a_taken_or_invalid_name_without_changing_anything(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs, name: str, message: str
) -> None:
    before = stored(reasoner_stack)
    result = run(runner, "add", name)
    assert result.exit_code == 1
    assert message in result.stderr
    assert stored(reasoner_stack) == before and ecs.forced == 0


# ---------------------------------------------------------------------------------------------- revoke


def test_revoke_removes_the_key_and_says_when_it_stops_working(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs, target_group: str
) -> None:
    result = run(runner, "revoke", "laptop")
    assert result.exit_code == 0, result.output
    assert stored(reasoner_stack) == {"default": STORED_KEY}
    assert "still accept it until they are replaced" in result.stderr
    assert "up to 900 s" in result.stderr and "Until then the old keys are in force" in result.stderr
    assert "Rollout complete: key laptop no longer works" in result.stderr
    assert ecs.forced == 1


def test_revoke_refuses_the_last_key_and_unknown_names(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs
) -> None:
    assert run(runner, "revoke", "laptop").exit_code == 0
    result = run(runner, "revoke", "default")
    assert result.exit_code == 1 and "lock everyone out" in result.stderr
    result = run(runner, "revoke", "nobody")
    assert result.exit_code == 1 and "No key named nobody" in result.stderr
    assert stored(reasoner_stack) == {"default": STORED_KEY} and ecs.forced == 1


def test_without_a_target_group_the_estimate_names_the_setting(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs
) -> None:
    result = run(runner, "revoke", "laptop")
    assert result.exit_code == 0, result.output
    assert "up to the target group's deregistration delay" in result.stderr


def test_failed_rollout_is_one_clear_error(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    ecs.fail = True
    result = run(runner, "revoke", "laptop")
    assert result.exit_code == 1
    assert "The deployment failed: tasks failed to start" in result.stderr
    assert "old keys" in result.stderr


def test_scaled_to_zero_needs_no_wait(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    ecs.desired = 0
    result = run(runner, "revoke", "laptop")
    assert result.exit_code == 0, result.output
    assert "scaled to zero" in result.stderr


# ---------------------------------------------------------------------------------------------- rotate


def test_rotate_keeps_the_old_value_until_asked(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    result = run(runner, "rotate", "default", input="n\n")
    assert result.exit_code == 0, result.output
    keys_now = stored(reasoner_stack)
    assert keys_now["default.previous"] == STORED_KEY
    new = keys_now["default"]
    assert new != STORED_KEY and f"Key default: {new}" in result.stdout
    assert ecs.forced == 1
    assert "the new value of default works; the old one still does" in result.stderr
    assert "cosmosctl endpoint keys revoke default.previous" in result.stderr
    # A second rotation before the first one's old value is gone would lose track of it.
    again = run(runner, "rotate", "default", "--keep-old")
    assert again.exit_code == 1 and "Revoke it first" in again.stderr


def test_rotate_asks_before_revoking_the_old_value(
    runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "can_ask", lambda: True)
    result = run(runner, "rotate", "laptop", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Revoke the old value (laptop.previous) now?" in result.output
    assert set(stored(reasoner_stack)) == {"laptop", "default"} and ecs.forced == 2


def test_rotate_revoke_old_rolls_out_twice(runner: CliRunner, reasoner_stack: Aws, ecs: FakeEcs) -> None:
    result = run(runner, "rotate", "laptop", "--revoke-old")
    assert result.exit_code == 0, result.output
    keys_now = stored(reasoner_stack)
    assert set(keys_now) == {"laptop", "default"}
    assert keys_now["laptop"] != LAPTOP_KEY
    assert ecs.forced == 2  # new value live first, then the old one removed
    assert "the old value of laptop no longer works" in result.stderr


# ---------------------------------------------------------------------------------------------- secret format


def test_default_key_prefers_the_one_named_default() -> None:
    assert keys.default_key(json.dumps({"a": "a" * 20, "default": "d" * 20})) == "d" * 20
    assert keys.default_key(json.dumps({"a": "a" * 20})) == "a" * 20


@pytest.mark.parametrize(
    "text", ["plain-old-single-key-value", '["x"]', '{"a": "short"}', '{"a b": "x' + "y" * 20 + '"}']
)
def test_a_secret_the_proxy_would_refuse_is_reported(text: str) -> None:
    with pytest.raises(CosmosError) as info:
        keys.parse_keys(text)
    assert "secret" in info.value.message
    assert "plain-old" not in str(info.value)
