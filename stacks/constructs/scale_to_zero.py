"""Scale an ALB-fronted ECS service to zero when idle, wake it on the next request, keep a warm host.

How the pieces fit (phases and published figures in docs/deploy-reasoner.md, "Scale to zero"):

- **Sleep.** An alarm on the load balancer's activity (requests routed to the target group plus
  the 503s it answers itself) below 1 for `idle_minutes` consecutive minutes sets the service to
  0 tasks (step scaling, ExactCapacity 0). ECS managed scaling then removes the GPU host.
- **Wake.** With no registered target the ALB answers 503 itself and counts it in
  `HTTPCode_ELB_503_Count` (RequestCount only counts requests that reached a target). An alarm on
  "a 503 while no target is healthy" sets the service to 1 task (ExactCapacity 1). It alarms on
  1 of 3 minutes, so it stays in ALARM (and keeps invoking the policy each minute, as CloudWatch
  does for scaling actions) for 3 minutes after a single request.
- **Warm host.** An EC2 Auto Scaling warm pool keeps one *stopped* GPU instance whose root
  volume already holds the NIM image (pulled once, before it is stopped); a wake starts it
  instead of booting and pulling a new one. ECS supports warm pools when the agent runs with
  `ECS_WARM_POOLS_CHECK=true`, but not `ReuseOnScaleIn`
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html).
  Auto Scaling stops a warm-pool instance as soon as it has launched, without waiting for user
  data (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html),
  so a launch lifecycle hook holds it until the pull is done; the same hook pauses the instance
  again when it leaves the pool, and a per-boot script completes it at once then.
"""

from __future__ import annotations

import shlex

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import acknowledge

# Minutes of "a 503 while no target is healthy" the wake alarm looks back over (1 is enough).
WAKE_LOOKBACK_MINUTES = 3
# A wake or sleep takes minutes to show in the metrics; do not act twice on the same signal.
SCALING_COOLDOWN = Duration.minutes(1)
WARM_POOL_HOOK_NAME = "cosmos-prepare-host"
# Long enough to pull a multi-GB NIM image through one NAT gateway; the default result CONTINUE
# lets a host whose script failed proceed anyway (ECS pulls the image itself then).
WARM_POOL_HOOK_TIMEOUT = Duration.minutes(30)
# cloud-init runs scripts in this folder on every boot; user data runs on the first boot only.
PER_BOOT_SCRIPT = "/var/lib/cloud/scripts/per-boot/cosmos-warm-pool.sh"


def activity_metric(
    load_balancer: elbv2.ApplicationLoadBalancer, target_group: elbv2.ApplicationTargetGroup
) -> cloudwatch.MathExpression:
    """Requests per minute that reached the target group, plus the 503s the ALB answered itself.

    ALB metrics are published only while requests flow: a minute without any has no datapoint,
    which FILL turns into 0 when the other metric has one, and the alarm treats as breaching when
    neither has.
    """
    one_minute = Duration.minutes(1)
    return cloudwatch.MathExpression(
        expression="FILL(requests, 0) + FILL(rejected, 0)",
        using_metrics={
            "requests": target_group.metrics.request_count(statistic="Sum", period=one_minute),
            "rejected": load_balancer.metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_503_COUNT, statistic="Sum", period=one_minute
            ),
        },
        period=one_minute,
        label="Requests reaching the endpoint",
    )


def wake_metric(
    load_balancer: elbv2.ApplicationLoadBalancer, target_group: elbv2.ApplicationTargetGroup
) -> cloudwatch.MathExpression:
    """1 in a minute when the ALB answered 503 itself and the target group had no healthy target.

    Gating on the healthy count keeps a stray 503 from "waking" (ExactCapacity 1) a service that
    runs several tasks.
    """
    one_minute = Duration.minutes(1)
    return cloudwatch.MathExpression(
        expression="IF(FILL(rejected, 0) >= 1 AND FILL(healthy, 0) < 1, 1, 0)",
        using_metrics={
            "rejected": load_balancer.metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_503_COUNT, statistic="Sum", period=one_minute
            ),
            "healthy": target_group.metrics.healthy_host_count(statistic="Maximum", period=one_minute),
        },
        period=one_minute,
        label="Requests while asleep",
    )


class ScaleToZero(Construct):
    """Sleep after `idle_minutes` without requests, wake on the next one, from a warm stopped host."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        scaling: ecs.ScalableTaskCount,
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        auto_scaling_group: autoscaling.AutoScalingGroup,
        launch_template: ec2.LaunchTemplate,
        instance_role: iam.IRole,
        image: str,
        registry_secret: secretsmanager.ISecret,
        idle_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        target = scaling.node.find_child("Target")
        assert isinstance(target, appscaling.ScalableTarget)

        self.sleep_action = appscaling.StepScalingAction(
            self,
            "Sleep",
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            cooldown=SCALING_COOLDOWN,
        )
        # The alarm fires below its threshold: the metric minus the threshold is negative.
        self.sleep_action.add_adjustment(adjustment=0, upper_bound=0)
        self.idle_alarm = activity_metric(load_balancer, target_group).create_alarm(
            self,
            "IdleAlarm",
            alarm_description=(
                f"No request reached the reasoner for {idle_minutes} minutes: scale the service to 0 "
                "tasks (the GPU host follows)."
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=idle_minutes,
            datapoints_to_alarm=idle_minutes,
            # No datapoint at all means no request at all.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.idle_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(self.sleep_action))

        self.wake_action = appscaling.StepScalingAction(
            self,
            "Wake",
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            cooldown=SCALING_COOLDOWN,
        )
        self.wake_action.add_adjustment(adjustment=1, lower_bound=0)
        self.wake_alarm = wake_metric(load_balancer, target_group).create_alarm(
            self,
            "WakeAlarm",
            alarm_description=(
                "A request arrived while the reasoner had no healthy task (the ALB answered 503): "
                "scale the service to 1 task."
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=WAKE_LOOKBACK_MINUTES,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.wake_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(self.wake_action))

        self._warm_pool(auto_scaling_group, launch_template, instance_role, image, registry_secret)

    def _warm_pool(
        self,
        group: autoscaling.AutoScalingGroup,
        launch_template: ec2.LaunchTemplate,
        role: iam.IRole,
        image: str,
        registry_secret: secretsmanager.ISecret,
    ) -> None:
        # One stopped host at most: while a task runs its host is the prepared one, and a scale-out
        # beyond it launches cold. ReuseOnScaleIn is not supported with ECS (see module docstring).
        self.warm_pool = group.add_warm_pool(
            max_group_prepared_capacity=1, min_size=0, pool_state=autoscaling.PoolState.STOPPED
        )
        self.lifecycle_hook = group.add_lifecycle_hook(
            "PrepareHost",
            lifecycle_hook_name=WARM_POOL_HOOK_NAME,
            lifecycle_transition=autoscaling.LifecycleTransition.INSTANCE_LAUNCHING,
            heartbeat_timeout=WARM_POOL_HOOK_TIMEOUT,
            default_result=autoscaling.DefaultResult.CONTINUE,
        )
        user_data = launch_template.user_data
        assert user_data is not None
        user_data.add_commands(
            # The agent stays out of the cluster while the instance sits in the warm pool.
            "echo ECS_WARM_POOLS_CHECK=true >> /etc/ecs/ecs.config",
            f"mkdir -p {PER_BOOT_SCRIPT.rsplit('/', 1)[0]}",
            f"cat > {PER_BOOT_SCRIPT} <<'COSMOS_EOF'",
            *prepare_host_script(image, registry_secret.secret_arn).splitlines(),
            "COSMOS_EOF",
            f"chmod 0700 {PER_BOOT_SCRIPT}",
            # cloud-init ran the per-boot scripts before this user data wrote it: run it now too.
            PER_BOOT_SCRIPT,
        )
        registry_secret.grant_read(role)
        # A separate policy: the group's ARN in the instance role's own default policy would make
        # the group depend on the role's policy and the policy on the group.
        policy = iam.Policy(
            self,
            "CompleteLifecycleAction",
            statements=[
                iam.PolicyStatement(
                    actions=["autoscaling:CompleteLifecycleAction"], resources=[group.auto_scaling_group_arn]
                ),
                iam.PolicyStatement(actions=["autoscaling:DescribeAutoScalingInstances"], resources=["*"]),
            ],
        )
        policy.attach_to_role(role)
        # An Auto Scaling group's ARN holds a generated id: cdk-nag reads its "*" as a wildcard.
        stack = Stack.of(self)
        group_id = stack.resolve(stack.get_logical_id(group.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:"
            f"autoScalingGroup:*:autoScalingGroupName/<{group_id}>]",
            "The '*' is the generated id inside the Auto Scaling group's ARN; the statement names this "
            "one group, so a host can only complete its own group's lifecycle actions.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "autoscaling:DescribeAutoScalingInstances has no resource-level permissions; the host uses it "
            "to find its own group name (user data cannot name the group that launches it).",
        )


def prepare_host_script(image: str, registry_secret_arn: str) -> str:
    """Bash run at every boot of a GPU host: pull the NIM image into a warm-pool host, then let it go on.

    Entering the warm pool (target state Warmed:Stopped): log in to nvcr.io with the NGC key, pull
    `image`, log out. Either way: complete the launch lifecycle action so Auto Scaling stops the
    host (warm pool) or puts it in service (wake, or a host launched directly into the group).
    The ECS agent (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached) then starts the task from the cached image.
    """
    return f"""#!/bin/bash
# Written by ReasonerStack (stacks/constructs/scale_to_zero.py). Runs at every boot.
set -u
IMAGE={shlex.quote(image)}
SECRET={registry_secret_arn}
HOOK={WARM_POOL_HOOK_NAME}
TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 3600')
md() {{ curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }}
INSTANCE=$(md instance-id)
REGION=$(md placement/region)
STATE=""
for _ in $(seq 1 60); do
  STATE=$(md autoscaling/target-lifecycle-state) && [ -n "$STATE" ] && break
  sleep 5
done
command -v aws >/dev/null || dnf install -y -q awscli-2
if [ "$STATE" = "Warmed:Stopped" ]; then
  # User data can run before Docker is up.
  systemctl start docker
  KEY=$(aws secretsmanager get-secret-value --region "$REGION" --secret-id "$SECRET" \\
    --query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
  printf '%s' "$KEY" | docker login nvcr.io --username '$oauthtoken' --password-stdin \\
    && docker pull "$IMAGE"
  docker logout nvcr.io
  unset KEY
fi
GROUP=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$INSTANCE" \\
  --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text)
aws autoscaling complete-lifecycle-action --region "$REGION" --auto-scaling-group-name "$GROUP" \\
  --lifecycle-hook-name "$HOOK" --instance-id "$INSTANCE" --lifecycle-action-result CONTINUE || true
"""
