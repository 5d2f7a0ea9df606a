"""The job image's build files: pinned, non-root, and independent of the CDK app and the client."""

from __future__ import annotations

import ast
import re
from pathlib import Path

GENERATOR_DIR = Path(__file__).resolve().parents[2] / "container" / "generator"


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (GENERATOR_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirement not pinned with ==: {line!r}"
            pins[name.lower()] = version
    return pins


def test_requirements_are_pinned_and_complete() -> None:
    pins = _requirements()
    for name in ("diffusers", "transformers", "accelerate", "boto3", "cosmos-guardrail", "imageio-ffmpeg"):
        assert name in pins
    major, minor = (int(part) for part in pins["diffusers"].split(".")[:2])
    assert (major, minor) >= (0, 42)  # Cosmos3OmniPipeline
    # the deployed default attention on H100 (attention_backend "auto") is FlashAttention 4
    for name in ("flash-attn-4", "nvidia-cutlass-dsl", "quack-kernels", "apache-tvm-ffi"):
        assert name in pins


def test_dockerfile_pins_a_cuda_base_and_runs_as_non_root() -> None:
    text = (GENERATOR_DIR / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda12\.\d+-cudnn\d+-runtime", base.group(1))
    assert "FROM ${BASE_IMAGE}" in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m", "cosmos_generator"]' in text
    assert "requirements.txt" in text


def test_job_package_imports_nothing_from_the_app() -> None:
    for path in (GENERATOR_DIR / "cosmos_generator").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"stacks", "cosmosctl", "aws_cdk"}, (
                    f"{path.name} imports {name}"
                )
