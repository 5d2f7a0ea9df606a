"""A PIPELINE_LOADER for the job tests: hands out the session's tiny pipeline and counts loads."""

from __future__ import annotations

from typing import Any

PIPELINE: Any = None
LOADS: list[Any] = []


def load(request: Any) -> Any:
    if PIPELINE is None:
        raise RuntimeError("the test did not install a pipeline")
    LOADS.append(request)
    return PIPELINE
