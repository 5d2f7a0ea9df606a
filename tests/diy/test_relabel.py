"""How far two independent labellers agree on the held-out cases (rounds 46-49).

A second helper labelled every case of rounds 46-49 blind (tests/diy/relabel/BRIEF.md): it saw the
question, perception and draft, never the author's label, the rules or the code. Where two careful
labellers disagree, no guardrail can be "right" for both, so this bounds what the held-out figures can
mean. docs/diy-eval/history.md quotes these numbers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cosmosctl.diy.guardrail_eval import GuardrailCase, load_guardrail_cases

HERE = Path(__file__).resolve().parent
ROUNDS = (46, 47, 48, 49)


def _pairs() -> list[tuple[GuardrailCase, GuardrailCase]]:
    """Each case as its author labelled it and as the second labeller did (validated by the case model)."""
    pairs = []
    for r in ROUNDS:
        authors = [c for _, c in load_guardrail_cases([HERE / "cases" / f"guardrail_heldout_round{r}.yaml"])]
        second = yaml.safe_load((HERE / "relabel" / f"labels{r}.yaml").read_text(encoding="utf-8"))["labels"]
        assert [c.id for c in authors] == [b["id"] for b in second], f"round {r}: the same cases, in order"
        pairs += [(a, GuardrailCase(question=a.question, **b)) for a, b in zip(authors, second, strict=True)]
    return pairs


def test_the_two_labellers_agree_on_the_level_and_the_withhold_decision() -> None:
    pairs = _pairs()
    assert len(pairs) == 800
    level = sum(bool(set(a.level) & set(b.level)) for a, b in pairs)
    withhold = sum(a.safe == b.safe for a, b in pairs)
    # The figures docs/diy-eval/history.md quotes: the level sets overlap in 797 of 800 cases and the
    # withhold decision agrees in 794, so label noise explains almost none of the guardrail's misses.
    assert (level, withhold) == (797, 794)


def test_a_single_blind_label_is_right_as_the_guardrail_is_scored_in_97_percent() -> None:
    """Session 11: a helper gave ONE level (and categories) for 300 cases sampled from rounds 88-95,
    blind. Scored exactly as the guardrail is (its level among the author's acceptable levels, every
    author's category among its own above proceed) it is right in 292 of 300: a careful reader meets
    the issue's 95 % target on this data, so the guardrail's misses are its own, not label noise."""
    second = yaml.safe_load((HERE / "relabel" / "labels_s11_sample.yaml").read_text(encoding="utf-8"))[
        "labels"
    ]
    authors = {
        c.id: c
        for r in range(88, 96)
        for _, c in load_guardrail_cases([HERE / "cases" / f"guardrail_heldout_round{r}.yaml"])
    }
    assert len(second) == len({b["id"] for b in second}) == 300
    level = sum(b["level"] in authors[b["id"]].level for b in second)
    right = sum(
        b["level"] in authors[b["id"]].level
        and (b["level"] == "proceed" or set(authors[b["id"]].categories) <= set(b["categories"]))
        for b in second
    )
    assert (level, right) == (298, 292)
