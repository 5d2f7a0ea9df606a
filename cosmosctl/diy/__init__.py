"""The DIY home-repair assistant: Cosmos perception, a general LLM's procedure, a deterministic guardrail."""

from cosmosctl.diy.guardrail import GuardrailResult, apply_guardrail, load_rules
from cosmosctl.diy.observation import Observation, parse_observation
from cosmosctl.diy.pipeline import DiyAnswer, ModelEndpoint, Perception, run_pipeline

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
