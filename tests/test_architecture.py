"""The dependency rules of DESIGN.md, checked on the source so they cannot drift."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(folder: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                # `from stacks import gpu_catalog` imports the module stacks.gpu_catalog
                names |= {f"{node.module}.{a.name}" for a in node.names}
        found[path] = names
    return found


def offenders(folder: Path, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path, names in imports_of(folder).items():
        for name in names:
            # a bare package name is only a step on the way to the module actually imported
            if name in {f.rstrip(".") for f in forbidden} and any(n.startswith(name + ".") for n in names):
                continue
            if name.startswith(forbidden) and not name.startswith(allowed):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_cosmosctl_never_imports_cdk_or_stacks_except_the_catalog() -> None:
    assert (
        offenders(ROOT / "cosmosctl", ("aws_cdk", "constructs", "cdk_nag", "stacks"), ("stacks.gpu_catalog",))
        == []
    )


def test_catalog_is_plain_data() -> None:
    # cosmosctl reads prices and footprints from it without installing the CDK.
    names = imports_of(ROOT / "stacks")[ROOT / "stacks" / "gpu_catalog.py"]
    assert not [n for n in names if n.startswith(("aws_cdk", "constructs", "cdk_nag", "stacks"))]


def test_job_image_imports_nothing_from_the_project() -> None:
    assert offenders(ROOT / "container" / "generator", ("stacks", "cosmosctl", "aws_cdk")) == []


def test_stacks_never_import_each_other() -> None:
    imports = imports_of(ROOT / "stacks")
    assert "stacks.generator_batch_stack" not in imports[ROOT / "stacks" / "reasoner_stack.py"]
    assert "stacks.reasoner_stack" not in imports[ROOT / "stacks" / "generator_batch_stack.py"]
    for path, names in imports.items():
        if "constructs" in path.parts or path.name in ("config.py", "gpu_catalog.py"):
            assert not any(n.endswith(("_stack",)) for n in names), f"{path} imports a stack"


def test_no_environment_variables_read_at_synth_time_except_cdk_defaults() -> None:
    for path in [*sorted((ROOT / "stacks").rglob("*.py")), ROOT / "app.py"]:
        text = path.read_text()
        for line in text.splitlines():
            if "os.environ" in line or "getenv" in line:
                assert "CDK_DEFAULT_" in line, (
                    f"{path.relative_to(ROOT)} reads the environment: {line.strip()}"
                )


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_the_stacks_and_the_client() -> None:
    # aws-cdk-lib is read as Any (pyproject.toml says why): a cold run takes about 10 s.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "stacks", "cosmosctl", "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
