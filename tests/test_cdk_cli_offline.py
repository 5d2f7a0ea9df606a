"""The project's cdk.json keeps the CDK CLI offline (no notices, no telemetry) however `cdk` is started.

`source .venv/bin/activate && cdk synth`, `npx cdk synth` and `scripts/dev.py synth` all read cdk.json,
so the settings live there, not only in a wrapper. The test also pins the installed CLI's reading of
those keys, so a CLI upgrade that renames them fails here instead of silently calling home.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = json.loads((ROOT / "cdk.json").read_text())
CLI_LIB = ROOT / "node_modules" / "aws-cdk" / "lib" / "cli"


def test_cdk_json_turns_notices_off() -> None:
    # aws-cdk lib/cli/cli.js: without --notices/--no-notices, `settings.get(['notices'])` decides, and
    # notices are only fetched (notices.refresh()) when they are displayed.
    assert CDK_JSON["notices"] is False
    assert "settings.get(['notices'])" in (CLI_LIB / "cli.js").read_text()


def test_cdk_json_turns_cli_telemetry_off() -> None:
    # https://docs.aws.amazon.com/cdk/v2/guide/cli-telemetry.html: opt out with the context key
    # "cli-telemetry": false (or CDK_DISABLE_CLI_TELEMETRY=true); lib/cli/telemetry/collect-telemetry.js.
    assert CDK_JSON["context"]["cli-telemetry"] is False
    source = (CLI_LIB / "telemetry" / "collect-telemetry.js").read_text()
    assert "['false', false].includes(context.get('cli-telemetry'))" in source
