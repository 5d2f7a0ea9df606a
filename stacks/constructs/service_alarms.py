"""Alarms for a load-balanced ECS service on GPU hosts, delivered to an encrypted SNS topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# Minutes a condition must hold before an alarm fires.
NO_HEALTHY_TARGET_MINUTES = 5
TARGET_5XX_PERCENT = 5
TARGET_5XX_MINUTES = 5
# Errors the load balancer makes itself (502 crashed/unreachable NIM, 503 no target, 504 idle
# timeout) never reach the target metrics: alarm on their count.
ELB_5XX_PER_5_MINUTES = 10
# Tasks below desired this long: hosts cannot be launched (capacity, quota) or tasks keep dying.
TASKS_BELOW_DESIRED_MINUTES = 20


class ServiceAlarms(Construct):
    """No healthy targets, target and load-balancer 5xx, tasks below desired, stopped tasks, failed launches."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service: ecs.Ec2Service,
        cluster: ecs.Cluster,
        target_group: elbv2.ApplicationTargetGroup,
        load_balancer: elbv2.ApplicationLoadBalancer,
        auto_scaling_group: autoscaling.AutoScalingGroup,
        email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # A customer managed key: the AWS managed SNS key does not let CloudWatch or EventBridge
        # publish to an encrypted topic.
        self.key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="Reasoner alarm topic")
        for service_principal in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            self.key.grant(iam.ServicePrincipal(service_principal), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        action = cw_actions.SnsAction(self.topic)

        desired = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="DesiredTaskCount",
            dimensions_map={"ClusterName": cluster.cluster_name, "ServiceName": service.service_name},
            statistic="Maximum",
            period=Duration.minutes(1),
        )
        running = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={"ClusterName": cluster.cluster_name, "ServiceName": service.service_name},
            statistic="Minimum",
            period=Duration.minutes(1),
        )
        healthy = target_group.metrics.healthy_host_count(statistic="Minimum", period=Duration.minutes(1))

        # Gated on the desired count so a service scaled to zero (minTasks=0) is not "down".
        # Expect this alarm during a first start: weights download before the target is healthy.
        self.no_healthy_targets = cloudwatch.MathExpression(
            expression="IF(FILL(desired, 0) > 0 AND FILL(healthy, 0) < 1, 1, 0)",
            using_metrics={"desired": desired, "healthy": healthy},
            period=Duration.minutes(1),
            label="Service wants tasks but no target is healthy",
        ).create_alarm(
            self,
            "NoHealthyTargets",
            alarm_description="The reasoner endpoint has no healthy target: requests fail with 502/503.",
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=NO_HEALTHY_TARGET_MINUTES,
            # No data at all means neither metric reports: the service or load balancer is gone.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

        errors = target_group.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", period=Duration.minutes(1)
        )
        requests = target_group.metrics.request_count(statistic="Sum", period=Duration.minutes(1))
        self.target_5xx = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
            using_metrics={"errors": errors, "requests": requests},
            period=Duration.minutes(1),
            label="Target 5xx %",
        ).create_alarm(
            self,
            "Target5xxRate",
            alarm_description=f"More than {TARGET_5XX_PERCENT}% of requests fail inside the NIM (5xx).",
            threshold=TARGET_5XX_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=TARGET_5XX_MINUTES,
            # No traffic is not an error.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        self.load_balancer_5xx = load_balancer.metrics.http_code_elb(
            elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", period=Duration.minutes(5)
        ).create_alarm(
            self,
            "LoadBalancer5xx",
            alarm_description=(
                f"The load balancer itself answered 5xx more than {ELB_5XX_PER_5_MINUTES} times in 5 minutes: "
                "502 (NIM crashed or unreachable), 503 (no registered target) or 504 (idle timeout)."
            ),
            threshold=ELB_5XX_PER_5_MINUTES,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        self.tasks_below_desired = cloudwatch.MathExpression(
            expression="FILL(desired, 0) - FILL(running, 0)",
            using_metrics={"desired": desired, "running": running},
            period=Duration.minutes(1),
            label="Tasks missing",
        ).create_alarm(
            self,
            "TasksBelowDesired",
            alarm_description=(
                "Fewer NIM tasks run than wanted: GPU hosts cannot start (capacity or vCPU quota) "
                "or tasks keep stopping."
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=TASKS_BELOW_DESIRED_MINUTES,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (
            self.no_healthy_targets,
            self.target_5xx,
            self.load_balancer_5xx,
            self.tasks_below_desired,
        ):
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

        # A task that exits non-zero or never starts, with ECS's own reason.
        self.task_stopped = events.Rule(
            self,
            "TaskStopped",
            description="NIM task stopped with a non-zero exit code or failed to start",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [cluster.cluster_arn],
                    "group": [f"service:{service.service_name}"],
                    "lastStatus": ["STOPPED"],
                    "$or": [
                        {"containers": {"exitCode": [{"anything-but": 0}]}},
                        {"stopCode": ["TaskFailedToStart"]},
                    ],
                },
            ),
        )
        self.task_stopped.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    f"Cosmos 3 reasoner task {events.EventField.from_path('$.detail.taskArn')} stopped: "
                    f"{events.EventField.from_path('$.detail.stoppedReason')}"
                ),
            )
        )
        # Launch failures say why no GPU host came (InsufficientInstanceCapacity, vCPU limit).
        self.launch_failed = events.Rule(
            self,
            "HostLaunchFailed",
            description="A GPU host could not be launched",
            event_pattern=events.EventPattern(
                source=["aws.autoscaling"],
                detail_type=["EC2 Instance Launch Unsuccessful"],
                detail={"AutoScalingGroupName": [auto_scaling_group.auto_scaling_group_name]},
            ),
        )
        self.launch_failed.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    "Cosmos 3 reasoner: GPU host launch failed: "
                    f"{events.EventField.from_path('$.detail.StatusMessage')}"
                ),
            )
        )
