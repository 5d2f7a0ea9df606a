"""Shared fixtures: the CDK app is synthesized once per settings combination and reused."""

from __future__ import annotations

import functools

import botocore.session
import pytest
from template_utils import SynthCache

# Every boto3 client made in a test (moto's included) gets a new botocore session, and each session
# parses the service's JSON models again: 80 clients in the key tests spent 7 s in json.loads. One
# Loader per data path for the whole test process is what a long-lived session does: botocore caches
# what a Loader reads on the Loader. Only tests share it; the CLI makes one session per run.
botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.session.create_loader)


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
