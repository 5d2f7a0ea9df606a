#!/usr/bin/env python3
"""CDK entry point: read the settings, build ReasonerStack and GeneratorBatchStack, check them."""

from __future__ import annotations

import os
import sys
from typing import Any

import aws_cdk as cdk

from stacks import nag
from stacks.config import ConfigError, GeneratorConfig, ReasonerConfig, check_context_keys
from stacks.generator_batch_stack import GeneratorBatchStack
from stacks.reasoner_stack import ReasonerStack


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The whole app; tests call this with their own context. Raises ConfigError on bad settings."""
    app = cdk.App(context=context, outdir=outdir)
    check_context_keys(app.node.get_all_context().keys())
    reasoner = ReasonerConfig.read(app.node)
    generator = GeneratorConfig.read(app.node)
    # Environment-agnostic unless CDK's own variables say where (set by `cdk` from the profile).
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    if reasoner.network.vpc_id and not (env.account and env.region):
        # Vpc.from_lookup would otherwise fail with a jsii traceback.
        raise ConfigError(
            "vpcId needs AWS credentials and a region: cdk looks the VPC up in your account. Run cdk with "
            "a profile (and region), or leave vpcId empty to create a VPC"
        )
    ReasonerStack(
        app,
        "ReasonerStack",
        config=reasoner,
        env=env,
        description="Cosmos 3 reasoner NIM on ECS GPU instances behind an authenticated ALB (cosmos3-aws)",
    )
    GeneratorBatchStack(
        app,
        "GeneratorBatchStack",
        config=generator,
        env=env,
        description="Cosmos 3 video generation as scale-to-zero AWS Batch GPU jobs (cosmos3-aws)",
    )
    cdk.Tags.of(app).add("project", "cosmos3-aws")
    nag.apply_checks(app)
    return app


def main() -> None:
    try:
        app = build_app()
    except ConfigError as err:
        # One line that says what to change, not a traceback.
        print(f"cosmos3-aws: invalid setting: {err}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
