"""`cosmosctl endpoint up|down|status|prefetch`, `ask --wait` on a sleeping endpoint, and the idle cost model.

ECS, Auto Scaling, ELB and Application Auto Scaling answer through botocore Stubbers (the exact calls
are asserted); the stack outputs come from moto; the endpoint is the fake OpenAI server, first
answering 503 (asleep, as the ALB does with no target) and then 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import ANSWER, API_KEY, Aws
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from cosmosctl import idle_cost, power, wake
from cosmosctl.cli import app
from stacks import gpu_catalog as catalog

CLUSTER = "cosmos-cluster"
SERVICE = "cosmos-nim"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nim/0123456789abcdef"
ASG = "cosmos-gpu-asg"
PREFETCH_TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/prefetch:1"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/cosmos-cluster/0123456789abcdef0123456789abcdef"


def _outputs(idle: str = "30") -> dict[str, str]:
    return {
        "EndpointUrl": "http://cosmos-alb.example",
        "ApiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:key-AbC123",
        "LogGroupName": "/cosmos/reasoner",
        "ClusterName": CLUSTER,
        "ServiceName": SERVICE,
        "TargetGroupArn": TG_ARN,
        "AutoScalingGroupName": ASG,
        "CapacityProviderName": "cosmos-gpu",
        "TaskSubnets": "subnet-0a,subnet-0b",
        "TaskSecurityGroupId": "sg-0123",
        "PrefetchTaskDefinitionArn": PREFETCH_TD,
        "InstanceType": "g6e.xlarge",
        "IdleMinutes": idle,
    }


def _create_stack(aws: Aws, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "power-marker"}}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    aws.client("cloudformation").create_stack(StackName="ReasonerStack", TemplateBody=json.dumps(template))


class Stubs:
    """Stubbed clients; `expect_*` queue the answers one poll of the endpoint's state reads."""

    def __init__(self) -> None:
        make = lambda name: boto3.client(name, region_name="us-east-1")  # noqa: E731
        self.clients = power.Clients(
            ecs=make("ecs"),
            autoscaling=make("autoscaling"),
            elbv2=make("elbv2"),
            appautoscaling=make("application-autoscaling"),
        )
        self.ecs = Stubber(self.clients.ecs)
        self.asg = Stubber(self.clients.autoscaling)
        self.elb = Stubber(self.clients.elbv2)
        self.scaling = Stubber(self.clients.appautoscaling)
        self.all = (self.ecs, self.asg, self.elb, self.scaling)

    def expect_state(
        self,
        *,
        desired: int,
        running: int = 0,
        tasks: Sequence[str] = (),
        hosts: Sequence[str] = (),
        warm: Sequence[str] = (),
        targets: Sequence[str] = (),
        idle: bool = True,
    ) -> None:
        self.ecs.add_response(
            "describe_services",
            {
                "services": [
                    {
                        "serviceName": SERVICE,
                        "desiredCount": desired,
                        "runningCount": running,
                        "pendingCount": 0,
                    }
                ]
            },
            {"cluster": CLUSTER, "services": [SERVICE]},
        )
        arns = [f"{TASK_ARN[:-1]}{i}" for i in range(len(tasks))]
        self.ecs.add_response("list_tasks", {"taskArns": arns}, {"cluster": CLUSTER, "serviceName": SERVICE})
        if arns:
            self.ecs.add_response(
                "describe_tasks",
                {"tasks": [{"taskArn": a, "lastStatus": s} for a, s in zip(arns, tasks, strict=True)]},
                {"cluster": CLUSTER, "tasks": arns},
            )
        instance = lambda i, s: {  # noqa: E731
            "InstanceId": f"i-0{i}",
            "AvailabilityZone": "us-east-1a",
            "LifecycleState": s,
            "HealthStatus": "Healthy",
            "ProtectedFromScaleIn": False,
        }
        self.asg.add_response(
            "describe_auto_scaling_groups",
            {
                "AutoScalingGroups": [
                    {
                        "AutoScalingGroupName": ASG,
                        "MinSize": 0,
                        "MaxSize": 3,
                        "DesiredCapacity": len(hosts),
                        "DefaultCooldown": 300,
                        "AvailabilityZones": ["us-east-1a"],
                        "HealthCheckType": "EC2",
                        "CreatedTime": "2026-11-29T00:00:00Z",
                        "Instances": [instance(i, s) for i, s in enumerate(hosts)],
                    }
                ]
            },
            {"AutoScalingGroupNames": [ASG]},
        )
        if idle:
            self.asg.add_response(
                "describe_warm_pool",
                {"Instances": [instance(9, s) for s in warm]},
                {"AutoScalingGroupName": ASG},
            )
        self.elb.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": f"10.0.0.{i}", "Port": 8000}, "TargetHealth": {"State": s}}
                    for i, s in enumerate(targets)
                ]
            },
            {"TargetGroupArn": TG_ARN},
        )

    def done(self) -> None:
        for stub in self.all:
            stub.assert_no_pending_responses()


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubs]:
    s = Stubs()
    monkeypatch.setattr(power, "make_clients", lambda sess: s.clients)
    monkeypatch.setattr(power, "POLL_S", 0.0)
    for stub in s.all:
        stub.activate()
    yield s
    for stub in s.all:
        stub.deactivate()


@pytest.fixture
def idle_stack(aws: Aws) -> Aws:
    _create_stack(aws, _outputs("30"))
    return aws


# ---------------------------------------------------------------------------- status


def test_status_of_a_sleeping_endpoint_says_asleep_and_costs_only_the_stopped_volume(
    runner: CliRunner, idle_stack: Aws, stubs: Stubs
) -> None:
    stubs.expect_state(desired=0, warm=["Warmed:Stopped"])
    result = runner.invoke(app, ["endpoint", "status"])
    assert result.exit_code == 0, result.output
    assert "Reasoner endpoint: asleep" in result.stdout
    assert "sleeps after 30 idle minutes" in result.stdout
    # 200 GiB gp3 at $0.08 per GB-month: the stopped warm-pool host is all that is billed.
    assert "$16.00/month" in result.stdout
    stubs.done()


def test_status_json_of_a_ready_endpoint_costs_one_running_host(
    runner: CliRunner, idle_stack: Aws, stubs: Stubs
) -> None:
    stubs.expect_state(desired=1, running=1, tasks=["RUNNING"], hosts=["InService"], targets=["healthy"])
    result = runner.invoke(app, ["endpoint", "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"] == "ready"
    price = catalog.get_instance("g6e.xlarge").price_per_hour_usd
    assert data["monthly_usd_in_this_state"] == pytest.approx(730 * price + 16, abs=0.01)


def test_a_warm_pool_host_still_pulling_the_image_is_billed_as_running(stubs: Stubs) -> None:
    stubs.expect_state(desired=0, warm=["Warmed:Pending", "Warmed:Stopped"])
    snap = power.snapshot(stubs.clients, power.Deployment.from_outputs(_outputs(), "ReasonerStack"))
    assert (snap.state, snap.running_hosts, snap.stopped_hosts) == ("asleep", 1, 1)


def test_a_task_starting_without_a_healthy_target_is_waking(stubs: Stubs) -> None:
    stubs.expect_state(desired=1, tasks=["PENDING"], hosts=["InService"], targets=["initial"])
    snap = power.snapshot(stubs.clients, power.Deployment.from_outputs(_outputs(), "ReasonerStack"))
    assert snap.state == "waking"
    done = {name: ok for name, ok, _ in power.phases(snap)}
    assert done == {
        "service wants a task": True,
        "GPU host in service": True,
        "NIM task running": False,
        "load balancer target healthy": False,
    }


# ---------------------------------------------------------------------------- up / down


def test_up_wakes_a_sleeping_endpoint_and_follows_the_phases_until_ready(
    runner: CliRunner, idle_stack: Aws, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    pokes: list[int] = []
    monkeypatch.setattr(power, "_poker", lambda stack, region: lambda: pokes.append(1) or 503)
    stubs.expect_state(desired=0, warm=["Warmed:Stopped"])
    stubs.ecs.add_response(
        "update_service",
        {"service": {"serviceName": SERVICE}},
        {"cluster": CLUSTER, "service": SERVICE, "desiredCount": 1},
    )
    stubs.expect_state(desired=1, tasks=["PROVISIONING"], hosts=["Pending"])
    stubs.expect_state(desired=1, tasks=["PENDING"], hosts=["InService"], targets=["initial"])
    stubs.expect_state(desired=1, running=1, tasks=["RUNNING"], hosts=["InService"], targets=["healthy"])
    result = runner.invoke(app, ["endpoint", "up"])
    assert result.exit_code == 0, result.output
    assert "Waking cosmos-nim: 1 task wanted" in result.stderr
    assert "1 PROVISIONING" in result.stderr and "1 Pending" in result.stderr
    assert "Reasoner endpoint: ready" in result.stderr
    assert "Ready." in result.stdout
    assert pokes == [1], "one keep-awake request in the first minute"
    stubs.done()


def test_up_times_out_with_a_hint(stubs: Stubs, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs.expect_state(desired=1, tasks=["PROVISIONING"])
    deployment = power.Deployment.from_outputs(_outputs(), "ReasonerStack")
    with pytest.raises(power.CosmosError, match="not ready after 0 minutes") as err:
        power.wait_until_ready(stubs.clients, deployment, timeout_s=0, poke_endpoint=None, show=False)
    assert "prefetch" in (err.value.hint or "")


def test_down_scales_to_zero(runner: CliRunner, idle_stack: Aws, stubs: Stubs) -> None:
    resource = f"service/{CLUSTER}/{SERVICE}"
    stubs.scaling.add_response(
        "describe_scalable_targets",
        {
            "ScalableTargets": [
                {
                    "ServiceNamespace": "ecs",
                    "ResourceId": resource,
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "MinCapacity": 0,
                    "MaxCapacity": 2,
                    "RoleARN": "arn:aws:iam::123456789012:role/x",
                    "CreationTime": "2026-11-29T00:00:00Z",
                }
            ]
        },
        {
            "ServiceNamespace": "ecs",
            "ResourceIds": [resource],
            "ScalableDimension": "ecs:service:DesiredCount",
        },
    )
    stubs.ecs.add_response(
        "update_service", {"service": {}}, {"cluster": CLUSTER, "service": SERVICE, "desiredCount": 0}
    )
    result = runner.invoke(app, ["endpoint", "down"])
    assert result.exit_code == 0, result.output
    assert "Asleep" in result.stdout and "wakes it" in result.stdout
    stubs.done()


def test_down_on_an_always_on_endpoint_lowers_its_floor_first(
    runner: CliRunner, aws: Aws, stubs: Stubs
) -> None:
    _create_stack(aws, _outputs("off"))
    resource = f"service/{CLUSTER}/{SERVICE}"
    key = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}
    stubs.scaling.add_response(
        "describe_scalable_targets",
        {
            "ScalableTargets": [
                {
                    **key,
                    "ResourceId": resource,
                    "MinCapacity": 1,
                    "MaxCapacity": 2,
                    "RoleARN": "arn:aws:iam::1:role/x",
                    "CreationTime": "2026-11-29T00:00:00Z",
                }
            ]
        },
        {**key, "ResourceIds": [resource]},
    )
    stubs.scaling.add_response(
        "register_scalable_target", {}, {**key, "ResourceId": resource, "MinCapacity": 0}
    )
    stubs.ecs.add_response(
        "update_service", {"service": {}}, {"cluster": CLUSTER, "service": SERVICE, "desiredCount": 0}
    )
    result = runner.invoke(app, ["endpoint", "down"])
    assert result.exit_code == 0, result.output
    assert "always-on" in result.stderr and "next `cdk deploy` restores minTasks" in result.stderr
    assert "cosmosctl endpoint up" in result.stdout
    stubs.done()


def test_old_stack_without_the_outputs_gets_one_clear_line(runner: CliRunner, reasoner_stack: Aws) -> None:
    result = runner.invoke(app, ["endpoint", "status"])
    assert result.exit_code == 1
    # The fixture stack predates the scale-to-zero outputs (TargetGroupArn, AutoScalingGroupName...).
    assert "has no output" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2


def test_endpoint_without_a_subcommand_still_prints_the_url(runner: CliRunner, reasoner_stack: Aws) -> None:
    result = runner.invoke(app, ["endpoint", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["endpoint"] == "http://cosmos-alb-123.us-east-1.elb.amazonaws.com"


# ---------------------------------------------------------------------------- prefetch


def _expect_run_task(stubs: Stubs) -> None:
    stubs.ecs.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        {
            "cluster": CLUSTER,
            "taskDefinition": PREFETCH_TD,
            "count": 1,
            "capacityProviderStrategy": [{"capacityProvider": "cosmos-gpu", "weight": 1}],
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0a", "subnet-0b"],
                    "securityGroups": ["sg-0123"],
                    "assignPublicIp": "DISABLED",
                }
            },
            "startedBy": "cosmosctl-prefetch",
        },
    )


def _expect_task(stubs: Stubs, status: str, exit_code: int | None = None) -> None:
    task: dict[str, Any] = {"taskArn": TASK_ARN, "lastStatus": status}
    if exit_code is not None:
        task["containers"] = [{"name": "Prefetch", "exitCode": exit_code}]
        task["stoppedReason"] = "Essential container in task exited"
    stubs.ecs.add_response("describe_tasks", {"tasks": [task]}, {"cluster": CLUSTER, "tasks": [TASK_ARN]})


def test_prefetch_runs_the_download_task_on_the_gpu_capacity_and_waits(
    runner: CliRunner, idle_stack: Aws, stubs: Stubs
) -> None:
    _expect_run_task(stubs)
    _expect_task(stubs, "RUNNING")
    _expect_task(stubs, "STOPPED", 0)
    result = runner.invoke(app, ["endpoint", "prefetch"])
    assert result.exit_code == 0, result.output
    assert "RUNNING" in result.stderr and "STOPPED" in result.stderr
    assert "The model is in the EFS cache" in result.stdout
    stubs.done()


def test_failed_prefetch_points_at_its_log_stream(runner: CliRunner, idle_stack: Aws, stubs: Stubs) -> None:
    _expect_run_task(stubs)
    _expect_task(stubs, "STOPPED", 1)
    result = runner.invoke(app, ["endpoint", "prefetch"])
    assert result.exit_code == 1
    assert (
        "exit [1]" in result.stderr and "prefetch/" in result.stderr and "/cosmos/reasoner" in result.stderr
    )


# ---------------------------------------------------------------------------- ask on a sleeping endpoint


@pytest.fixture
def asleep(nim_env: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake endpoint answers 503 to the first two requests (asleep, then still waking), then 200."""
    nim_env.mode = "flaky"
    nim_env.failures = 2
    monkeypatch.setattr(wake, "RETRY_S", 0.0)
    return nim_env


def test_ask_on_a_sleeping_endpoint_says_it_is_waking(runner: CliRunner, asleep: FakeOpenAI) -> None:
    result = runner.invoke(app, ["ask", "--max-retries", "0", "Is the pipe leaking?"])
    assert result.exit_code == 1
    assert "no ready task (503 from the load balancer)" in result.stderr
    assert "--wait" in result.stderr and "Traceback" not in result.output
    assert len(asleep.requests) == 1, "one request, which is what wakes a scale-to-zero endpoint"


def test_ask_wait_retries_until_the_endpoint_answers(runner: CliRunner, asleep: FakeOpenAI) -> None:
    result = runner.invoke(
        app, ["ask", "--max-retries", "0", "--wait", "--no-stream", "Is the pipe leaking?"]
    )
    assert result.exit_code == 0, result.output
    assert "The endpoint is waking (503)" in result.stderr
    assert result.stdout.strip() == ANSWER
    assert [r.path for r in asleep.requests] == ["/v1/models"] * 3 + ["/v1/chat/completions"]
    assert asleep.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


def test_ask_wait_gives_up_after_its_limit(asleep: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    from cosmosctl import client as cclient

    oai = cclient.make_client(asleep.origin, API_KEY, max_retries=0)
    asleep.failures = 10**6
    with pytest.raises(wake.CosmosError, match="did not wake within 0 minutes"):
        wake.call_waking(lambda: cclient.pick_model(oai, None), wait=True, wait_s=0)


def test_other_errors_are_not_mistaken_for_sleep(nim_env: FakeOpenAI) -> None:
    from cosmosctl import client as cclient

    nim_env.mode = "401"
    oai = cclient.make_client(nim_env.origin, API_KEY, max_retries=0)
    with pytest.raises(wake.CosmosError, match="rejected the API key"):
        wake.call_waking(lambda: cclient.pick_model(oai, None), wait=True, wait_s=60)


def test_keep_awake_request_reaches_the_endpoint_with_the_key(asleep: FakeOpenAI) -> None:
    assert power.poke(asleep.origin, API_KEY) == 503
    assert power.poke(asleep.origin, API_KEY) == 503
    assert power.poke(asleep.origin, API_KEY) == 200
    assert asleep.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


# ---------------------------------------------------------------------------- cost


def test_scale_to_zero_pays_off_for_bursts_and_not_around_the_clock() -> None:
    def compare(active: float, wakes: float) -> dict[str, Any]:
        usage = idle_cost.UsagePattern(active, wakes, idle_minutes=30)
        return idle_cost.compare(instance_type="g6e.xlarge", root_volume_gib=200, cache_gib=20, usage=usage)

    hour = catalog.get_instance("g6e.xlarge").price_per_hour_usd + 200 * 0.08 / 730
    bursts = compare(2, 2)
    assert bursts["always_on_monthly_usd"] == pytest.approx(hour * 730, abs=0.01)
    # 2 h of use + 2 x (30 idle + 15 host scale-in + 8 wake) minutes = 3.77 h awake a day.
    assert bursts["awake_hours_per_day"] == pytest.approx(3.77)
    assert bursts["cheaper"] == "scale-to-zero" and bursts["monthly_savings_usd"] > 900
    busy = compare(22, 4)
    assert busy["awake_hours_per_day"] == 24 and busy["cheaper"] == "always-on"


def test_cost_command_compares_modes_for_a_usage_pattern(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "cost",
            "--price-source",
            "catalog",
            "--active-hours-per-day",
            "2",
            "--wakes-per-day",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)["scale_to_zero"]
    assert comparison["wakes_per_day"] == 3 and comparison["idle_minutes"] == 30
    assert comparison["scale_to_zero_monthly_usd"] < comparison["always_on_monthly_usd"]
    table = runner.invoke(app, ["cost", "--price-source", "catalog", "--active-hours-per-day", "2"])
    assert "Always-on vs scale-to-zero" in table.stdout and "scale-to-zero saves" in table.stdout
