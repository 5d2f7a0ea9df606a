"""Shared fixtures: the CDK app is synthesized once per settings combination and reused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

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


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthCache:
    """`synth(**context)` -> CloudAssembly of the whole app (nag checks included)."""
    return SynthCache(tmp_path_factory.mktemp("synth"))


def template_of(assembly: Any, stack: str) -> dict[str, Any]:
    return assembly.get_stack_by_name(stack).template
