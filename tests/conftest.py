"""Shared fixtures: the CDK app is synthesized once per settings combination and reused."""

from __future__ import annotations

import pytest
from template_utils import SynthCache


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthCache:
    """`synth(**context)` -> CloudAssembly of the whole app (nag checks included)."""
    return SynthCache(tmp_path_factory.mktemp("synth"))


@pytest.fixture(autouse=True)
def _wide_cli_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """cosmosctl's rich consoles wrap tables at the terminal width, 80 where there is none (CI).

    They are created at import, so COLUMNS would come too late: pin their width so assertions on
    table text do not depend on where the tests run.
    """
    from cosmosctl import console

    for con in (console.out, console.err):
        monkeypatch.setattr(con, "width", 200)
