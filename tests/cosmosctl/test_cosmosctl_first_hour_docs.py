"""The README and quick start answer the first hour's questions, with figures the code computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosmosctl import cost, media
from cosmosctl.cli import app
from stacks import gpu_catalog as catalog

ROOT = Path(__file__).resolve().parents[2]
DOCS = {name: (ROOT / name).read_text() for name in ("README.md", "docs/quickstart.md")}


def _flat(text: str) -> str:
    return " ".join(text.replace("**", "").split())


@pytest.mark.parametrize("name", DOCS)
def test_idle_cost_figures_are_the_cost_modules(name: str) -> None:
    idle = cost.idle_endpoint_costs()
    text = _flat(DOCS[name])
    assert idle["region"] == "us-east-1" and "us-east-1 list prices" in text
    assert f"${idle['per_hour']:.2f} an hour, ${idle['per_month']:,} a month" in text
    assert f"${catalog.INSTANCES['g6e.xlarge'].price_per_hour_usd}/hour" in text
    assert f"About ${idle['scaled_to_zero_per_month']} a month remains".lower() in text.lower()


def test_idle_costs_add_up() -> None:
    idle = cost.idle_endpoint_costs()
    # One g6e.xlarge dominates; ALB + NAT + EFS + secrets are the floor that scaling to zero leaves.
    assert idle["per_month"] == pytest.approx(idle["per_hour"] * cost.HOURS_PER_MONTH, rel=0.01)
    assert idle["scaled_to_zero_per_month"] == round(
        cost.HOURS_PER_MONTH * (cost.ALB_HOUR_USD + cost.NAT_HOUR_USD)
        + 60 * cost.EFS_STANDARD_GB_MONTH_USD
        + 2 * cost.SECRET_MONTH_USD
    )


@pytest.mark.parametrize("name", DOCS)
def test_first_hour_steps_are_written_down(name: str) -> None:
    text = _flat(DOCS[name])
    assert "cdk bootstrap aws://<account-id>/<region>" in text
    assert "Running On-Demand G and VT instances" in text and "Running On-Demand P instances" in text
    vcpus = catalog.INSTANCES["g6e.xlarge"].vcpus
    assert re.search(rf"\b{vcpus} vCPUs\b", text)
    assert "Generate API Key" in text and "licence" in text and "nvidia/Cosmos3-Nano" in text
    assert "-c minTasks=0" in text and "cdk destroy ReasonerStack" in text
    assert "describe-instance-type-offerings" in text and "not offered in every region" in text
    assert "AWS_REGION" in text


def test_quickstart_video_flags_are_the_clis() -> None:
    help_text = CliRunner().invoke(app, ["ask", "--help"], env={"COLUMNS": "200"}).stdout
    quickstart = DOCS["docs/quickstart.md"]
    for flag in ("--fps", "--max-frames", "--max-video-side", "--server-side-sampling"):
        assert flag in help_text and flag in quickstart
    assert f"{media.DEFAULT_MAX_FRAMES} by default" in _flat(quickstart)
    assert f"({media.DEFAULT_MAX_SIDE} px)" in _flat(quickstart)
    assert 'media_io_kwargs": {' not in quickstart  # the form vLLM >= 0.31 refuses is not taught
