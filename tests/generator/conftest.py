"""Fixtures for the generator job tests: the job package on sys.path, one tiny pipeline per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

GENERATOR_DIR = Path(__file__).resolve().parents[2] / "container" / "generator"
if str(GENERATOR_DIR) not in sys.path:
    sys.path.insert(0, str(GENERATOR_DIR))


@pytest.fixture(scope="session")
def tiny_pipeline():
    """A randomly initialised Cosmos3OmniPipeline, small enough for CPU (no hub access)."""
    from cosmos_generator.random_pipeline import build_random_pipeline

    return build_random_pipeline("tiny")
