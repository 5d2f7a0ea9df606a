"""Pieces `cosmosctl bench` and `cosmosctl cost` both use, so neither module imports the other.

The bench result file (written by `bench`, read by `cost --bench`) and the catalog lookup that both
use to check an instance type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmosctl.errors import CosmosError
from stacks import gpu_catalog as catalog

# Format version of the JSON file `cosmosctl bench` writes.
BENCH_FORMAT = 1


def load_bench(path: Path) -> dict[str, Any]:
    """Read a bench result file written by `cosmosctl bench`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CosmosError(
            f"Bench file not found: {path}", "Run cosmosctl bench first; it writes one."
        ) from exc
    except json.JSONDecodeError as exc:
        raise CosmosError(f"Bench file {path} is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("cosmosctl_bench") != BENCH_FORMAT:
        raise CosmosError(f"{path} is not a cosmosctl bench result.")
    if not data.get("ok") or not data.get("requests_per_s"):
        raise CosmosError(f"Bench file {path} has no successful requests to measure throughput from.")
    return data


def catalog_instance(name: str) -> catalog.GpuInstance:
    """The catalog entry for ``name`` or a CosmosError listing the choices."""
    try:
        return catalog.get_instance(name)
    except catalog.UnknownInstanceError as exc:
        raise CosmosError(str(exc)[0].upper() + str(exc)[1:] + ".") from exc
