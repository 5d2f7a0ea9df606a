"""Helpers for asserting on synthesized templates and snapshotting them stably."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes (S3 keys, image tags) masked, for syrupy snapshots."""
    text = json.dumps(template, sort_keys=True)
    text = _HASH.sub("<asset-hash>", text)
    return json.loads(text)


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == rtype}


def only(template: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = resources(template, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


# A fixed environment keeps templates (AZs, ARNs) stable across machines; no AWS is called.
os.environ.pop("CDK_DEFAULT_ACCOUNT", None)
os.environ.pop("CDK_DEFAULT_REGION", None)

# No Docker or asset bundling in tests (the generator image asset is only staged, never built).
BASE_CONTEXT: dict[str, Any] = {
    "aws:cdk:bundling-stacks": [],
    **json.loads((ROOT / "cdk.json").read_text())["context"],
}


class SynthCache:
    """Synthesizes the real app (app.build_app) once per context and keeps the cloud assembly."""

    def __init__(self, tmp_root: Path) -> None:
        self._root = tmp_root
        self._cache: dict[str, Any] = {}

    def __call__(self, **overrides: Any) -> Any:
        from app import build_app

        key = json.dumps(overrides, sort_keys=True)
        if key not in self._cache:
            outdir = self._root / f"cdk.out.{len(self._cache)}"
            app = build_app({**BASE_CONTEXT, **overrides}, outdir=str(outdir))
            self._cache[key] = app.synth()
        return self._cache[key]


def template_of(assembly: Any, stack: str) -> dict[str, Any]:
    return assembly.get_stack_by_name(stack).template


def assert_efs_requires_tls_and_iam(file_system: dict[str, Any]) -> None:
    """The file system policy refuses non-TLS clients, and no one mounts without an IAM grant.

    cdk-nag has no rule for EFS transit encryption, so this is the check.
    """
    statements = file_system["FileSystemPolicy"]["Statement"]
    assert {
        "Action": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
    } in statements
    # An Allow of ClientMount to everyone in the resource policy would let anonymous NFS clients in.
    assert not [
        s for s in statements if s["Effect"] == "Allow" and "elasticfilesystem:ClientMount" in json.dumps(s)
    ]


def cfn_lint_findings(template: dict[str, Any]) -> list[str]:
    """cfn-lint's findings on a synthesized template, for the regions we document."""
    import cfnlint.api

    matches = cfnlint.api.lint(json.dumps(template), regions=["us-east-1", "us-west-2"])
    return [
        str(m)
        for m in matches
        # aws-cdk-lib's own restrictDefaultSecurityGroup provider declares DependsOn on the role it
        # also GetAtt's (W3005, a harmless redundancy in CDK's code, not ours).
        if not (m.rule.id == "W3005" and "CustomVpcRestrictDefaultSGCustomResourceProvider" in str(m))
    ]
