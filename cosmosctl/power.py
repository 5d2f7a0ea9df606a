"""`cosmosctl endpoint up|down|status|prefetch`: wake the reasoner, put it to sleep, see its state, fill its cache.

Everything is found from the ReasonerStack outputs (ClusterName, ServiceName, TargetGroupArn,
AutoScalingGroupName, ...). `up` sets the service to one task and follows the phases of a cold
start (service, GPU host, task, load balancer target) until the endpoint answers; while it waits it
sends a request through the load balancer every minute, which is what keeps a scale-to-zero
endpoint (idleMinutes) from falling asleep again and what wakes it if the request alarm fires first.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.table import Table

from cosmosctl import idle_cost
from cosmosctl.aws import (
    REASONER_STACK,
    aws_errors,
    describe_service,
    require_output,
    session,
    stack_outputs,
)
from cosmosctl.client import normalize_base_url
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.endpoint import app as endpoint_app
from cosmosctl.endpoint import resolve_endpoint
from cosmosctl.errors import CosmosError

POLL_S = 10.0
POKE_EVERY_S = 60.0
DEFAULT_UP_TIMEOUT_MIN = 45.0
DEFAULT_ROOT_VOLUME_GIB = 200  # cdk.json rootVolumeGiB

StackOpt = Annotated[str, typer.Option("--stack", help="CloudFormation stack of the reasoner.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region of the stack.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@dataclass(frozen=True)
class Deployment:
    """Where the reasoner's service, hosts and prefetch task are, from the stack outputs."""

    stack: str
    cluster: str
    service: str
    target_group_arn: str
    auto_scaling_group: str
    capacity_provider: str
    subnets: list[str]
    security_group: str
    prefetch_task_definition: str
    instance_type: str
    idle_minutes: int | None
    log_group: str | None = None

    @classmethod
    def from_outputs(cls, outputs: dict[str, str], stack: str) -> Deployment:
        def need(key: str) -> str:
            return require_output(outputs, key, stack)

        idle = outputs.get("IdleMinutes", "off")
        return cls(
            stack=stack,
            cluster=need("ClusterName"),
            service=need("ServiceName"),
            target_group_arn=need("TargetGroupArn"),
            auto_scaling_group=need("AutoScalingGroupName"),
            capacity_provider=need("CapacityProviderName"),
            subnets=[s for s in need("TaskSubnets").split(",") if s],
            security_group=need("TaskSecurityGroupId"),
            prefetch_task_definition=need("PrefetchTaskDefinitionArn"),
            instance_type=outputs.get("InstanceType", "g6e.xlarge"),
            idle_minutes=None if idle in ("", "off") else int(idle),
            log_group=outputs.get("LogGroupName"),
        )


@dataclass
class Clients:
    ecs: Any
    autoscaling: Any
    elbv2: Any
    appautoscaling: Any


def make_clients(sess: Any) -> Clients:
    """boto3 clients for the calls below (tests replace this with stubbed clients)."""
    return Clients(
        ecs=sess.client("ecs"),
        autoscaling=sess.client("autoscaling"),
        elbv2=sess.client("elbv2"),
        appautoscaling=sess.client("application-autoscaling"),
    )


def connect(stack: str, region: str | None) -> tuple[Deployment, Clients]:
    sess = session(region)
    deployment = Deployment.from_outputs(stack_outputs(stack, region, sess=sess), stack)
    return deployment, make_clients(sess)


# ---------------------------------------------------------------------------- state


@dataclass
class Snapshot:
    """The endpoint's state at one moment, from ECS, Auto Scaling and the target group."""

    desired: int
    running: int
    pending: int
    task_states: list[str] = field(default_factory=list)
    host_states: list[str] = field(default_factory=list)
    warm_states: list[str] = field(default_factory=list)
    target_states: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> int:
        return self.target_states.count("healthy")

    @property
    def running_hosts(self) -> int:
        """Hosts billed as running: in the group, or in the warm pool but not yet stopped (pulling)."""
        in_group = sum(1 for s in self.host_states if s.startswith(("InService", "Pending", "Terminating")))
        return in_group + sum(1 for s in self.warm_states if "Stopped" not in s and s != "Warmed:Terminated")

    @property
    def stopped_hosts(self) -> int:
        return sum(1 for s in self.warm_states if "Stopped" in s)

    @property
    def state(self) -> str:
        if self.healthy:
            return "ready"
        if self.desired > 0:
            return "waking"
        if self.running or self.pending:
            return "falling asleep"
        return "asleep"


def snapshot(c: Clients, d: Deployment) -> Snapshot:
    svc = describe_service(c.ecs, d.cluster, d.service)
    snap = Snapshot(
        desired=svc.get("desiredCount", 0),
        running=svc.get("runningCount", 0),
        pending=svc.get("pendingCount", 0),
        events=[e.get("message", "") for e in svc.get("events", [])[:3]],
    )
    with aws_errors("list the NIM tasks"):
        arns = c.ecs.list_tasks(cluster=d.cluster, serviceName=d.service)["taskArns"]
        if arns:
            tasks = c.ecs.describe_tasks(cluster=d.cluster, tasks=arns)["tasks"]
            snap.task_states = [t.get("lastStatus", "?") for t in tasks]
    with aws_errors(f"describe the Auto Scaling group {d.auto_scaling_group}"):
        groups = c.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[d.auto_scaling_group])[
            "AutoScalingGroups"
        ]
        snap.host_states = [i["LifecycleState"] for g in groups for i in g.get("Instances", [])]
        if d.idle_minutes is not None:
            warm = c.autoscaling.describe_warm_pool(AutoScalingGroupName=d.auto_scaling_group)
            snap.warm_states = [i["LifecycleState"] for i in warm.get("Instances", [])]
    with aws_errors("read the target health"):
        health = c.elbv2.describe_target_health(TargetGroupArn=d.target_group_arn)
        snap.target_states = [t["TargetHealth"]["State"] for t in health.get("TargetHealthDescriptions", [])]
    return snap


def phases(s: Snapshot) -> list[tuple[str, bool, str]]:
    """The steps of a wake, each (name, done, detail), in the order they happen."""
    hosts = Counter(s.host_states)
    tasks = Counter(s.task_states)
    targets = Counter(s.target_states)

    def show(counter: Counter[str]) -> str:
        return ", ".join(f"{n} {state}" for state, n in sorted(counter.items())) or "none"

    return [
        (
            "service wants a task",
            s.desired > 0,
            f"desired {s.desired}, running {s.running}, pending {s.pending}",
        ),
        (
            "GPU host in service",
            hosts.get("InService", 0) > 0,
            show(hosts) + (f"; warm pool: {show(Counter(s.warm_states))}" if s.warm_states else ""),
        ),
        ("NIM task running", tasks.get("RUNNING", 0) > 0, show(tasks)),
        ("load balancer target healthy", s.healthy > 0, show(targets)),
    ]


def phase_table(s: Snapshot, elapsed_s: float | None = None) -> Table:
    title = f"Reasoner endpoint: {s.state}" + (
        f" ({elapsed_s / 60:.1f} min)" if elapsed_s is not None else ""
    )
    table = Table(title=title, show_header=False)
    table.add_column("")
    table.add_column("phase")
    table.add_column("now")
    for name, done, detail in phases(s):
        table.add_row("[green]done[/]" if done else "[yellow]...[/]", name, detail)
    return table


def state_cost(d: Deployment, s: Snapshot) -> float:
    return idle_cost.state_monthly_usd(
        d.instance_type, s.running_hosts, s.stopped_hosts, DEFAULT_ROOT_VOLUME_GIB
    )


# ---------------------------------------------------------------------------- commands


def poke(url: str, key: str) -> int | None:
    """GET /v1/models through the load balancer: a request the wake and idle alarms count."""
    request = urllib.request.Request(
        normalize_base_url(url) + "/models", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until_ready(
    c: Clients,
    d: Deployment,
    *,
    timeout_s: float,
    poke_endpoint: Callable[[], int | None] | None,
    sleep: Callable[[float], None] = time.sleep,
    show: bool = True,
) -> Snapshot:
    """Poll until a target is healthy, showing the phases; poke the endpoint every minute."""
    started = time.monotonic()
    last_poke = -POKE_EVERY_S
    last_shown: list[tuple[str, bool, str]] = []
    while True:
        elapsed = time.monotonic() - started
        if poke_endpoint is not None and elapsed - last_poke >= POKE_EVERY_S:
            poke_endpoint()
            last_poke = elapsed
        snap = snapshot(c, d)
        now = phases(snap)
        if show and now != last_shown:
            err.print(phase_table(snap, elapsed))
            last_shown = now
        if snap.state == "ready":
            return snap
        if elapsed >= timeout_s:
            raise CosmosError(
                f"The endpoint was not ready after {timeout_s / 60:.0f} minutes (state: {snap.state}).",
                "See the service events (aws ecs describe-services) and the NIM logs "
                f"({d.log_group or 'the stack output LogGroupName'}); first starts download weights: "
                "run `cosmosctl endpoint prefetch` once.",
            )
        sleep(POLL_S)


def _poker(stack: str, region: str | None) -> Callable[[], int | None] | None:
    try:
        url, key = resolve_endpoint(None, None, stack, region)
    except CosmosError as exc:
        err.print(f"[yellow]Not sending keep-awake requests:[/] {exc.message}")
        return None
    return lambda: poke(url, key)


def up_command(
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the endpoint answers.")] = True,
    timeout_min: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Minutes to wait for the endpoint.")
    ] = DEFAULT_UP_TIMEOUT_MIN,
) -> None:
    """Wake the endpoint (one NIM task) and follow the phases until it answers."""
    _up(stack=stack, region=region, wait=wait, timeout_s=timeout_min * 60)


@handle_errors
def _up(*, stack: str, region: str | None, wait: bool, timeout_s: float) -> None:
    d, c = connect(stack, region)
    snap = snapshot(c, d)
    if snap.desired == 0:
        with aws_errors(f"scale the ECS service {d.service} to 1 task"):
            c.ecs.update_service(cluster=d.cluster, service=d.service, desiredCount=1)
        err.print(f"Waking {d.service}: 1 task wanted.")
    if not wait:
        out.print(f"Waking; follow it with: cosmosctl endpoint status --stack {stack}")
        return
    wait_until_ready(c, d, timeout_s=timeout_s, poke_endpoint=_poker(stack, region))
    out.print('[bold green]Ready.[/] Ask it: cosmosctl ask "What is in this image?" --image photo.jpg')


def down_command(stack: StackOpt = REASONER_STACK, region: RegionOpt = None) -> None:
    """Scale the endpoint to zero tasks now (its GPU host stops within ~15 minutes)."""
    _down(stack=stack, region=region)


@handle_errors
def _down(*, stack: str, region: str | None) -> None:
    d, c = connect(stack, region)
    resource = f"service/{d.cluster}/{d.service}"
    with aws_errors("read the service's scaling bounds"):
        targets = c.appautoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource], ScalableDimension="ecs:service:DesiredCount"
        )["ScalableTargets"]
    if targets and targets[0]["MinCapacity"] > 0:
        # An always-on endpoint (no idleMinutes): lower the floor too, or Auto Scaling restores it.
        with aws_errors("lower the service's scaling floor to 0"):
            c.appautoscaling.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=resource,
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=0,
            )
        err.print(
            "[yellow]This endpoint is always-on (no idleMinutes):[/] its scaling floor is now 0 until the next "
            "`cdk deploy` restores minTasks; `cosmosctl endpoint up` wakes it."
        )
    with aws_errors(f"scale the ECS service {d.service} to 0 tasks"):
        c.ecs.update_service(cluster=d.cluster, service=d.service, desiredCount=0)
    out.print(
        "Asleep: 0 tasks wanted. The GPU host stops about 15 minutes after the task "
        "(ECS managed scaling); the next request"
        + (" wakes it." if d.idle_minutes is not None else " gets a 503 until `cosmosctl endpoint up`.")
    )


def status_command(
    stack: StackOpt = REASONER_STACK, region: RegionOpt = None, as_json: JsonOpt = False
) -> None:
    """Say whether the endpoint is asleep, waking or ready, and what its current state costs a month."""
    _status(stack=stack, region=region, as_json=as_json)


@handle_errors
def _status(*, stack: str, region: str | None, as_json: bool) -> None:
    d, c = connect(stack, region)
    snap = snapshot(c, d)
    monthly = state_cost(d, snap)
    if as_json:
        print_json(
            {
                "state": snap.state,
                "desired_tasks": snap.desired,
                "running_tasks": snap.running,
                "hosts": snap.host_states,
                "warm_pool": snap.warm_states,
                "targets": snap.target_states,
                "idle_minutes": d.idle_minutes,
                "instance_type": d.instance_type,
                "monthly_usd_in_this_state": round(monthly, 2),
            }
        )
        return
    out.print(phase_table(snap))
    mode = (
        f"sleeps after {d.idle_minutes} idle minutes, wakes on a request"
        if d.idle_minutes is not None
        else "always-on (idleMinutes not set)"
    )
    out.print(f"[bold]Mode[/]     {mode}")
    out.print(
        f"[bold]Cost[/]     ${monthly:,.2f}/month if it stays {snap.state} "
        f"({snap.running_hosts} running {d.instance_type}, {snap.stopped_hosts} stopped warm-pool host; "
        "GPU side only, catalog prices; fixed stack costs: cosmosctl cost)"
    )
    for event in snap.events[:1]:
        out.print(f"[bold]Latest[/]   {event}", markup=True)


def prefetch_command(
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the download ends.")] = True,
    timeout_min: Annotated[float, typer.Option("--timeout", min=1.0, help="Minutes to wait.")] = 120.0,
) -> None:
    """Download the model into the EFS cache now (a one-off NIM download-to-cache task on a GPU host)."""
    _prefetch(stack=stack, region=region, wait=wait, timeout_s=timeout_min * 60)


@handle_errors
def _prefetch(
    *,
    stack: str,
    region: str | None,
    wait: bool,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    d, c = connect(stack, region)
    with aws_errors("start the prefetch task"):
        response = c.ecs.run_task(
            cluster=d.cluster,
            taskDefinition=d.prefetch_task_definition,
            count=1,
            capacityProviderStrategy=[{"capacityProvider": d.capacity_provider, "weight": 1}],
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": d.subnets,
                    "securityGroups": [d.security_group],
                    "assignPublicIp": "DISABLED",
                }
            },
            startedBy="cosmosctl-prefetch",
        )
    if response.get("failures"):
        reasons = "; ".join(f.get("reason", "?") for f in response["failures"])
        raise CosmosError(f"ECS could not start the prefetch task: {reasons}.")
    task_arn = response["tasks"][0]["taskArn"]
    err.print(f"Prefetch task started: {task_arn.rsplit('/', 1)[-1]} (a GPU host starts if none is free).")
    if not wait:
        return
    started = time.monotonic()
    last = ""
    while True:
        with aws_errors("follow the prefetch task"):
            task = c.ecs.describe_tasks(cluster=d.cluster, tasks=[task_arn])["tasks"][0]
        status = task.get("lastStatus", "?")
        if status != last:
            err.print(f"  {time.monotonic() - started:6.0f} s  {status}")
            last = status
        if status == "STOPPED":
            break
        if time.monotonic() - started > timeout_s:
            raise CosmosError(
                f"The prefetch task still runs after {timeout_s / 60:.0f} minutes.",
                "It keeps running; check it with aws ecs describe-tasks, or raise --timeout.",
            )
        sleep(POLL_S)
    codes = [ct.get("exitCode") for ct in task.get("containers", [])]
    if codes != [0]:
        raise CosmosError(
            f"The prefetch task stopped without success (exit {codes}, {task.get('stoppedReason', 'no reason')}).",
            f"Read its log stream prefetch/... in {d.log_group or 'the LogGroupName output'}.",
        )
    out.print(
        "[bold green]The model is in the EFS cache:[/] the next start and every wake read it from there."
    )


# ---------------------------------------------------------------------------- the `endpoint` group


# `cosmosctl endpoint` (cosmosctl/endpoint.py) prints the URL and key and holds `keys`; the
# power commands join the same group.
endpoint_app.command("up")(up_command)
endpoint_app.command("down")(down_command)
endpoint_app.command("status")(status_command)
endpoint_app.command("prefetch")(prefetch_command)
