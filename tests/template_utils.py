"""Helpers for asserting on synthesized templates and snapshotting them stably."""

from __future__ import annotations

import json
import re
from typing import Any

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
