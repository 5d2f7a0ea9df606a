"""Test data for the DIY assistant: observations and views of request bodies (the server is tests/fake_openai.py)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any


def observation_json(**overrides: Any) -> str:
    """A valid observation of a leaking P-trap, with fields replaced by `overrides`."""
    obs: dict[str, Any] = {
        "fixture_type": "bathroom sink drain (P-trap)",
        "system": "plumbing",
        "components": [
            {"name": "slip nut", "state": "water beading at the joint", "location": "trap arm"},
            {"name": "P-trap", "state": "white PVC, intact", "location": "under the sink"},
        ],
        "likely_failure": {
            "description": "worn slip-joint washer at the trap arm slip nut",
            "location": "trap arm slip nut",
            "confidence": "medium",
        },
        "hazards": [],
        "uncertainties": ["cannot see the pipe size markings"],
    }
    obs.update(overrides)
    return json.dumps(obs)


def user_text(body: dict[str, Any]) -> str:
    """All text the request's messages carry."""
    texts: list[str] = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(texts)


def part_types(body: dict[str, Any]) -> list[str]:
    return [p["type"] for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]]


@cache
def rules_only() -> Any:
    """The shipped rulebook without its lexical layer: for tests of what the hand-written rules do
    alone (the layer's own tests are in tests/diy/test_lexical.py). One per process: each new
    rulebook builds its own pattern index."""
    import dataclasses

    from cosmosctl.diy.guardrail import load_rules

    return dataclasses.replace(load_rules(), lexical=None)


def without_minilm(book: Any) -> Any:
    """`book` with the MiniLM opinion off (the rules and the lexical model as they are)."""
    import dataclasses

    assert book.lexical is not None
    return dataclasses.replace(book, lexical=dataclasses.replace(book.lexical, transformer_raise_at=None))


def withheld_alone_and_with_models(question: str) -> Any:
    """The rules alone withhold `question`'s job, and so does the whole guardrail (the models only ever
    raise): the rules-alone result, for further checks."""
    from cosmosctl.diy.guardrail import apply_guardrail

    alone = apply_guardrail(question, None, "", rules_only())
    assert alone.withheld, (question, alone.level, [f.rule for f in alone.fired])
    assert apply_guardrail(question, None, "").withheld, question
    return alone
