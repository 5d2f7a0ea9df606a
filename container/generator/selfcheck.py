"""Build-time self-check of the job image (Dockerfile): fail the build, not the first job.

Runs on the build machine, which has no GPU: it proves the pieces the deployed default path
needs at run time are in the image. `torch.compile` with Inductor on CPU generates C++ and builds
it with the image's C compiler (the GPU path builds Triton launchers the same way), and
FlashAttention 4 (attention "auto" on Hopper/Blackwell) must import with its CuTe DSL.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).with_name("requirements.lock")


def check_locked_requirements(lock: Path) -> None:
    """Each locked package's own requirements are met by what is installed, base image included.

    The lock installs with --no-deps, so this is the check pip would otherwise do: it catches a
    base image whose torch stack (torch, triton, cuda-bindings, ...) is older than the lock assumes.
    Like `pip check`, but only for the packages this image adds (the base's own are not ours).
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock.read_text(), re.M)
    problems = []
    for name in names:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is locked but not installed")
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                installed = metadata.version(canonicalize_name(req.name))
            except metadata.PackageNotFoundError:
                problems.append(f"{name} needs {req}, which is not installed")
                continue
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                problems.append(f"{name} needs {req}, found {installed}")
    if problems:
        sys.exit("selfcheck: " + "; ".join(problems))
    print(f"selfcheck: the requirements of {len(names)} locked packages are met")


def main() -> None:
    if LOCK.is_file():
        check_locked_requirements(LOCK)
    import torch

    for tool in ("cc", "gcc", "g++"):
        if shutil.which(tool) is None:
            sys.exit(f"selfcheck: no C/C++ compiler '{tool}' on PATH: torch.compile would fail at run time")
    print(f"selfcheck: torch {torch.__version__}, CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory() as cache:
        # a cold, private Inductor cache: a stale one could hide a missing compiler
        import os

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache

        def tiny(x: torch.Tensor) -> torch.Tensor:
            return torch.sin(x) * 2.0 + x.cos()

        compiled = torch.compile(tiny, backend="inductor", fullgraph=True)
        x = torch.randn(257)
        if not torch.allclose(compiled(x), tiny(x), atol=1e-5):
            sys.exit("selfcheck: torch.compile (inductor, CPU) gave a wrong result")
    print("selfcheck: torch.compile (inductor, CPU) builds and runs")
    import cosmos_guardrail  # noqa: F401
    import diffusers
    import flash_attn.cute  # noqa: F401  FlashAttention 4 and its CuTe DSL
    import torchvision  # noqa: F401  from the base image; cosmos-guardrail needs it

    if not hasattr(diffusers, "Cosmos3OmniPipeline"):
        sys.exit(f"selfcheck: diffusers {diffusers.__version__} has no Cosmos3OmniPipeline")
    print("selfcheck: FlashAttention 4, cosmos-guardrail and diffusers import")


if __name__ == "__main__":
    main()
