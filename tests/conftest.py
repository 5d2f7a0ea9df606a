"""Shared fixtures: the CDK app is synthesized once per settings combination and reused."""

from __future__ import annotations

import pytest
from template_utils import SynthCache


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthCache:
    """`synth(**context)` -> CloudAssembly of the whole app (nag checks included)."""
    return SynthCache(tmp_path_factory.mktemp("synth"))
