"""Synth-time warning when the target region is not known to offer a chosen GPU instance type."""

from __future__ import annotations

from aws_cdk import Annotations, Stack, Token
from constructs import IConstruct

from stacks import gpu_catalog as catalog


def warn_if_region_lacks(scope: IConstruct, instance_types: list[str]) -> None:
    """Add a warning per instance type the stack's region is not known to offer.

    Only for a concrete region (``cdk synth`` with a configured region, or an app that sets ``env``);
    an environment-agnostic stack's region is a token and cannot be checked at synth time.
    """
    region = Stack.of(scope).region
    if Token.is_unresolved(region):
        return
    for instance_type in instance_types:
        warning = catalog.region_offering_warning(instance_type, region)
        if warning:
            Annotations.of(scope).add_warning_v2(f"cosmos3:region-lacks-{instance_type}", warning)
