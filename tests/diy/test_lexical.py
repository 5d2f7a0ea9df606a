"""The guardrail's lexical layer: the shipped model, its features, and the limits the rules file sets
on how far it may move the rules' level (cosmosctl/diy/lexical.py, docs/diy-assistant.md)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from cosmosctl.diy import lexical
from cosmosctl.diy.guardrail import (
    NOT_A_DIY_JOB,
    FiredRule,
    LexicalSettings,
    RulesError,
    apply_guardrail,
    level_index,
    load_rules,
    parse_rules,
    read_yaml,
    with_lexical_opinion,
)
from cosmosctl.diy.guardrail_eval import load_guardrail_cases
from cosmosctl.diy.lexical import LexicalOpinion

from .fakes import rules_only
from .test_guardrail import CASES, DEV, RULES_PATH

SETTINGS = LexicalSettings(raise_at=0.7, lower_at=0.7, emergency={"gas": "gas_smell"})


def _fired(level: str, match: str, category: str = "electrical", rule: str = "electrical.work") -> FiredRule:
    return FiredRule(rule=rule, category=category, level=level, source="question", match=match)  # type: ignore[arg-type]


def _opinion(level: str, p: float, *categories: str, unknown: frozenset[str] = frozenset()) -> LexicalOpinion:
    return LexicalOpinion(level=level, confidence=p, categories=categories, unknown=unknown)


def _level(fired: list[FiredRule]) -> str:
    return max((f.level for f in fired), key=level_index, default="proceed")


def test_the_shipped_model_was_trained_on_the_shipped_cases() -> None:
    """Editing a case file without retraining (`python -m cosmosctl.diy.lexical tests/diy/cases/*.yaml`)
    fails here: the model records the SHA-256 of the files it learned from."""
    model = lexical.default_model()
    files = lexical.training_files(sorted(CASES.glob("*.yaml")))
    assert model.trained_on == lexical.cases_digest(files)
    # the rounds kept to measure it are not training data
    held = sorted(p.name for p in CASES.glob("*.yaml") if lexical.held_out(p))
    assert held == [f"guardrail_heldout_round{r}.yaml" for r in (76, 77, 78, 79)]
    assert model.cases == sum(len(read_yaml(f.read_text(encoding="utf-8"))["cases"]) for f in files) > 15_000
    assert model.categories == tuple(c for c in load_rules().categories if c != "general")
    assert lexical.MODEL_PATH.stat().st_size < 4_000_000  # packaged with the client


def test_features_are_what_scikit_learn_computes() -> None:
    """The per-text features skip scikit-learn's per-call checks; they must equal its transform."""
    model = lexical.default_model()
    texts = [
        "There's a gas smell in the kitchen and the cat is hiding",
        "how do i swap the fuse board for a consumer unit with RCBOs??",
        "",
        "1. Turn the power off at the consumer unit.\n2. Remove the cover.\n" * 3,
        "zorblat flumph 12345",
    ]
    for block in model.blocks:
        for text in texts:
            expected = block.vectorizer.transform([text]).toarray().ravel() * block.weight
            columns, values = block.features(block.analyzer(text))
            got = np.zeros_like(expected)
            got[columns] = values
            assert np.abs(got - expected).max() < 1e-6, (block.source, text)


def test_the_model_rates_plain_jobs_as_a_reviewer_would() -> None:
    model = lexical.default_model()
    gas = model.opinion("I can smell gas in the hallway and it's getting stronger", "", "")
    assert (gas.level, gas.categories[:1]) == ("emergency", ("gas",)) and gas.confidence > 0.9
    panel = model.opinion("can I swap my old fuse box for a new consumer unit myself?", "", "")
    assert panel.level == "professional_only" and "electrical" in panel.categories
    tap = model.opinion("my kitchen tap drips, how do I change the washer?", "", "")
    assert tap.level == "proceed" and tap.categories == ()
    assert "zorblat" in model.opinion("how do I rewire the zorblat", "", "").unknown


def test_it_raises_when_sure_enough_and_never_below_the_rules() -> None:
    fired = [_fired("caution", "swap the light switch")]
    raised = with_lexical_opinion(fired, _opinion("professional_only", 0.8, "electrical"), SETTINGS)
    assert _level(raised) == "professional_only"
    assert [(f.rule, f.source, f.category) for f in raised[1:]] == [
        ("lexical.professional_only", "lexical", "electrical")
    ]
    assert with_lexical_opinion(fired, _opinion("professional_only", 0.69, "electrical"), SETTINGS) == fired
    # a raise with no category of its own takes the rules' categories, or general
    assert {f.category for f in with_lexical_opinion(fired, _opinion("emergency", 0.9), SETTINGS)} == {
        "electrical"
    }
    assert [f.category for f in with_lexical_opinion([], _opinion("caution", 0.9), SETTINGS)] == ["general"]


def test_it_lowers_only_a_default_deny_and_only_about_things_it_knows() -> None:
    deny = [_fired("professional_only", f"immersion heater{NOT_A_DIY_JOB}"), _fired("caution", "switch")]
    to_caution = with_lexical_opinion(deny, _opinion("caution", 0.83, "electrical"), SETTINGS)
    assert _level(to_caution) == "caution"
    assert ("lexical.caution", "electrical") in [(f.rule, f.category) for f in to_caution]
    assert not any(f.match.endswith(NOT_A_DIY_JOB) for f in to_caution)
    # never below what a recognised DIY job gets from the same rules: caution, with the category
    to_proceed = with_lexical_opinion(deny, _opinion("proceed", 0.9), SETTINGS)
    assert _level(to_proceed) == "caution" and deny[1] in to_proceed
    assert ("lexical.caution", "electrical") in [(f.rule, f.category) for f in to_proceed]
    # not sure enough
    assert with_lexical_opinion(deny, _opinion("proceed", 0.69), SETTINGS) == deny
    # a word of the default-deny match the model never saw
    unknown = with_lexical_opinion(
        deny, _opinion("proceed", 0.99, unknown=frozenset({"immersion"})), SETTINGS
    )
    assert unknown == deny
    # nor a word it never saw that the rules' typo fixes read as a word of the match
    typo = _opinion("proceed", 0.99, unknown=frozenset({"imersion"}))
    fixed = {"imersion": "immersion"}
    assert with_lexical_opinion(deny, typo, SETTINGS, lambda w: fixed.get(w, w)) == deny
    # a rule that named the danger is never lowered, alone or beside a default-deny
    named = [_fired("professional_only", "replace the consumer unit", rule="electrical.panel-change")]
    assert with_lexical_opinion(named, _opinion("proceed", 0.99), SETTINGS) == named
    assert with_lexical_opinion(named + deny, _opinion("proceed", 0.99), SETTINGS) == named + deny
    emergency = [_fired("emergency", "gas smell", category="gas", rule="gas.smell-named")]
    assert with_lexical_opinion(emergency, _opinion("proceed", 0.99), SETTINGS) == emergency


def test_the_rules_file_sets_the_limits() -> None:
    data = read_yaml(RULES_PATH.read_text(encoding="utf-8"))
    book = load_rules()
    assert (
        book.lexical is not None and 0.5 <= book.lexical.raise_at <= 1 and 0.5 <= book.lexical.lower_at <= 1
    )
    assert set(book.lexical.emergency) == set(book.categories) - {"general"}
    for bad, message in (
        ({"raise_at": 0.3}, "lexical.raise_at must be a probability from 0.5 to 1"),
        ({"lower_at": 1.5}, "lexical.lower_at must be a probability from 0.5 to 1"),
        ({"emergency": {"gas": "no_such_steps"}}, "names an unknown category or emergency"),
        ({"emergency": {"plumbing": "general"}}, "names an unknown category or emergency"),
    ):
        changed: dict[str, Any] = {**data, "lexical": {**data["lexical"], **bad}}
        with pytest.raises(RulesError, match=message):
            parse_rules(changed)
    del data["lexical"]
    assert parse_rules(data).lexical is None  # the rules alone decide


def test_a_raise_to_emergency_shows_that_emergencys_steps() -> None:
    question = "Drilled into a pipe and water is pouring out, it's hissing"
    assert apply_guardrail(question, None, "", rules_only()).level != "emergency"
    result = apply_guardrail(question, None, "")
    assert result.level == "emergency" and result.withheld
    assert [f.rule for f in result.fired if f.source == "lexical"] == ["lexical.emergency"]
    book = load_rules()
    first = book.emergencies[book.lexical.emergency[result.categories[0]]][0]  # type: ignore[union-attr]
    assert first.split("{")[0] in result.answer
    assert "A model trained on labelled home-repair questions rates this job emergency." in result.answer


def test_a_default_deny_the_model_clears_shows_the_procedure_with_the_notice() -> None:
    question = (
        "Immersion heater isn't heating the water. The switch on the wall is on and the light is on. "
        "Is there anything I can check before calling someone?"
    )
    alone = apply_guardrail(question, None, "", rules_only())
    assert alone.withheld and all(
        f.match.endswith(NOT_A_DIY_JOB) for f in alone.fired if f.level == alone.level
    )
    draft = "Check the thermostat setting on the cylinder and whether the timer is on."
    result = apply_guardrail(question, None, draft)
    assert result.level == "caution" and not result.withheld and draft in result.answer
    assert "electrical" in result.categories and result.notices


@pytest.mark.parametrize(
    "question",
    [
        # found by review: default-deny rules that name a danger (a crack, a meter), a typo of the thing
        "crack in the gable wall, how do I fill it before painting?",
        "crack in the basement wall, what's the best sealer?",
        "how do I paint the electricity meter box",
        "how do I paint the electrcity metre box",
    ],
)
def test_a_cleared_default_deny_keeps_its_category_notice_and_leave_or_call_line(question: str) -> None:
    alone = apply_guardrail(question, None, "", rules_only())
    assert alone.withheld
    result = apply_guardrail(question, None, "")
    assert result.level in ("caution", "professional_only")
    assert set(alone.categories) <= set(result.categories) and result.notices
    standing = [line for line in alone.answer.splitlines() if line.startswith("> **If ")]
    assert standing and all(line in result.answer for line in standing)


def test_a_typo_of_the_thing_the_model_never_saw_keeps_the_withhold() -> None:
    question = "how do I paint the electrcity metre box"
    assert "electrcity" in lexical.default_model().opinion(question, "", "").unknown
    assert apply_guardrail(question, None, "").withheld


def test_on_real_cases_it_never_lowers_a_rule_that_named_a_danger() -> None:
    """Over a sample of development and held-out cases written by others: wherever the lexical layer
    ends lower than the rules alone, every rule at the rules' level was a default-deny."""
    book, alone = load_rules(), rules_only()
    cases = [c for _, c in load_guardrail_cases([*DEV, *sorted(CASES.glob("*round6?.yaml"))], book)]
    lowered = 0
    for case in random.Random(10).sample(cases, 200):
        args = (case.question, None, case.draft)
        before = apply_guardrail(*args, alone, perception_text=case.perception)
        after = apply_guardrail(*args, book, perception_text=case.perception)
        if level_index(after.level) < level_index(before.level):
            lowered += 1
            assert all(f.match.endswith(NOT_A_DIY_JOB) for f in before.fired if f.level == before.level), (
                case.id
            )
    assert lowered > 0
