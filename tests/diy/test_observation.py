"""Pulling a valid observation out of a Cosmos answer."""

from __future__ import annotations

import json

import pytest

from cosmosctl.diy.observation import (
    Observation,
    ObservationParseError,
    extract_json_object,
    parse_observation,
    strip_reasoning,
)

from .fakes import observation_json


def test_plain_json() -> None:
    obs = parse_observation(observation_json())
    assert obs.fixture_type == "bathroom sink drain (P-trap)"
    assert [c.name for c in obs.components] == ["slip nut", "P-trap"]
    assert obs.likely_failure is not None and obs.likely_failure.confidence == "medium"


def test_think_block_fences_and_chatter_are_stripped() -> None:
    text = (
        "<think>\nThe joint at the trap arm looks wet {maybe}.\n</think>\n\n"
        "Here is the observation:\n```json\n" + observation_json() + "\n```\nHope this helps."
    )
    assert parse_observation(text).system == "plumbing"


def test_answer_tags_are_unwrapped() -> None:
    text = "<think>reasoning</think>\n<answer>\n" + observation_json() + "\n</answer>"
    assert parse_observation(text).components[0].name == "slip nut"


def test_unclosed_think_means_no_answer() -> None:
    with pytest.raises(ObservationParseError, match="no JSON object"):
        parse_observation("<think>I was cut off " + observation_json())
    assert strip_reasoning("before <think> cut off") == "before"


def test_first_object_wins_and_invalid_braces_are_skipped() -> None:
    text = "Parts {like this} then " + observation_json() + ' and {"other": 1}'
    assert extract_json_object(text)["system"] == "plumbing"


def test_enum_spellings_are_normalised() -> None:
    obs = parse_observation(
        observation_json(
            system="Plumbing",
            hazards=[{"type": "Water near electricity", "description": "drip onto a cord"}],
            likely_failure={"description": "worn washer", "confidence": "HIGH"},
        )
    )
    assert obs.system == "plumbing"
    assert obs.hazards[0].type == "water_near_electricity"
    assert obs.likely_failure is not None and obs.likely_failure.confidence == "high"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I see a sink with a leaking trap.", "no JSON object"),
        ('{"fixture_type": "sink"}', "system"),
        (observation_json(components=[]), "components"),
        (observation_json(system="plumbing and more"), "system"),
        (observation_json(hazards=[{"type": "ghosts", "description": "boo"}]), "hazards.0.type"),
    ],
)
def test_invalid_answers_say_why(text: str, message: str) -> None:
    with pytest.raises(ObservationParseError, match=message):
        parse_observation(text)


def test_as_text_leaves_out_uncertainties() -> None:
    obs = Observation.model_validate(
        json.loads(observation_json(uncertainties=["cannot see whether a gas line is behind it"]))
    )
    text = obs.as_text()
    assert "slip nut at trap arm: water beading at the joint." in text
    assert "gas" not in text
