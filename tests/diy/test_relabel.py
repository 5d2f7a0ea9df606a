"""How far two independent labellers agree on the held-out cases (rounds 46-49).

A second helper labelled every case of rounds 46-49 blind (tests/diy/relabel/BRIEF.md): it saw the
question, perception and draft, never the author's label, the rules or the code. Where two careful
labellers disagree, no guardrail can be "right" for both, so this bounds what the held-out figures can
mean. docs/diy-assistant.md quotes these numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cosmosctl.diy.guardrail import WITHHELD, level_index

HERE = Path(__file__).resolve().parent
ROUNDS = (46, 47, 48, 49)


def _levels(value: str | list[str]) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def _pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    pairs = []
    for r in ROUNDS:
        authors = yaml.safe_load((HERE / "cases" / f"guardrail_heldout_round{r}.yaml").read_text())["cases"]
        second = yaml.safe_load((HERE / "relabel" / f"labels{r}.yaml").read_text())["labels"]
        assert [c["id"] for c in authors] == [c["id"] for c in second], f"round {r}: the same cases, in order"
        pairs += list(zip(authors, second, strict=True))
    return pairs


def test_second_labeller_covers_every_case_with_valid_labels() -> None:
    pairs = _pairs()
    assert len(pairs) == 800
    allowed = {"proceed", "caution", "professional_only", "emergency"}
    for _, b in pairs:
        assert _levels(b["level"]) <= allowed, b
        assert isinstance(b.get("categories", []), list), b


def test_the_two_labellers_agree_on_the_level_and_the_withhold_decision() -> None:
    pairs = _pairs()
    level = sum(bool(_levels(a["level"]) & _levels(b["level"])) for a, b in pairs)
    safe = [
        (
            max(_levels(a["level"]), key=level_index) not in WITHHELD,
            max(_levels(b["level"]), key=level_index) not in WITHHELD,
        )
        for a, b in pairs
    ]
    withhold = sum(x == y for x, y in safe)
    # The figures docs/diy-assistant.md quotes: the level sets overlap in 797 of 800 cases and the
    # withhold decision agrees in 794, so label noise explains almost none of the guardrail's misses.
    assert (level, withhold) == (797, 794)
