"""Find the reasoner endpoint and its API key: flags, then environment, then the ReasonerStack outputs.

`cosmosctl endpoint keys ...` (cosmosctl/keys.py) manages the named keys themselves.
"""

from __future__ import annotations

import os
import shlex
from typing import Annotated

import typer

from cosmosctl.aws import REASONER_STACK, require_output, secret_string, session, stack_outputs
from cosmosctl.client import normalize_base_url
from cosmosctl.console import handle_errors, out, print_json
from cosmosctl.errors import CosmosError
from cosmosctl.keys import app as keys_app
from cosmosctl.keys import default_key

ENV_ENDPOINT = "COSMOS_ENDPOINT"
ENV_API_KEY = "COSMOS_API_KEY"


def _from_env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def resolve_endpoint(
    endpoint: str | None,
    api_key: str | None,
    stack: str = REASONER_STACK,
    region: str | None = None,
) -> tuple[str, str]:
    """(endpoint URL, API key): each from its flag, else COSMOS_ENDPOINT / COSMOS_API_KEY, else the stack.

    The stack is only read for what flags and environment leave open: its ``EndpointUrl`` output and
    the default key of the named-keys secret ``ApiKeySecretArn`` (the one named "default", else the first).
    """
    url = (endpoint or "").strip() or _from_env(ENV_ENDPOINT)
    key = (api_key or "").strip() or _from_env(ENV_API_KEY)
    if url and key:
        return url, key
    try:
        sess = session(region)
        outputs = stack_outputs(stack, region, sess=sess)
        if not url:
            url = require_output(outputs, "EndpointUrl", stack)
        if not key:
            key = default_key(secret_string(require_output(outputs, "ApiKeySecretArn", stack), region))
    except CosmosError as err:
        missing = "endpoint and API key" if not url else "API key"
        raise CosmosError(
            f"No {missing} given and the stack lookup failed: {err.message}",
            f"Pass --endpoint/--api-key, set {ENV_ENDPOINT}/{ENV_API_KEY} "
            '(eval "$(cosmosctl endpoint --env)"), or fix: ' + (err.hint or "the AWS access above."),
        ) from err
    return url, key


app = typer.Typer(
    help="The reasoner endpoint: its URL and API key; `keys` manages the keys; up, down, status, prefetch."
)
app.add_typer(keys_app, name="keys")


@app.callback(invoke_without_command=True)
def endpoint_command(
    ctx: typer.Context,
    stack: Annotated[str, typer.Option(help="CloudFormation stack of the reasoner.")] = REASONER_STACK,
    region: Annotated[
        str | None, typer.Option(help="AWS region of the stack (default: your profile's).")
    ] = None,
    show_key: Annotated[bool, typer.Option("--show-key", help="Print the API key itself.")] = False,
    env: Annotated[
        bool,
        typer.Option("--env", help="Print `export COSMOS_ENDPOINT=... COSMOS_API_KEY=...` lines for eval."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output (includes the key only with --show-key).")
    ] = False,
) -> None:
    """Print the reasoner endpoint URL and how to get its API key, from the stack outputs."""
    if ctx.invoked_subcommand is not None:
        return
    _endpoint(stack=stack, region=region, show_key=show_key, env=env, as_json=as_json)


@handle_errors
def _endpoint(*, stack: str, region: str | None, show_key: bool, env: bool, as_json: bool) -> None:
    sess = session(region)
    outputs = stack_outputs(stack, region, sess=sess)
    url = require_output(outputs, "EndpointUrl", stack).rstrip("/")
    secret_arn = require_output(outputs, "ApiKeySecretArn", stack)
    base = normalize_base_url(url)
    # The secret is {"<name>": "<value>"}; this prints the default key's value.
    key_command = (
        f"aws secretsmanager get-secret-value --secret-id {shlex.quote(secret_arn)} "
        "--query SecretString --output text | python3 -c "
        "'import json,sys; k=json.load(sys.stdin); print(k.get(\"default\") or next(iter(k.values())))'"
    )
    if env:
        env_key = default_key(secret_string(secret_arn, region))
        typer.echo(f"export {ENV_ENDPOINT}={shlex.quote(url)}")
        typer.echo(f"export {ENV_API_KEY}={shlex.quote(env_key)}")
        return
    key: str | None = default_key(secret_string(secret_arn, region)) if show_key else None
    if as_json:
        data = {
            "stack": stack,
            "endpoint": url,
            "base_url": base,
            "api_key_secret_arn": secret_arn,
            "api_key_command": key_command,
            "log_group": outputs.get("LogGroupName"),
        }
        if key is not None:
            data["api_key"] = key
        print_json(data)
        return
    out.print(f"[bold]Endpoint[/]   {url}", markup=True)
    out.print(f"[bold]Base URL[/]   {base}   (OpenAI SDK base_url)", markup=True)
    if key is not None:
        out.print(f"[bold]API key[/]    {key}", markup=True)
    else:
        out.print(f"[bold]API key[/]    in Secrets Manager {secret_arn}", markup=True)
        out.print("             print it with --show-key, or:", markup=False)
        out.print(f"             {key_command}", markup=False)
        out.print("             named keys: cosmosctl endpoint keys list|add|revoke|rotate", markup=False)
    if outputs.get("LogGroupName"):
        out.print(f"[bold]Logs[/]       {outputs['LogGroupName']}", markup=True)
    out.print("")
    out.print(
        'Use it:  eval "$(cosmosctl endpoint --env)" && '
        'cosmosctl ask --image sink.jpg "What is leaking here?"'
    )
