"""`cosmosctl endpoint keys`: the reasoner's named API keys (list, add, revoke, rotate) and their rollout.

The keys live in one Secrets Manager secret, a JSON object ``{"<name>": "<value>", ...}`` (stack output
``ApiKeySecretArn``). The ECS task's nginx proxy receives it through ECS ``secrets``, which ECS reads
only when a task starts: a change takes effect once a new deployment has replaced every running task
(``update-service --force-new-deployment``; the service starts new tasks before it stops old ones, so
nothing is down). Until then old tasks keep the old set, so a new key is not "live" and a revoked one
still works: the commands say so and wait for the rollout.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from cosmosctl.aws import (
    REASONER_STACK,
    aws_errors,
    describe_service,
    require_output,
    session,
    stack_outputs,
)
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.errors import CosmosError

DEFAULT_KEY = "default"
PREVIOUS_SUFFIX = ".previous"
# The proxy's start script accepts exactly these (stacks/proxy/start.sh); anything else stops it.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
# 48 random bytes -> 64 URL-safe characters (letters, digits, '-', '_').
KEY_BYTES = 48
POLL_SECONDS = 15.0
WAIT_MINUTES = 60
# What a rollout takes on GPU hosts, for the estimate printed before waiting: a new task needs a
# GPU host (the stack keeps room for one more; booting one takes minutes), an image pull and the
# model load from the EFS cache before the target group calls it healthy.
TYPICAL_START = "10-30 min"

StackOpt = Annotated[str, typer.Option(help="CloudFormation stack of the reasoner.")]
RegionOpt = Annotated[str | None, typer.Option(help="AWS region of the stack (default: your profile's).")]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until every running task has the new keys.")
]

app = typer.Typer(
    help="Named API keys of the reasoner endpoint: list, add, revoke, rotate.",
    no_args_is_help=True,
)


# ------------------------------------------------------------------------------------ the secret


def parse_keys(text: str) -> dict[str, str]:
    """The ``{"<name>": "<value>"}`` object stored in the secret, checked as the proxy checks it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CosmosError(
            "The API key secret is not a JSON object of named keys.",
            'It must look like {"default": "<value>"}; redeploy ReasonerStack from this version to recreate it.',
        )
    bad = [
        name for name, value in data.items() if not NAME_PATTERN.match(name) or not VALUE_PATTERN.match(value)
    ]
    if bad:
        raise CosmosError(
            f"The API key secret has entries the proxy would refuse: {', '.join(bad)}.",
            "Names: letters, digits, '.', '_', '-' (up to 64); values: 16-256 letters, digits, '_' or '-'.",
        )
    return dict(data)


def default_key(text: str) -> str:
    """The key `cosmosctl endpoint --env` hands out: the one named "default", else the first."""
    keys = parse_keys(text)
    if not keys:
        raise CosmosError(
            "The API key secret holds no key.", "Add one with `cosmosctl endpoint keys add <name>`."
        )
    return keys.get(DEFAULT_KEY) or next(iter(keys.values()))


def new_key_value() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise CosmosError(
            f"Invalid key name {name!r}.",
            "Use letters, digits, '.', '_' or '-' (up to 64), starting with a letter or digit.",
        )
    return name


@dataclass
class KeyStore:
    """The secret, read and written with optimistic concurrency (no lost update between two admins)."""

    client: Any
    arn: str
    version: str | None = None

    def load(self) -> dict[str, str]:
        with aws_errors("read the API keys from Secrets Manager"):
            response = self.client.get_secret_value(SecretId=self.arn)
        self.version = response.get("VersionId")
        return parse_keys(response.get("SecretString") or "")

    def save(self, keys: dict[str, str]) -> None:
        with aws_errors("check the API keys' current version"):
            current = self.client.describe_secret(SecretId=self.arn)
        stages = current.get("VersionIdsToStages", {})
        current_version = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
        if self.version is not None and current_version not in (None, self.version):
            raise CosmosError(
                "Someone else changed the API keys since this command read them.", "Run the command again."
            )
        with aws_errors("write the API keys to Secrets Manager"):
            self.client.put_secret_value(SecretId=self.arn, SecretString=json.dumps(keys))

    def last_changed(self) -> datetime | None:
        with aws_errors("describe the API key secret"):
            changed = self.client.describe_secret(SecretId=self.arn).get("LastChangedDate")
        return changed if isinstance(changed, datetime) else None


# ------------------------------------------------------------------------------------ the rollout


@dataclass
class Service:
    """The reasoner's ECS service, rolled to make tasks read the secret again."""

    client: Any
    cluster: str
    name: str

    def describe(self) -> dict[str, Any]:
        return describe_service(self.client, self.cluster, self.name)

    def force_new_deployment(self) -> str:
        """Start a rolling deployment of the same task definition; its id."""
        with aws_errors(f"start a new deployment of ECS service {self.name}"):
            service = self.client.update_service(
                cluster=self.cluster, service=self.name, forceNewDeployment=True
            )["service"]
        primary = next(d for d in service["deployments"] if d.get("status") == "PRIMARY")
        return str(primary["id"])

    def wait(
        self,
        deployment_id: str,
        *,
        on_update: Callable[[str], None],
        poll_seconds: float | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Until `deployment_id` is the only deployment left and ECS calls it COMPLETED."""
        poll = POLL_SECONDS if poll_seconds is None else poll_seconds
        deadline = time.monotonic() + (WAIT_MINUTES * 60 if timeout_seconds is None else timeout_seconds)
        while True:
            service = self.describe()
            deployments = service.get("deployments", [])
            ours = next((d for d in deployments if d.get("id") == deployment_id), None)
            if ours is None:
                raise CosmosError(
                    "A newer deployment replaced this one before it finished.",
                    "Its tasks read the keys too; check with `cosmosctl endpoint keys list`.",
                )
            state = ours.get("rolloutState", "IN_PROGRESS")
            if state == "FAILED":
                raise CosmosError(
                    f"The deployment failed: {ours.get('rolloutStateReason', 'no reason given')}.",
                    "ECS rolls back to the old tasks, which keep the old keys. Look at the service's "
                    "events and the LogGroupName logs (the proxy logs 'key-proxy: ...' at start).",
                )
            old = sum(d.get("runningCount", 0) for d in deployments if d.get("id") != deployment_id)
            if state == "COMPLETED" and old == 0 and len(deployments) == 1:
                return
            on_update(
                f"new tasks {ours.get('runningCount', 0)}/{ours.get('desiredCount', 0)} running, "
                f"{old} old task(s) still serving (draining)"
            )
            if time.monotonic() > deadline:
                raise CosmosError(
                    "The rollout is still running.",
                    "It goes on without this command; check with `cosmosctl endpoint keys list`.",
                )
            time.sleep(poll)


def deregistration_delay(session_: Any, service: dict[str, Any]) -> int | None:
    """The target group's deregistration delay: how long an old task may keep serving while it drains."""
    groups = [lb.get("targetGroupArn") for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    if not groups:
        return None
    try:
        attributes = session_.client("elbv2").describe_target_group_attributes(TargetGroupArn=groups[0])
    except Exception:  # only an estimate: never fail the command over it
        return None
    for attribute in attributes.get("Attributes", []):
        if attribute.get("Key") == "deregistration_delay.timeout_seconds":
            return int(attribute["Value"])
    return None


# ------------------------------------------------------------------------------------ wiring


@dataclass
class Context:
    store: KeyStore
    service: Service
    session: Any


def ecs_client(session_: Any) -> Any:
    """The ECS client (a seam for tests)."""
    return session_.client("ecs")


def _context(stack: str, region: str | None) -> Context:
    sess = session(region)
    outputs = stack_outputs(stack, region, sess=sess)
    arn = require_output(outputs, "ApiKeySecretArn", stack)
    cluster = require_output(outputs, "ClusterName", stack)
    service = require_output(outputs, "ServiceName", stack)
    return Context(
        KeyStore(sess.client("secretsmanager"), arn), Service(ecs_client(sess), cluster, service), sess
    )


def _rollout(ctx: Context, *, wait: bool, what: str) -> bool:
    """Roll the service so every task reads the keys again; True once all tasks have them."""
    service = ctx.service.describe()
    desired = int(service.get("desiredCount", 0))
    deployment = ctx.service.force_new_deployment()
    # Progress and outcome go to stderr: stdout carries only results (a new key's value, --json).
    if desired == 0:
        err.print(f"No task is running (scaled to zero): {what} when the next task starts.")
        return True
    delay = deregistration_delay(ctx.session, service)
    drain = f"up to {delay} s" if delay is not None else "up to the target group's deregistration delay"
    err.print(
        f"Rolling out: new tasks start before old ones stop (typically {TYPICAL_START} on GPU hosts, "
        f"then the old tasks drain for {drain}). Until then the old keys are in force."
    )
    if not wait:
        err.print(f"Rollout started (deployment {deployment}); {what} once it completes.")
        err.print("Follow it with `cosmosctl endpoint keys list`.")
        return False
    with err.status("Waiting for the rollout...") as status:
        ctx.service.wait(deployment, on_update=lambda line: status.update(f"Rolling out: {line}"))
    err.print(f"Rollout complete: {what}.")
    return True


# ------------------------------------------------------------------------------------ commands


@app.command("list")
def list_command(
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (names only).")] = False,
) -> None:
    """Show the key names (never their values) and whether the running tasks have the latest change."""
    _list(stack=stack, region=region, as_json=as_json)


@handle_errors
def _list(*, stack: str, region: str | None, as_json: bool) -> None:
    ctx = _context(stack, region)
    keys = ctx.store.load()
    state = _live_state(ctx)
    if as_json:
        print_json({"keys": list(keys), "default": _default_name(keys), "rollout": state})
        return
    table = Table("Name", "Note", box=None, pad_edge=False)
    default = _default_name(keys)
    for name in keys:
        note = "default (cosmosctl endpoint --env)" if name == default else ""
        if name.endswith(PREVIOUS_SUFFIX):
            note = f"old value kept by rotate; revoke when clients use {name[: -len(PREVIOUS_SUFFIX)]}"
        table.add_row(name, note)
    out.print(table)
    out.print(f"Running tasks: {state}")


def _default_name(keys: dict[str, str]) -> str | None:
    return DEFAULT_KEY if DEFAULT_KEY in keys else next(iter(keys), None)


def _live_state(ctx: Context) -> str:
    """Whether the tasks serving now started after the secret's last change."""
    service = ctx.service.describe()
    changed = ctx.store.last_changed()
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None or changed is None:
        return "unknown"
    if len(deployments) > 1 or primary.get("rolloutState") == "IN_PROGRESS":
        return "rollout in progress: some tasks still have the previous keys"
    created = primary.get("createdAt")
    if isinstance(created, datetime) and created < changed:
        return "NOT up to date: the keys changed after the running tasks started (roll out with `keys add/revoke`)"
    return "up to date with these keys"


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="A name for whoever gets the key (e.g. ci, alice-laptop).")],
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    wait: WaitOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"name", "value"} as JSON.')] = False,
) -> None:
    """Create a key, print its value once, and roll the tasks so it works."""
    _add(name=name, stack=stack, region=region, wait=wait, as_json=as_json)


@handle_errors
def _add(*, name: str, stack: str, region: str | None, wait: bool, as_json: bool) -> None:
    check_name(name)
    ctx = _context(stack, region)
    keys = ctx.store.load()
    if name in keys:
        raise CosmosError(
            f"A key named {name} exists.", f"Use `cosmosctl endpoint keys rotate {name}` for a new value."
        )
    value = new_key_value()
    ctx.store.save({**keys, name: value})
    _show_value(name, value, as_json)
    _rollout(ctx, wait=wait, what=f"key {name} works")


def _show_value(name: str, value: str, as_json: bool) -> None:
    if as_json:
        print_json({"name": name, "value": value})
        return
    out.print(f"Key {name}: {value}", markup=False)
    err.print("This is the only time the value is shown: store it now (it stays in Secrets Manager).")


@app.command("revoke")
def revoke_command(
    name: Annotated[str, typer.Argument(help="The key to remove.")],
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    wait: WaitOpt = True,
) -> None:
    """Remove a key; it stops working once every task has been replaced (the command says how long)."""
    _revoke(name=name, stack=stack, region=region, wait=wait)


@handle_errors
def _revoke(*, name: str, stack: str, region: str | None, wait: bool) -> None:
    ctx = _context(stack, region)
    keys = ctx.store.load()
    if name not in keys:
        raise CosmosError(f"No key named {name}.", f"Keys: {', '.join(keys) or 'none'}.")
    if len(keys) == 1:
        raise CosmosError(
            f"{name} is the last key: revoking it would lock everyone out.",
            f"Add another first (`cosmosctl endpoint keys add <name>`), or rotate it (`keys rotate {name}`).",
        )
    ctx.store.save({k: v for k, v in keys.items() if k != name})
    err.print(f"Removed {name} from the secret. Running tasks still accept it until they are replaced.")
    _rollout(ctx, wait=wait, what=f"key {name} no longer works")


@app.command("rotate")
def rotate_command(
    name: Annotated[str, typer.Argument(help="The key to give a new value.")],
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    revoke_old: Annotated[
        bool | None,
        typer.Option(
            "--revoke-old/--keep-old",
            help="After the new value is live, revoke the old one (default: ask).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"name", "value"} as JSON.')] = False,
) -> None:
    """New value for a key; the old value keeps working (as NAME.previous) until you revoke it."""
    _rotate(name=name, stack=stack, region=region, revoke_old=revoke_old, as_json=as_json)


def can_ask() -> bool:
    """Whether someone can answer a prompt (a seam for tests)."""
    return sys.stdin.isatty()


@handle_errors
def _rotate(*, name: str, stack: str, region: str | None, revoke_old: bool | None, as_json: bool) -> None:
    previous = name + PREVIOUS_SUFFIX
    check_name(previous)
    ctx = _context(stack, region)
    keys = ctx.store.load()
    if name not in keys:
        raise CosmosError(f"No key named {name}.", f"Keys: {', '.join(keys) or 'none'}.")
    if previous in keys:
        raise CosmosError(
            f"{previous} still holds the value from the last rotation.",
            f"Revoke it first: `cosmosctl endpoint keys revoke {previous}`.",
        )
    value = new_key_value()
    # Both values are valid while clients move over: the old one under NAME.previous.
    ctx.store.save({**keys, previous: keys[name], name: value})
    _show_value(name, value, as_json)
    _rollout(ctx, wait=True, what=f"the new value of {name} works; the old one still does, as {previous}")
    if revoke_old is None and not can_ask():
        revoke_old = False  # nobody to ask: keep the old value (the safe choice) and say how to revoke it
    if revoke_old is None:
        revoke_old = typer.confirm(
            f"Revoke the old value ({previous}) now? Clients still sending it get 401 once the next "
            "rollout completes",
            default=False,
            err=True,
        )
    if not revoke_old:
        err.print(f"When every client uses the new value: cosmosctl endpoint keys revoke {previous}")
        return
    keys = ctx.store.load()
    ctx.store.save({k: v for k, v in keys.items() if k != previous})
    _rollout(ctx, wait=True, what=f"the old value of {name} no longer works")
