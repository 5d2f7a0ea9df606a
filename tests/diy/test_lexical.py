"""The guardrail's lexical layer: the shipped model, its features, and the limits the rules file sets
on how far it may move the rules' level (cosmosctl/diy/lexical.py, docs/diy-assistant.md)."""

from __future__ import annotations

import random
from dataclasses import replace
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

SETTINGS = LexicalSettings(
    raise_at=0.7,
    lower_at={"default_deny": 0.7, "caution": 0.7, "professional_only": 0.9, "emergency": 0.9},
    withhold_to_proceed=0.8,
    categories_at=0.5,
    emergency={"gas": "gas_smell"},
)


def _fired(level: str, match: str, category: str = "electrical", rule: str = "electrical.work") -> FiredRule:
    return FiredRule(rule=rule, category=category, level=level, source="question", match=match)  # type: ignore[arg-type]


def _opinion(
    level: str,
    p: float,
    *categories: str,
    unknown: frozenset[str] = frozenset(),
    category_p: tuple[tuple[str, float], ...] = (),
) -> LexicalOpinion:
    return LexicalOpinion(
        level=level, confidence=p, categories=categories, unknown=unknown, category_p=category_p
    )


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
    # ... or, with neither, the category it rates likeliest, though below even odds
    unsure = _opinion("professional_only", 0.9, category_p=(("roofing_falls", 0.41), ("structural", 0.2)))
    assert [f.category for f in with_lexical_opinion([], unsure, SETTINGS)] == ["roofing_falls"]


def test_it_lowers_a_default_deny_when_sure_and_only_about_things_it_knows() -> None:
    deny = [_fired("professional_only", f"immersion heater{NOT_A_DIY_JOB}"), _fired("caution", "switch")]
    to_caution = with_lexical_opinion(deny, _opinion("caution", 0.83, "electrical"), SETTINGS)
    assert _level(to_caution) == "caution"
    # the lowered rule stays in `fired`, at the new level, saying what it was
    assert [(f.rule, f.level, f.lowered_from) for f in to_caution] == [
        ("electrical.work", "caution", "professional_only"),
        ("electrical.work", "caution", None),
    ]
    assert "lexical model: caution (p=0.83)" in to_caution[0].match
    # a withhold goes below caution only when the model is surer (withhold_to_proceed)
    assert _level(with_lexical_opinion(deny, _opinion("proceed", 0.79), SETTINGS)) == "caution"
    to_proceed = with_lexical_opinion(deny, _opinion("proceed", 0.85), SETTINGS)
    assert _level(to_proceed) == "proceed"
    assert [f.lowered_from for f in to_proceed] == ["professional_only", "caution"]
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


def test_a_named_danger_is_lowered_only_when_the_model_is_very_sure() -> None:
    named = [_fired("professional_only", "replace the consumer unit", rule="electrical.panel-change")]
    assert with_lexical_opinion(named, _opinion("proceed", 0.89), SETTINGS) == named
    assert _level(with_lexical_opinion(named, _opinion("proceed", 0.9), SETTINGS)) == "proceed"
    emergency = [_fired("emergency", "gas smell", category="gas", rule="gas.smell-named")]
    assert with_lexical_opinion(emergency, _opinion("proceed", 0.89), SETTINGS) == emergency
    lowered = with_lexical_opinion(emergency, _opinion("professional_only", 0.95, "gas"), SETTINGS)
    assert [(f.level, f.lowered_from) for f in lowered] == [("professional_only", "emergency")]
    # every level lowered needs its own threshold: a caution rule under the withhold too
    strict = replace(SETTINGS, lower_at={**SETTINGS.lower_at, "caution": 0.99})
    both = [*named, _fired("caution", "switch")]
    assert with_lexical_opinion(both, _opinion("proceed", 0.95), strict) == both
    assert _level(with_lexical_opinion(both, _opinion("caution", 0.95), strict)) == "caution"
    # a level the rules file does not list is never lowered
    never = replace(SETTINGS, lower_at={"caution": 0.7})
    assert with_lexical_opinion(named, _opinion("proceed", 0.999), never) == named
    assert with_lexical_opinion(emergency, _opinion("proceed", 0.999), never) == emergency


def test_its_categories_join_the_rules_on_a_hazard_job() -> None:
    gas = [_fired("professional_only", "service the boiler", category="gas", rule="gas.appliance")]
    scores = (("gas", 0.97), ("carbon_monoxide", 0.62), ("electrical", 0.31))
    joined = with_lexical_opinion(gas, _opinion("professional_only", 0.9, category_p=scores), SETTINGS)
    assert [(f.rule, f.category, f.level) for f in joined[1:]] == [
        ("lexical.category", "carbon_monoxide", "professional_only")
    ]
    # not on a job with no hazard level, and not when the rules file sets no threshold
    assert with_lexical_opinion([], _opinion("proceed", 0.9, category_p=scores), SETTINGS) == []
    assert (
        with_lexical_opinion(
            gas, _opinion("caution", 0.6, category_p=scores), replace(SETTINGS, categories_at=None)
        )
        == gas
    )


def test_the_rules_file_sets_the_limits() -> None:
    data = read_yaml(RULES_PATH.read_text(encoding="utf-8"))
    book = load_rules()
    assert book.lexical is not None and 0.5 <= book.lexical.raise_at <= 1
    assert set(book.lexical.lower_at) <= {"default_deny", "caution", "professional_only", "emergency"}
    assert all(0.5 <= p <= 1 for p in book.lexical.lower_at.values())
    # a named danger needs more certainty than the default-deny, and a withhold more to reach proceed
    assert book.lexical.lower_at["professional_only"] > book.lexical.lower_at["default_deny"]
    assert book.lexical.withhold_to_proceed > book.lexical.lower_at["default_deny"]
    assert set(book.lexical.emergency) == set(book.categories) - {"general"}
    for bad, message in (
        ({"raise_at": 0.3}, "lexical.raise_at must be a probability from 0.5 to 1"),
        ({"lower_at": 0.7}, "lexical.lower_at must map a level"),
        ({"lower_at": {"caution": 1.5}}, "lexical.lower_at.caution must be a probability from 0.5 to 1"),
        ({"lower_at": {"proceed": 0.7}}, "is not caution, professional_only, emergency or default_deny"),
        ({"categories_at": 0.2}, "lexical.categories_at must be a probability from 0.5 to 1"),
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
def test_a_cleared_default_deny_keeps_its_leave_or_call_line(question: str) -> None:
    """Cleared to caution, the job keeps its category and notice; to proceed (only when the model is
    surer, `withhold_to_proceed`) it loses them as a plain job does, but never the leave-or-call line."""
    book = load_rules()
    assert book.lexical is not None
    alone = apply_guardrail(question, None, "", rules_only())
    assert alone.withheld
    result = apply_guardrail(question, None, "")
    standing = [line for line in alone.answer.splitlines() if line.startswith("> **If ")]
    assert standing and all(line in result.answer for line in standing)
    if result.level == "proceed":
        assert (
            lexical.default_model().opinion(question, "", "").confidence >= book.lexical.withhold_to_proceed
        )
        assert not result.categories and not result.notices
    else:
        assert set(alone.categories) <= set(result.categories) and result.notices


def test_it_lowers_nothing_the_vision_model_flagged() -> None:
    """A hazard in Cosmos's structured observation is not the lexical model's to lower (it learned from
    free-text perceptions); it may still raise."""
    emergency = [_fired("emergency", "drip onto a power strip", category="water_electricity")]
    opinion = _opinion("proceed", 0.99)
    assert with_lexical_opinion(emergency, opinion, SETTINGS, may_lower=False) == emergency
    assert _level(with_lexical_opinion(emergency, opinion, SETTINGS)) == "proceed"
    caution = [_fired("caution", "swap the light switch")]
    raised = with_lexical_opinion(caution, _opinion("professional_only", 0.9), SETTINGS, may_lower=False)
    assert _level(raised) == "professional_only"


def test_a_typo_of_the_thing_the_model_never_saw_keeps_the_withhold() -> None:
    question = "how do I paint the electrcity metre box"
    assert "electrcity" in lexical.default_model().opinion(question, "", "").unknown
    assert apply_guardrail(question, None, "").withheld


@pytest.mark.parametrize(
    "question",
    [
        "my flatmate is a total gas leak lol. how do i unclog the shower drain",
        "fridge smells like gas??? nvm its the leftover curry. how do i clean the mouldy door seal",
    ],
)
def test_an_emergency_word_in_a_harmless_sense_is_lowered_but_the_leave_or_call_line_leads(
    question: str,
) -> None:
    alone = apply_guardrail(question, None, "", rules_only())
    assert alone.level == "emergency"
    result = apply_guardrail(question, None, "")
    assert not result.withheld and not result.categories
    assert any(f.lowered_from == "emergency" for f in result.fired)
    first = result.answer.splitlines()[0]
    assert first.startswith("> **If you smell gas") and "leave" in first


def test_on_real_cases_it_lowers_only_within_the_rules_files_limits() -> None:
    """Over a sample of development and held-out cases written by others: wherever the lexical layer
    ends lower than the rules alone, the model was at least as sure as the rules file asks for every
    level it lowered, a withhold went below caution only at `withhold_to_proceed`, and the answer
    still carries the leave-or-call line of every emergency it lowered."""
    book, alone = load_rules(), rules_only()
    assert book.lexical is not None
    cases = [c for _, c in load_guardrail_cases([*DEV, *sorted(CASES.glob("*round6?.yaml"))], book)]
    lowered = named = 0
    for case in random.Random(10).sample(cases, 200):
        args = (case.question, None, case.draft)
        before = apply_guardrail(*args, alone, perception_text=case.perception)
        after = apply_guardrail(*args, book, perception_text=case.perception)
        if level_index(after.level) >= level_index(before.level):
            continue
        lowered += 1
        p = lexical.default_model().opinion(case.question, case.perception or "", case.draft or "").confidence
        top = [f for f in before.fired if f.level == before.level]
        deny = before.withheld and all(f.match.endswith(NOT_A_DIY_JOB) for f in top)
        named += not deny
        assert p >= book.lexical.lower_at["default_deny" if deny else before.level], case.id
        if before.withheld and after.level == "proceed":
            assert p >= book.lexical.withhold_to_proceed, case.id
        if before.level == "emergency":
            assert after.answer.startswith("> **If "), case.id
    assert lowered > 0 and named > 0
