"""Fixtures for the DIY assistant tests: two fake OpenAI-compatible servers (Cosmos and the general LLM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from media_utils import tiny_png


@pytest.fixture
def cosmos() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("nvidia/cosmos3-nano-reasoner") as server:
        yield server


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("test-general-llm") as server:
        yield server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint or key leaks in from the developer's shell; the LLM key comes from env as in real use."""
    for name in (
        "COSMOS_ENDPOINT",
        "COSMOS_API_KEY",
        "DIY_LLM_ENDPOINT",
        "DIY_LLM_MODEL",
        "DIY_LLM_API_KEY",
        "OPENAI_API_KEY",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIY_LLM_API_KEY", "llm-test-key")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "ptrap.png"
    path.write_bytes(tiny_png())
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A real tiny H.264 MP4: the client decodes it and samples frames before sending."""
    from media_utils import tiny_mp4

    path = tmp_path / "toilet.mp4"
    path.write_bytes(tiny_mp4(width=64, height=48, frames=30, fps=30))
    return path
