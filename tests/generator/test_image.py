"""The job image's build files: pinned, non-root, and independent of the CDK app and the client."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

GENERATOR_DIR = Path(__file__).resolve().parents[2] / "container" / "generator"


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (GENERATOR_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirement not pinned with ==: {line!r}"
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def _lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {name: (version, [hashes])}; fails on a line that is not a hash pin."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = (GENERATOR_DIR / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        lines = [line.split("#", 1)[0].strip().rstrip("\\").strip() for line in block.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            continue
        name, sep, version = lines[0].partition("==")
        assert sep and re.fullmatch(r"[A-Za-z0-9._-]+", name), f"not a pinned requirement: {lines[0]!r}"
        hashes = [line for line in lines[1:] if line.startswith("--hash=sha256:")]
        assert len(hashes) == len(lines) - 1, f"{name}: only --hash lines may follow the pin"
        entries[name.lower()] = (version, hashes)
    return entries


def test_requirements_are_pinned_and_complete() -> None:
    pins = _requirements()
    for name in ("diffusers", "transformers", "accelerate", "boto3", "cosmos-guardrail", "imageio-ffmpeg"):
        assert name in pins
    major, minor = (int(part) for part in pins["diffusers"].split(".")[:2])
    assert (major, minor) >= (0, 42)  # Cosmos3OmniPipeline
    # the deployed default attention on H100 (attention_backend "auto") is FlashAttention 4
    for name in ("flash-attn-4", "nvidia-cutlass-dsl", "quack-kernels", "apache-tvm-ffi"):
        assert name in pins


def test_lock_pins_every_requirement_and_its_dependencies_with_hashes() -> None:
    lock = _lock()
    # every direct requirement, at the same version
    for name, version in _requirements().items():
        assert name in lock, f"{name} is in requirements.txt but not in requirements.lock: run lock.sh"
        assert lock[name][0] == version, f"{name}: requirements.txt {version}, lock {lock[name][0]}"
    # every line hashed
    for name, (_, hashes) in lock.items():
        assert hashes, f"{name} has no --hash in requirements.lock"
    # transitive dependencies too (a few the job cannot run without, none of them direct)
    for name in ("botocore", "s3transfer", "regex", "opencv-python", "peft", "nvidia-cutlass-dsl-libs-cu13"):
        assert name in lock
    # the base image's torch stack stays out: --no-deps must never swap the CUDA build
    for name in lock:
        assert name not in ("torch", "torchvision", "triton", "setuptools") and not re.match(
            r"nvidia-(cu(?!tlass)|nccl|nvjit|nvshmem|nvtx)|cuda-", name
        ), f"{name} comes from the base image and must not be in requirements.lock"


def test_lock_is_resolved_for_the_base_images_torch_and_python() -> None:
    script = (GENERATOR_DIR / "lock.sh").read_text()
    base = re.search(
        r"^ARG BASE_IMAGE=pytorch/pytorch:(\d+\.\d+\.\d+)-cuda",
        (GENERATOR_DIR / "Dockerfile").read_text(),
        re.M,
    )
    assert base is not None
    assert f"TORCH_VERSION={base.group(1)}" in script
    assert "--python-version 3.12" in script and "--python-platform x86_64-manylinux" in script
    assert "--generate-hashes" in script


def test_dockerfile_pins_a_cuda13_devel_base_and_runs_as_non_root() -> None:
    text = (GENERATOR_DIR / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    # torch 2.11 + CUDA 13 as benchmarked; -devel ships the C compiler torch.compile needs
    assert re.fullmatch(r"pytorch/pytorch:2\.11\.\d+-cuda13\.\d+-cudnn\d+-devel", base.group(1))
    assert "FROM ${BASE_IMAGE}" in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m", "cosmos_generator"]' in text
    # the lock, hash-checked, nothing beyond it, and the self-check after it
    install = re.search(r"pip install ([^\n]*\n?[^\n]*)requirements\.lock", text)
    assert install is not None
    assert "--require-hashes" in install.group(0) and "--no-deps" in install.group(0)
    assert text.index("requirements.lock") < text.index("RUN python /tmp/build/selfcheck.py")
    assert re.search(r"apt-get install[^\n]*\bgcc\b[^\n]*\bg\+\+", text)


def test_build_selfcheck_compiles_and_imports_flash_attention_4() -> None:
    text = (GENERATOR_DIR / "selfcheck.py").read_text()
    assert 'backend="inductor"' in text and "import flash_attn.cute" in text


def test_build_selfcheck_refuses_an_unmet_locked_requirement(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(GENERATOR_DIR))
    try:
        import selfcheck
    finally:
        sys.path.remove(str(GENERATOR_DIR))
    lock = tmp_path / "requirements.lock"
    lock.write_text("boto3==1.0 \\\n    --hash=sha256:00\n")
    selfcheck.check_locked_requirements(lock)  # installed here, with its requirements met
    lock.write_text("boto3==1.0 \\\n    --hash=sha256:00\nno-such-package-here==1.0\n")
    with pytest.raises(SystemExit, match="no-such-package-here is locked but not installed"):
        selfcheck.check_locked_requirements(lock)


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
