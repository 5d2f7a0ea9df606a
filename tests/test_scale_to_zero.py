"""idleMinutes: the endpoint sleeps when idle and wakes on a request; the default keeps one warm task.

One extra synth (idleMinutes=30); the default template comes from the shared synth cache.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from template_utils import cfn_lint_findings, only, resources, template_of

from stacks.config import ConfigError, ReasonerConfig
from stacks.constructs.model_prefetch import prefetch_command
from stacks.constructs.scale_to_zero import WARM_POOL_HOOK_NAME, prepare_host_script

IDLE: dict[str, Any] = {"idleMinutes": 30}


class Ctx(dict):
    def try_get_context(self, key: str) -> Any:
        return self.get(key)


@pytest.fixture(scope="module")
def idle(synth: Any) -> dict[str, Any]:
    # synth() raises on any unacknowledged cdk-nag finding: reaching the template means zero.
    return template_of(synth(**IDLE), "ReasonerStack")


@pytest.fixture(scope="module")
def default(synth: Any) -> dict[str, Any]:
    return template_of(synth(), "ReasonerStack")


def _policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if v["Properties"]["PolicyType"] == "StepScaling"
    }


def _alarm_for(template: dict[str, Any], policy_id: str) -> dict[str, Any]:
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if {"Ref": policy_id} in a["Properties"].get("AlarmActions", [])
    ]
    return alarm


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    return {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}


def _expression(alarm: dict[str, Any]) -> str:
    (expr,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    return expr


def _by_adjustment(template: dict[str, Any]) -> dict[int, tuple[str, dict[str, Any]]]:
    found = {}
    for pid, policy in _policies(template).items():
        config = policy["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ExactCapacity"
        (step,) = config["StepAdjustments"]
        found[step["ScalingAdjustment"]] = (pid, step)
    return found


# ---------------------------------------------------------------------------- idleMinutes set


def test_service_may_scale_to_zero_and_back_out_to_max_tasks(idle: dict[str, Any]) -> None:
    target = only(idle, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)


def test_idle_alarm_sets_zero_tasks_after_idle_minutes_without_requests(idle: dict[str, Any]) -> None:
    policy_id, step = _by_adjustment(idle)[0]
    assert step == {"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0}
    alarm = _alarm_for(idle, policy_id)
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    # Every one of the last 30 one-minute periods must be quiet, and no data at all is quiet.
    assert alarm["EvaluationPeriods"] == 30 and alarm["DatapointsToAlarm"] == 30
    assert alarm["TreatMissingData"] == "breaching"
    assert {m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m} == {60}
    # Requests that reached the NIM and the 503s the ALB answered while asleep both count as use.
    assert _metric_names(alarm) == {"RequestCount", "HTTPCode_ELB_503_Count"}
    assert _expression(alarm) == "FILL(requests, 0) + FILL(rejected, 0)"


def test_wake_alarm_sets_one_task_on_a_503_while_no_target_is_healthy(idle: dict[str, Any]) -> None:
    policy_id, step = _by_adjustment(idle)[1]
    assert step == {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    alarm = _alarm_for(idle, policy_id)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1
    # One request is enough, and the alarm holds for 3 minutes so the policy is invoked again.
    assert alarm["DatapointsToAlarm"] == 1 and alarm["EvaluationPeriods"] == 3
    assert alarm["TreatMissingData"] == "notBreaching"
    assert _metric_names(alarm) == {"HTTPCode_ELB_503_Count", "HealthyHostCount"}
    assert "FILL(healthy, 0) < 1" in _expression(alarm)


def test_request_tracking_still_scales_out_when_awake(idle: dict[str, Any]) -> None:
    tracking = [
        p
        for p in resources(idle, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["PolicyType"] == "TargetTrackingScaling"
    ]
    assert len(tracking) == 1


def test_warm_pool_keeps_one_stopped_host_with_the_image_pulled(idle: dict[str, Any]) -> None:
    pool = only(idle, "AWS::AutoScaling::WarmPool")
    assert pool["PoolState"] == "Stopped" and pool["MaxGroupPreparedCapacity"] == 1
    assert "ReuseOnScaleIn" not in json.dumps(pool)  # ECS does not support it
    hook = only(idle, "AWS::AutoScaling::LifecycleHook")
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["LifecycleHookName"] == WARM_POOL_HOOK_NAME and hook["DefaultResult"] == "CONTINUE"
    user_data = json.dumps(only(idle, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["UserData"])
    assert "ECS_WARM_POOLS_CHECK=true" in user_data
    assert "docker pull" in user_data and "complete-lifecycle-action" in user_data


def test_hosts_may_read_the_ngc_secret_and_complete_only_their_groups_hook(idle: dict[str, Any]) -> None:
    statements = [
        s
        for p in resources(idle, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (complete,) = [s for s in statements if s["Action"] == "autoscaling:CompleteLifecycleAction"]
    assert "GpuCapacityAutoScalingGroup" in json.dumps(complete["Resource"])


def test_scale_to_zero_template_passes_cfn_lint(idle: dict[str, Any]) -> None:
    assert cfn_lint_findings(idle) == []


def test_prepare_host_script_pulls_only_into_the_warm_pool_and_never_echoes_the_key() -> None:
    script = prepare_host_script("nvcr.io/nim/nvidia/cosmos3:2.1.0", "arn:aws:secretsmanager:x")
    pull = script.index("docker pull")
    assert script.rindex('if [ "$STATE" = "Warmed:Stopped" ]', 0, pull) < pull
    assert "--password-stdin" in script and "docker logout nvcr.io" in script
    assert "set -x" not in script
    # The lifecycle action is completed on every path, after the optional pull.
    assert script.index("complete-lifecycle-action") > script.index("fi\n")


# ---------------------------------------------------------------------------- default and prefetch


def test_default_keeps_one_warm_task_and_no_scale_to_zero_resources(default: dict[str, Any]) -> None:
    target = only(default, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] == 1
    assert _policies(default) == {}
    assert resources(default, "AWS::AutoScaling::WarmPool") == {}
    assert resources(default, "AWS::AutoScaling::LifecycleHook") == {}
    assert "ECS_WARM_POOLS_CHECK" not in json.dumps(default)
    assert default["Outputs"]["IdleMinutes"]["Value"] == "off"


def test_prefetch_task_downloads_to_the_same_efs_cache_with_the_same_image_and_key(
    default: dict[str, Any],
) -> None:
    definitions = {
        c["Name"]: (c, td["Properties"])
        for td in resources(default, "AWS::ECS::TaskDefinition").values()
        for c in td["Properties"]["ContainerDefinitions"]
    }
    nim, nim_td = definitions["Nim"]
    prefetch, prefetch_td = definitions["Prefetch"]
    assert prefetch["Command"] == ["download-to-cache"]
    assert prefetch["Image"] == nim["Image"] and prefetch["User"] == nim["User"]
    assert prefetch["Environment"] == nim["Environment"]
    assert prefetch["Secrets"] == nim["Secrets"]
    assert prefetch["RepositoryCredentials"] == nim["RepositoryCredentials"]
    assert prefetch["MountPoints"] == nim["MountPoints"]
    assert prefetch_td["Volumes"] == nim_td["Volumes"]
    assert prefetch_td["NetworkMode"] == "awsvpc"
    assert [r for r in prefetch["ResourceRequirements"] if r["Type"] == "GPU"] == [
        r for r in nim["ResourceRequirements"] if r["Type"] == "GPU"
    ]
    outputs = default["Outputs"]
    assert "PrefetchTaskDefinitionArn" in outputs
    for key in ("ClusterName", "ServiceName", "TargetGroupArn", "AutoScalingGroupName", "TaskSubnets"):
        assert key in outputs


def test_pinned_profile_is_named_to_download_to_cache() -> None:
    assert prefetch_command(None) == ["download-to-cache"]
    assert prefetch_command("vllm-fp8-tp1") == ["download-to-cache", "--profile", "vllm-fp8-tp1"]


# ---------------------------------------------------------------------------- config


def test_idle_minutes_is_unset_by_default_and_parsed_from_strings() -> None:
    assert ReasonerConfig.read(Ctx()).idle_minutes is None
    assert ReasonerConfig.read(Ctx()).min_capacity == 1
    cfg = ReasonerConfig.read(Ctx(idleMinutes="20"))
    assert cfg.idle_minutes == 20 and cfg.min_capacity == 0
    assert ReasonerConfig.read(Ctx(idleMinutes="null")).idle_minutes is None


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        ({"idleMinutes": 9, "idleTimeoutSeconds": 60}, "idleMinutes must be >= 10"),
        ({"idleMinutes": 1441}, "idleMinutes must be <= 1440"),
        ({"idleMinutes": "soon"}, "idleMinutes must be a whole number"),
        ({"idleMinutes": 30, "minTasks": 2}, "minTasks=2 cannot apply"),
        ({"idleMinutes": 12}, "use idleMinutes >= 15 or lower idleTimeoutSeconds"),
    ],
)
def test_bad_idle_minutes_is_refused_with_one_line(ctx: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        ReasonerConfig.read(Ctx(ctx))
    assert "\n" not in str(err.value)


def test_short_idle_with_a_short_alb_timeout_is_allowed() -> None:
    assert ReasonerConfig.read(Ctx(idleMinutes=10, idleTimeoutSeconds=600)).idle_minutes == 10
