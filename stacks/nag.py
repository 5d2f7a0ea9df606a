"""cdk-nag wiring: the AwsSolutions pack on the whole app, and reasoned acknowledgements.

cdk-nag 3.x plugs into aws-cdk-lib's `Validations`: findings fail `app.synth()` (and `cdk synth`)
with a report in `cdk.out/validation-report.json`; an acknowledgement lives on the construct that
causes the finding and must say why (IAM5 findings are acknowledged one by one, e.g.
`AwsSolutions-IAM5[Resource::*]`).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def apply_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `scope` (and its children) with a specific reason."""
    if len(reason) < 20:
        raise ValueError(f"a cdk-nag acknowledgement needs a specific reason, got {reason!r} for {rule_id}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
