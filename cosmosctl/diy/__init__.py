"""The DIY home-repair assistant: Cosmos perception, a general LLM's procedure, a deterministic guardrail.

The names below load on first use (PEP 562), so that importing one submodule (`cosmosctl.diy.lexical`
in the model-training script on a GPU machine, say) does not import the OpenAI client and the pipeline.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosmosctl.diy.guardrail import GuardrailResult, apply_guardrail, load_rules
    from cosmosctl.diy.observation import Observation, parse_observation
    from cosmosctl.diy.pipeline import DiyAnswer, ModelEndpoint, Perception, run_pipeline

_WHERE = {
    "GuardrailResult": "guardrail",
    "apply_guardrail": "guardrail",
    "load_rules": "guardrail",
    "Observation": "observation",
    "parse_observation": "observation",
    "DiyAnswer": "pipeline",
    "ModelEndpoint": "pipeline",
    "Perception": "pipeline",
    "run_pipeline": "pipeline",
}

__all__ = [
    "DiyAnswer",
    "GuardrailResult",
    "ModelEndpoint",
    "Observation",
    "Perception",
    "apply_guardrail",
    "load_rules",
    "parse_observation",
    "run_pipeline",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
