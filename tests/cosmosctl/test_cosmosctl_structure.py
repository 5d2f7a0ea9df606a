"""Module structure of the client: `bench` and `cost` stand on their own (no import cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "cosmosctl"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize(("module", "other"), [("bench", "cost"), ("cost", "bench")])
def test_bench_and_cost_do_not_import_each_other(module: str, other: str) -> None:
    imported = _imported_modules(PKG / f"{module}.py")
    assert not {n for n in imported if n == f"cosmosctl.{other}" or n.startswith(f"cosmosctl.{other}.")}
    assert "cosmosctl.shared" in imported  # what both need lives there


@pytest.mark.parametrize("module", ["cosmosctl.bench", "cosmosctl.cost", "cosmosctl.shared"])
def test_each_module_imports_alone(module: str) -> None:
    # A fresh interpreter, so an import order that hides a cycle in this process cannot help.
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=PKG.parent
    )
    assert done.returncode == 0, done.stderr
