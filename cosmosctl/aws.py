"""boto3 plumbing shared by the commands: sessions, stack outputs, secrets, and AWS error one-liners."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import botocore.utils

from cosmosctl.errors import CosmosError

REASONER_STACK = "ReasonerStack"
GENERATOR_STACK = "GeneratorBatchStack"

_DEPLOY_HINTS = {
    REASONER_STACK: "Deploy it with `cdk deploy ReasonerStack`, pass --stack/--region, or pass --endpoint.",
    GENERATOR_STACK: "Deploy it with `cdk deploy GeneratorBatchStack`, or pass --stack/--region.",
}


# What to do when no region is configured (the AWS CLI and SDKs read the same places).
REGION_HINT = (
    "Pass --region (e.g. --region us-east-1), set AWS_REGION (export AWS_REGION=us-east-1), "
    "or set a default with `aws configure`."
)


def session(region: str | None = None, *, require_region: bool = True) -> boto3.session.Session:
    """A boto3 session; the region comes from ``region``, else AWS_REGION/AWS_DEFAULT_REGION/profile.

    Every AWS client is made from such a session, so a missing region or profile is reported here as
    one CosmosError instead of surfacing later as botocore's NoRegionError traceback from ``.client()``.
    ``require_region=False`` is for callers with their own fallback region (pricing).
    """
    try:
        sess = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    except botocore.exceptions.ProfileNotFound as exc:
        raise CosmosError(
            f"AWS profile not found: {exc.kwargs.get('profile')}.",
            "Check AWS_PROFILE / --profile against `aws configure list-profiles`.",
        ) from exc
    if require_region and not sess.region_name:
        raise CosmosError("No AWS region is set.", REGION_HINT)
    try:
        # botocore checks the name only when a client is made; check it here, where errors are caught.
        botocore.utils.validate_region_name(sess.region_name)
    except botocore.exceptions.InvalidRegionError as exc:
        raise CosmosError(f"Invalid AWS region {sess.region_name!r}.", REGION_HINT) from exc
    return sess


def client(sess: Any, service: str, action: str, **kwargs: Any) -> Any:
    """``sess.client(service)`` with botocore's failures (bad region name, ...) as one-line errors."""
    with aws_errors(action):
        return sess.client(service, **kwargs)


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore failures inside the block into one-line CosmosErrors naming ``action``."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as exc:
        raise CosmosError(
            f"No AWS credentials found while trying to {action}.",
            "Run `aws configure` / `aws sso login`, or set AWS_PROFILE.",
        ) from exc
    except botocore.exceptions.NoRegionError as exc:
        raise CosmosError(f"No AWS region is set (needed to {action}).", REGION_HINT) from exc
    except botocore.exceptions.InvalidRegionError as exc:
        raise CosmosError(
            f"Invalid AWS region {exc.kwargs.get('region_name')!r} (needed to {action}).", REGION_HINT
        ) from exc
    except botocore.exceptions.EndpointConnectionError as exc:
        raise CosmosError(f"Could not reach AWS while trying to {action}: {exc}") from exc
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        code = err.get("Code", "Error")
        message = err.get("Message", str(exc))
        hint = None
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            hint = "Your AWS identity lacks the permission; check the policy attached to it."
        elif code in ("ExpiredToken", "ExpiredTokenException"):
            hint = "Refresh your AWS credentials (e.g. `aws sso login`)."
        raise CosmosError(f"AWS refused to {action}: {code}: {message}", hint) from exc


def stack_outputs(stack: str, region: str | None = None, *, sess: Any = None) -> dict[str, str]:
    """The CloudFormation outputs of ``stack`` as ``{OutputKey: OutputValue}``."""
    cfn = client(sess or session(region), "cloudformation", f"read the outputs of stack {stack}")
    try:
        with aws_errors(f"read the outputs of stack {stack}"):
            stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except CosmosError as err:
        if "does not exist" in err.message:
            where = f" in {cfn.meta.region_name}"
            raise CosmosError(f"Stack {stack} was not found{where}.", _DEPLOY_HINTS.get(stack)) from err
        raise
    if not stacks:
        raise CosmosError(f"Stack {stack} was not found.", _DEPLOY_HINTS.get(stack))
    info = stacks[0]
    status = info.get("StackStatus", "")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in info.get("Outputs", []) or []}
    if not outputs and status.endswith("IN_PROGRESS"):
        raise CosmosError(
            f"Stack {stack} is {status} and has no outputs yet.", "Wait for the deploy to finish."
        )
    return outputs


def require_output(outputs: dict[str, str], key: str, stack: str) -> str:
    """``outputs[key]`` or a CosmosError saying the stack lacks that output."""
    value = outputs.get(key)
    if not value:
        raise CosmosError(
            f"Stack {stack} has no output {key}.",
            f"Is {stack} the right stack (--stack), and is it deployed from this version of cosmos3-aws?",
        )
    return value


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """One ECS service's description, or a CosmosError when the cluster has no such service."""
    with aws_errors(f"describe the ECS service {service}"):
        services = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not services:
        raise CosmosError(f"ECS service {service} was not found in cluster {cluster}.")
    return dict(services[0])


def secret_string(arn: str, region: str | None = None, *, sess: Any = None) -> str:
    """The SecretString of a Secrets Manager secret (its region is taken from the ARN)."""
    arn_region = arn.split(":")[3] if arn.startswith("arn:") and arn.count(":") >= 6 else None
    sm = client(
        sess or session(arn_region or region),
        "secretsmanager",
        "read the API key from Secrets Manager",
        **({"region_name": arn_region} if arn_region else {}),
    )
    with aws_errors("read the API key from Secrets Manager"):
        value = sm.get_secret_value(SecretId=arn).get("SecretString")
    if not value:
        raise CosmosError(f"Secret {arn} has no string value.", "Redeploy the stack to regenerate the key.")
    return value.strip()
