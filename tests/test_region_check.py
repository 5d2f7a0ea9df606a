"""Synth warns when the target region is not known to offer the chosen GPU instance type."""

from __future__ import annotations

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Annotations, Match

from stacks import gpu_catalog as catalog
from stacks.constructs.region_check import warn_if_region_lacks


def _warnings(region: str | None, instance_types: list[str]) -> list[str]:
    app = App()
    env = Environment(account="123456789012", region=region) if region else None
    stack = Stack(app, "Probe", env=env)
    warn_if_region_lacks(stack, instance_types)
    found = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    return [str(w.entry.data) for w in found]


def test_listed_region_gives_no_warning() -> None:
    assert _warnings("us-east-1", ["g6e.xlarge", "p5.4xlarge", "g5.xlarge"]) == []


def test_unlisted_region_warns_with_the_command_that_answers() -> None:
    [warning] = _warnings("af-south-1", ["g6e.xlarge"])
    assert "g6e is not known to be offered in af-south-1" in warning
    assert "aws ec2 describe-instance-type-offerings --region af-south-1" in warning
    assert "Values=g6e.xlarge" in warning


def test_each_instance_type_is_checked() -> None:
    # eu-west-1 is listed for g5 but not for g6e or p5.
    warnings = _warnings("eu-west-1", ["g5.2xlarge", "g6e.2xlarge", "p5.4xlarge"])
    assert len(warnings) == 2 and not any("g5.2xlarge" in w for w in warnings)


def test_environment_agnostic_stack_is_not_checked() -> None:
    # The region is a token: nothing to compare at synth time, so no guess.
    assert _warnings(None, ["g6e.xlarge"]) == []


def test_every_catalog_family_has_a_region_list_including_the_price_region() -> None:
    assert set(catalog.FAMILY_REGIONS) == set(catalog.FAMILIES)
    assert all(catalog.PRICE_REGION in regions for regions in catalog.FAMILY_REGIONS.values())
