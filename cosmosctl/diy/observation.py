"""The perception layer's structured observation: its schema and how to pull it out of a model answer."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

System = Literal["plumbing", "electrical", "gas", "structural", "hvac", "appliance", "other"]
HazardType = Literal[
    "water_near_electricity",
    "exposed_wiring",
    "scorch_marks",
    "gas_fitting",
    "crack",
    "structural_damage",
    "water_damage",
    "mold",
    "other",
]
Confidence = Literal["low", "medium", "high"]

# Spellings models use for the enum values above; anything else fails validation and is re-asked.
_HAZARD_SYNONYMS = {
    "water_electricity": "water_near_electricity",
    "water_and_electricity": "water_near_electricity",
    "exposed_wires": "exposed_wiring",
    "scorch": "scorch_marks",
    "scorch_mark": "scorch_marks",
    "burn_marks": "scorch_marks",
    "gas": "gas_fitting",
    "gas_fittings": "gas_fitting",
    "cracks": "crack",
    "leak": "water_damage",
}


def _slug(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[\s\-/]+", "_", value.strip().lower())
    return value


class Component(BaseModel):
    """One visible part and the state it is in."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, description="e.g. 'slip nut', 'flapper', 'duplex receptacle'")
    state: str = Field(min_length=1, description="what it looks like: 'corroded', 'dripping', 'intact'")
    location: str | None = None


class LikelyFailure(BaseModel):
    """The most probable fault the image supports."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1)
    location: str | None = None
    confidence: Confidence = "low"

    @field_validator("confidence", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return _slug(value)


class Hazard(BaseModel):
    """A hazard the model actually sees (absent hazards are not listed)."""

    model_config = ConfigDict(extra="ignore")

    type: HazardType
    description: str = Field(min_length=1)

    @field_validator("type", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        value = _slug(value)
        return _HAZARD_SYNONYMS.get(value, value)


class Observation(BaseModel):
    """What Cosmos reports seeing; the only facts the procedure may build on."""

    model_config = ConfigDict(extra="ignore")

    fixture_type: str = Field(min_length=1, description="e.g. 'bathroom sink drain (P-trap)'")
    system: System
    components: list[Component] = Field(min_length=1)
    likely_failure: LikelyFailure | None = None
    hazards: list[Hazard] = Field(default_factory=list)
    uncertainties: list[str] = Field(
        default_factory=list, description="what the model cannot see or is unsure of"
    )

    @field_validator("system", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return _slug(value)

    def as_text(self) -> str:
        """The observation as plain sentences, for the guardrail's and the scorer's text matching.

        Uncertainties are left out: "cannot see whether there is a gas line" is not a gas line.
        """
        parts = [f"Fixture: {self.fixture_type}.", f"System: {self.system}."]
        for c in self.components:
            where = f" at {c.location}" if c.location else ""
            parts.append(f"Component: {c.name}{where}: {c.state}.")
        if self.likely_failure:
            where = f" at {self.likely_failure.location}" if self.likely_failure.location else ""
            parts.append(f"Likely failure{where}: {self.likely_failure.description}.")
        for h in self.hazards:
            parts.append(f"Hazard ({h.type}): {h.description}.")
        return "\n".join(parts)


OBSERVATION_JSON_SCHEMA = Observation.model_json_schema()

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)


class ObservationParseError(ValueError):
    """The answer held no valid observation; the message says why, for the re-ask."""


def strip_reasoning(text: str) -> str:
    """Drop `<think>...</think>` blocks (and an unclosed trailing one) and unwrap `<answer>` tags."""
    text = _THINK.sub("", text)
    lowered = text.lower()
    if "<think>" in lowered:  # reasoning cut off by max_tokens: nothing after it is an answer
        text = text[: lowered.index("<think>")]
    answer = _ANSWER.search(text)
    if answer:
        text = answer.group(1)
    return text.strip()


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model answer, after reasoning, code fences and chatter."""
    body = strip_reasoning(text)
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", body):
        try:
            obj, _ = decoder.raw_decode(body, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ObservationParseError("the answer contains no JSON object")


def parse_observation(text: str) -> Observation:
    """Validate a model answer against the observation schema, or raise ObservationParseError."""
    obj = extract_json_object(text)
    try:
        return Observation.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ObservationParseError(f"the JSON does not match the schema: {problems}") from exc
