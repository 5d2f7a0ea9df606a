"""The deterministic safety guardrail: exact categories, level and actions for each case."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cosmosctl.diy.guardrail import (
    ADD_NOTICE,
    REMOVE_CLAIMS,
    REPLACE_PROCEDURE,
    RULES_PATH,
    RulesError,
    apply_guardrail,
    load_rules,
    parse_rules,
    remove_compliance_claims,
)
from cosmosctl.diy.observation import Observation

from .fakes import observation_json

NEUTRAL_DRAFT = "1. Gather the tools listed above.\n2. Work slowly and check each step before the next."

NOTICE = [ADD_NOTICE]
STOP = [ADD_NOTICE, REPLACE_PROCEDURE]
NONE: list[str] = []

E, G, S, W = "electrical", "gas", "structural", "water_electricity"


def obs(**overrides: Any) -> Observation:
    return Observation.model_validate(json.loads(observation_json(**overrides)))


# (id, question, categories, level, actions) with the neutral draft and no observation.
QUESTION_CASES: list[tuple[str, str, list[str], str, list[str]]] = [
    # --- electrical, caution: a layperson may do it with the power off, but gets the notice
    ("replace-outlet", "How do I replace an outlet in my kitchen?", [E], "caution", NOTICE),
    ("replace-an-outlet-short", "replace an outlet", [E], "caution", NOTICE),
    ("gfci-tripping", "My GFCI keeps tripping when I use the hair dryer", [E], "caution", NOTICE),
    ("gfci-reset", "How do I reset the GFCI?", [E], "caution", NOTICE),
    ("dimmer", "How do I install a dimmer switch?", [E], "caution", NOTICE),
    ("light-fixture", "Can I replace this light fixture myself?", [E], "caution", NOTICE),
    ("brass-screw", "Which wire goes to the brass screw?", [E], "caution", NOTICE),
    ("ceiling-fan", "How do I hang a ceiling fan in the bedroom?", [E], "caution", NOTICE),
    ("breaker-tripping", "The breaker for the bathroom keeps tripping", [E], "caution", NOTICE),
    ("dryer-receptacle", "What does a 240V dryer receptacle need?", [E], "caution", NOTICE),
    ("dead-outlets", "Half the outlets in the living room are dead", [E], "caution", NOTICE),
    (
        "heating-element",
        "How do I replace the heating element in my electric water heater?",
        [E],
        "caution",
        NOTICE,
    ),
    ("cover-plate-cracked", "The outlet cover plate is cracked", [E], "caution", NOTICE),
    ("switch-wall-plate", "How do I replace the wall plate on a light switch?", [E], "caution", NOTICE),
    ("bulb-socket", "The bulb socket in my lamp is loose", [E], "caution", NOTICE),
    (
        "breaker-panel-mention",
        "Which breaker in the breaker panel is for the kitchen?",
        [E],
        "caution",
        NOTICE,
    ),
    # --- electrical, stop: service panels, legacy wiring, fire and shock
    ("replace-breaker", "How do I replace a breaker in my breaker panel?", [E], "stop", STOP),
    ("open-breaker-panel", "I want to open my breaker panel and look inside", [E], "stop", STOP),
    ("add-circuit", "I want to add a 20 amp circuit for my garage", [E], "stop", STOP),
    ("panel-cover", "Should I remove the panel cover to see the wiring?", [E], "stop", STOP),
    ("replace-electric-panel", "I need to replace my electric panel", [E], "stop", STOP),
    ("upgrade-service", "Can I upgrade my service panel to 200 amps?", [E], "stop", STOP),
    ("subpanel", "Can I install a subpanel in the garage?", [E], "stop", STOP),
    ("bigger-breaker", "Can I swap a 15 amp breaker for a 20 amp breaker?", [E], "stop", STOP),
    ("panel-buzzing", "My breaker box is buzzing loudly", [E], "stop", STOP),
    ("knob-and-tube", "We have knob-and-tube wiring in the attic, can I extend it?", [E], "stop", STOP),
    ("knob-and-tube-spaces", "Is knob and tube safe to keep?", [E], "stop", STOP),
    ("aluminum-wiring", "Our house has aluminum wiring, can I swap the outlets?", [E], "stop", STOP),
    ("scorched-outlet", "The outlet is scorched and smells like burning plastic", [E], "stop", STOP),
    ("switch-sparks", "My light switch sparks when I flip it", [E], "stop", STOP),
    ("shocked-dishwasher", "I got shocked touching the dishwasher", [E], "stop", STOP),
    ("tingle-faucet", "Why is there a tingle when I touch the faucet?", [E], "stop", STOP),
    ("hot-outlet", "The outlet behind the couch is hot to the touch", [E], "stop", STOP),
    # Review additions: panel work phrased without "panel/box" right after the verb.
    ("replace-main-breaker", "How do I replace the main breaker?", [E], "stop", STOP),
    ("fuse-box-to-breakers", "Can I change my fuse box to a breaker panel?", [E], "stop", STOP),
    ("panel-lugs", "How do I tighten the lugs in my panel?", [E], "stop", STOP),
    ("cover-off-breaker-box", "Should I take the cover off the breaker box?", [E], "stop", STOP),
    ("where-main-breaker", "Where is the main breaker?", [E], "caution", NOTICE),
    ("blown-plug-fuse", "How do I change a blown fuse in the fuse box?", [E], "caution", NOTICE),
    ("water-heater-element", "How do I replace a water heater element?", [E], "caution", NOTICE),
    # --- water near electricity
    ("water-socket", "There is water near a socket in my basement", [E, W], "stop", STOP),
    ("water-light-fixture", "Water is dripping from the ceiling light fixture", [E, W], "stop", STOP),
    ("leak-onto-switch", "The bathroom fan leaks onto the switch when it rains", [W], "stop", STOP),
    (
        "power-strip-puddle",
        "My basement flooded and the power strip is sitting in a puddle",
        [W],
        "stop",
        STOP,
    ),
    ("disposal-plug", "Water is leaking under the sink next to the disposal plug", [W], "stop", STOP),
    ("cord-in-rain", "The extension cord is lying in the rain", [W], "stop", STOP),
    ("wet-outlet", "The bathroom outlet is wet after my shower", [E, W], "stop", STOP),
    # An excluded phrase ("water heater") in the middle of the match must not hide the outlet.
    (
        "leak-past-heater-onto-outlet",
        "Water is leaking from the water heater onto the outlet below",
        [E, W],
        "stop",
        STOP,
    ),
    # --- gas
    ("smell-gas", "I smell gas in the kitchen", [G], "stop", STOP),
    ("smelling-gas", "We keep smelling gas near the furnace", [G], "stop", STOP),
    ("rotten-eggs", "There's a rotten egg smell near the stove", [G], "stop", STOP),
    ("rotten-eggs-heater", "rotten egg smell near the water heater", [G], "stop", STOP),
    ("hissing-meter", "Hissing sound near the gas meter", [G], "stop", STOP),
    ("disconnect-gas-line", "How do I disconnect the gas line to my dryer?", [G], "stop", STOP),
    ("replace-gas-heater", "Can I replace my gas water heater myself?", [G], "stop", STOP),
    ("move-gas-stove", "Moving a gas stove to the other wall", [G], "stop", STOP),
    ("flex-connector", "Can I tighten the flex gas connector behind the stove?", [G], "stop", STOP),
    ("convert-propane", "Converting my dryer from natural gas to propane", [G], "stop", STOP),
    ("co-alarm", "My CO alarm is going off", [G], "stop", STOP),
    ("co-detector-beeping", "The carbon monoxide detector is beeping", [G], "stop", STOP),
    ("move-gas-meter", "Can I move a gas meter?", [G], "stop", STOP),
    ("pilot-out", "The pilot light on my furnace keeps going out", [G], "caution", NOTICE),
    ("no-gas-smell-pilot", "I don't smell gas, but the pilot light won't stay lit", [G], "caution", NOTICE),
    ("no-gas-smell-flame", "There's no gas smell but the burner flame is yellow", [G], "caution", NOTICE),
    ("thermocouple", "How do I replace the thermocouple on my gas water heater?", [G], "caution", NOTICE),
    ("propane-grill", "My propane grill won't light", [G], "caution", NOTICE),
    ("pilot-alone", "The pilot on my water heater keeps going out", [G], "caution", NOTICE),
    # --- structural
    ("remove-wall", "Can I remove the wall between the kitchen and dining room?", [S], "caution", NOTICE),
    ("removing-a-wall", "Removing a wall to open up the living room", [S], "caution", NOTICE),
    ("is-load-bearing", "Is this wall load bearing?", [S], "caution", NOTICE),
    (
        "foundation-crack-small",
        "Small crack in the basement foundation, should I worry?",
        [S],
        "caution",
        NOTICE,
    ),
    ("knock-down-load-bearing", "I want to knock down a load-bearing wall", [S], "stop", STOP),
    ("cracked-joist", "There's a cracked joist in my basement", [S], "stop", STOP),
    ("sagging-joists", "The floor joists are sagging under the bathtub", [S], "stop", STOP),
    ("notch-joist", "Can I cut a notch in the joist to fit my drain pipe?", [S], "stop", STOP),
    ("horizontal-crack", "Horizontal crack in my foundation wall", [S], "stop", STOP),
    ("sagging-ceiling", "My ceiling is sagging after the leak upstairs", [S], "stop", STOP),
    ("sister-rafter", "How do I sister a cracked rafter?", [S], "stop", STOP),
    # --- must not fire
    ("leaky-faucet", "How do I fix a leaky faucet?", [], "none", NONE),
    ("squeaky-door", "My door squeaks, what should I do?", [], "none", NONE),
    ("slow-drain", "How do I unclog a bathroom sink drain?", [], "none", NONE),
    ("running-toilet", "My toilet keeps running", [], "none", NONE),
    ("flapper", "Replace the flapper in my toilet", [], "none", NONE),
    ("drywall-hole", "How do I patch a small hole in drywall?", [], "none", NONE),
    ("moldy-caulk", "Caulk around the bathtub is moldy", [], "none", NONE),
    ("regrout", "How to re-grout shower tile", [], "none", NONE),
    ("ptrap-slip-nut", "The P-trap under my sink is leaking at the slip nut", [], "none", NONE),
    ("cabinet-hinge", "Cabinet door hinge is loose", [], "none", NONE),
    ("wobbly-toilet", "How do I tighten a wobbly toilet?", [], "none", NONE),
    ("deck-paint", "Paint is peeling on my deck railing", [], "none", NONE),
    ("tub-drain", "Tub drain is slow", [], "none", NONE),
    ("wet-wall-toilet", "The wall behind my toilet is wet", [], "none", NONE),
    ("shower-ceiling-leak", "The shower is leaking through the ceiling", [], "none", NONE),
    ("hang-mirror", "Hang a heavy mirror on the wall", [], "none", NONE),
    # --- tricky phrasings that must not fire
    ("tool-socket", "Use a 10 mm socket to loosen the nut under the sink", [], "none", NONE),
    ("tub-spout-outlet", "Water drips from the tub spout outlet", [], "none", NONE),
    ("drain-outlet", "The drain outlet of my washing machine is clogged", [], "none", NONE),
    ("sump-outlet-hose", "My sump pump outlet hose is frozen", [], "none", NONE),
    ("water-heater-outlet", "My water heater outlet pipe is leaking", [], "none", NONE),
    ("sewer-gas", "I smell sewer gas from the floor drain", [], "none", NONE),
    ("sulfur-hot-water", "Rotten egg smell from my hot water", [], "none", NONE),
    ("gasket", "My gasket on the fridge door is torn", [], "none", NONE),
    ("gas-can", "Fill up the gas can for the mower", [], "none", NONE),
    ("wall-anchor", "Can I remove the wall anchor left from a TV mount?", [], "none", NONE),
    ("wire-brush", "Wire brush the rust off the railing", [], "none", NONE),
    ("drain-plug", "The tub drain plug is leaking water", [], "none", NONE),
    ("plug-the-leak", "How do I plug the leak in this copper pipe with water dripping?", [], "none", NONE),
    ("pull-chain-cord", "The pull cord on the blinds is wet", [], "none", NONE),
    ("breaker-bar", "Use a breaker bar on the stuck hose bib", [], "none", NONE),
    ("lug-nuts", "Tighten the lug nuts on the trailer", [], "none", NONE),
    ("pilot-hole", "Drill a pilot hole before driving the hinge screw", [], "none", NONE),
    ("co-chirp", "What is that chirp, is it the smoke detector battery?", [], "none", NONE),
]


@pytest.mark.parametrize(
    ("question", "categories", "level", "actions"),
    [pytest.param(q, c, lv, a, id=i) for i, q, c, lv, a in QUESTION_CASES],
)
def test_question(question: str, categories: list[str], level: str, actions: list[str]) -> None:
    result = apply_guardrail(question, None, NEUTRAL_DRAFT)
    assert result.categories == categories
    assert result.level == level
    assert result.actions == actions
    assert [f.source for f in result.fired] == ["question"] * len(result.fired)


# (id, question, observation, draft, categories, level, actions, rules that must be among those fired)
OTHER_CASES: list[tuple[str, str, Observation | None, str, list[str], str, list[str], set[str]]] = [
    (
        "draft-claims-code-compliance",
        "How do I replace an outlet?",
        None,
        "1. Turn off the breaker.\n2. Swap the receptacle. This installation is up to code.",
        [E],
        "caution",
        [ADD_NOTICE, REMOVE_CLAIMS],
        {"electrical.wiring-devices"},
    ),
    (
        "draft-meets-nec",
        "How do I replace an outlet?",
        None,
        "Pigtail the wires and tighten the terminals. This meets NEC requirements.",
        [E],
        "caution",
        [ADD_NOTICE, REMOVE_CLAIMS],
        {"electrical.wiring-devices"},
    ),
    (
        "no-risk-draft-claims-code",
        "How do I fix a leaky faucet?",
        None,
        "Replace the cartridge. Your new faucet meets the plumbing code.",
        [],
        "none",
        [REMOVE_CLAIMS],
        set(),
    ),
    (
        "no-permit-claim",
        "How do I replace a light switch?",
        None,
        "Turn off the circuit and swap the switch. No permit is required for this job.",
        [E],
        "caution",
        [ADD_NOTICE, REMOVE_CLAIMS],
        {"electrical.wiring-devices"},
    ),
    (
        "code-advice-is-kept",
        "Do I need a GFCI here?",
        None,
        "Check whether your local code requires a GFCI in this location.",
        [E],
        "caution",
        [ADD_NOTICE],
        {"electrical.wiring-devices"},
    ),
    (
        "dangerous-draft-panel",
        "My kitchen lights flicker, what should I check?",
        None,
        "Remove the panel cover and replace the breaker feeding this circuit with a 30 amp one.",
        [E],
        "stop",
        STOP,
        {"electrical.panel-work"},
    ),
    (
        "draft-warning-is-not-instruction",
        "How do I replace an outlet?",
        None,
        "Swap the receptacle. If you need to work in the panel, call a licensed electrician.",
        [E],
        "caution",
        NOTICE,
        {"electrical.wiring-devices"},
    ),
    (
        "draft-dont-forget-is-instruction",
        "How do I replace an outlet?",
        None,
        "Don't forget to remove the panel cover before you start.",
        [E],
        "stop",
        STOP,
        {"electrical.panel-work"},
    ),
    (
        # Review addition: the device box behind an outlet is not the service panel. A normal
        # outlet-replacement draft must keep its procedure (caution), not be withheld (stop).
        "draft-device-electrical-box-is-not-the-panel",
        "How do I replace an outlet?",
        None,
        "Turn off the breaker. Remove the receptacle from the electrical box. Take the cover plate "
        "off the electrical box first if it is still on.",
        [E],
        "caution",
        NOTICE,
        {"electrical.wiring-devices"},
    ),
    (
        "draft-breaker-box-cover-off",
        "How do I replace an outlet?",
        None,
        "Take the cover off the breaker box to find the circuit.",
        [E],
        "stop",
        STOP,
        {"electrical.panel-work"},
    ),
    (
        "dangerous-draft-gas",
        "My dryer isn't heating",
        None,
        "Pull the dryer out and tighten the gas line fitting with a pipe wrench.",
        [G],
        "stop",
        STOP,
        {"gas.line-work"},
    ),
    (
        "dangerous-draft-structural",
        "How do I make my basement feel more open?",
        None,
        "Cut out the support post and the beam above it.",
        [S],
        "stop",
        STOP,
        {"structural.load-bearing-or-damaged"},
    ),
    (
        "draft-mentions-sewer-gas",
        "Why does my sink smell?",
        None,
        "The P-trap holds water that blocks sewer gas; run the tap to refill it.",
        [],
        "none",
        NONE,
        set(),
    ),
    (
        "observation-water-near-outlet",
        "What's going on under my sink?",
        obs(
            components=[{"name": "duplex outlet", "state": "wet", "location": "cabinet back wall"}],
            hazards=[{"type": "water_near_electricity", "description": "water pooling below the outlet"}],
        ),
        NEUTRAL_DRAFT,
        [E, W],
        "stop",
        STOP,
        {"water_electricity.contact"},
    ),
    (
        "observation-hazard-type-only",
        "What is this?",
        obs(hazards=[{"type": "water-near-electricity", "description": "drip line ends by a cord"}]),
        NEUTRAL_DRAFT,
        [W],
        "stop",
        STOP,
        {"water_electricity.contact"},
    ),
    (
        "observation-exposed-wiring",
        "What is this box?",
        obs(
            fixture_type="open junction box",
            system="electrical",
            components=[{"name": "junction box", "state": "no cover"}],
            hazards=[{"type": "exposed_wiring", "description": "bare conductor ends"}],
        ),
        NEUTRAL_DRAFT,
        [E],
        "caution",
        NOTICE,
        {"electrical.wiring-devices"},
    ),
    (
        "observation-scorch-marks",
        "What is this?",
        obs(
            fixture_type="duplex receptacle",
            system="electrical",
            components=[{"name": "receptacle", "state": "blackened around the left slot"}],
            hazards=[{"type": "scorch_marks", "description": "brown scorch above the left slot"}],
        ),
        NEUTRAL_DRAFT,
        [E],
        "stop",
        STOP,
        {"electrical.fire-or-shock"},
    ),
    (
        "observation-gas-fitting",
        "Why won't my water heater light?",
        obs(
            fixture_type="tank water heater",
            system="appliance",
            components=[{"name": "control valve", "state": "pilot off"}],
            hazards=[{"type": "gas_fitting", "description": "yellow flex connector to the control valve"}],
        ),
        NEUTRAL_DRAFT,
        [G],
        "caution",
        NOTICE,
        {"gas.appliance"},
    ),
    (
        "observation-cracked-joist",
        "What is this?",
        obs(
            fixture_type="basement ceiling framing",
            system="structural",
            components=[{"name": "floor joist", "state": "split along the grain near the bearing end"}],
            hazards=[{"type": "structural_damage", "description": "split joist"}],
        ),
        NEUTRAL_DRAFT,
        [S],
        "stop",
        STOP,
        {"structural.load-bearing-or-damaged"},
    ),
    (
        "observation-uncertainty-does-not-fire",
        "Why is my trap leaking?",
        obs(uncertainties=["cannot see whether there is an outlet or gas line behind the cabinet"]),
        NEUTRAL_DRAFT,
        [],
        "none",
        NONE,
        set(),
    ),
    (
        "observation-cracked-tank-is-not-structural",
        "Why is there water on the floor?",
        obs(
            fixture_type="toilet",
            components=[{"name": "toilet tank", "state": "hairline crack near the bottom"}],
            hazards=[{"type": "crack", "description": "crack in the porcelain tank"}],
        ),
        NEUTRAL_DRAFT,
        [],
        "none",
        NONE,
        set(),
    ),
]


@pytest.mark.parametrize(
    ("question", "observation", "draft", "categories", "level", "actions", "rules"),
    [pytest.param(*case[1:], id=case[0]) for case in OTHER_CASES],
)
def test_observation_and_draft(
    question: str,
    observation: Observation | None,
    draft: str,
    categories: list[str],
    level: str,
    actions: list[str],
    rules: set[str],
) -> None:
    result = apply_guardrail(question, observation, draft)
    assert result.categories == categories
    assert result.level == level
    assert result.actions == actions
    assert rules <= set(result.rule_ids)


def test_at_least_80_cases() -> None:
    assert len(QUESTION_CASES) + len(OTHER_CASES) >= 80
    ids = [c[0] for c in QUESTION_CASES] + [c[0] for c in OTHER_CASES]
    assert len(ids) == len(set(ids))


def test_stop_replaces_the_draft_with_safe_actions() -> None:
    draft = "Remove the panel cover and replace the breaker with a 30 amp breaker."
    result = apply_guardrail("My breaker keeps tripping", None, draft)
    assert result.level == "stop"
    assert "30 amp" not in result.answer
    assert "panel cover and replace" not in result.answer
    book = load_rules()
    for step in book.safe_actions["panel_work"]:
        assert step in result.answer
    assert result.safe_actions == list(book.safe_actions["panel_work"])
    assert book.categories[E].notice in result.answer


def test_gas_smell_safe_actions_say_leave_and_call() -> None:
    result = apply_guardrail("I smell gas in the basement, how do I find the leak?", None, "Use soapy water.")
    assert result.safe_actions == list(load_rules().safe_actions["gas_leak"])
    assert "soapy" not in result.answer
    assert "Get everyone" in result.answer and "gas utility" in result.answer


def test_several_stop_rules_merge_their_safe_actions_without_duplicates() -> None:
    result = apply_guardrail("I smell gas and the outlet by the stove is sparking", None, NEUTRAL_DRAFT)
    assert result.categories == [E, G]
    book = load_rules()
    assert result.safe_actions == list(book.safe_actions["electrical_fire"]) + list(
        book.safe_actions["gas_leak"]
    )


def test_caution_keeps_the_draft_and_puts_the_notice_first() -> None:
    result = apply_guardrail(
        "How do I replace an outlet?", None, "Turn off the breaker and swap the receptacle."
    )
    assert result.answer.startswith("> **Safety (Electrical):**")
    assert result.answer.endswith("Turn off the breaker and swap the receptacle.")
    assert result.notices == [load_rules().categories[E].notice]


def test_no_risk_answer_is_the_draft_unchanged() -> None:
    draft = "Replace the flapper:\n\n1. Shut the supply valve.\n2. Flush to drain the tank."
    result = apply_guardrail("My toilet keeps running", None, draft)
    assert result.answer == draft
    assert result.fired == [] and result.notices == [] and result.safe_actions == []


def test_fired_rules_record_source_and_match() -> None:
    result = apply_guardrail("How do I replace an outlet?", None, "Tighten the wire nut on the neutral wire.")
    fired = {(f.rule, f.source) for f in result.fired}
    assert fired == {("electrical.wiring-devices", "question"), ("electrical.wiring-devices", "draft")}
    assert [f.match for f in result.fired] == ["outlet", "wire"]


@pytest.mark.parametrize(
    ("draft", "kept", "removed"),
    [
        (
            "1. Turn off the breaker.\n2. This meets NEC 406.4.\n3. Test the outlet.",
            "1. Turn off the breaker.\n3. Test the outlet.",
            ["This meets NEC 406.4."],
        ),
        ("Swap it. It is now fully up to code.", "Swap it.", ["It is now fully up to code."]),
        (
            "Done. This work is code-compliant and will pass inspection.",
            "Done.",
            ["This work is code-compliant and will pass inspection."],
        ),
        (
            "Install it. You don't need a permit for this.",
            "Install it.",
            ["You don't need a permit for this."],
        ),
        ("Make sure the box meets NEC fill limits.", "Make sure the box meets NEC fill limits.", []),
        (
            "Ask your inspector whether this meets local code.",
            "Ask your inspector whether this meets local code.",
            [],
        ),
        ("The old wiring is not up to code.", "The old wiring is not up to code.", []),
    ],
)
def test_compliance_claims_are_removed_sentence_by_sentence(
    draft: str, kept: str, removed: list[str]
) -> None:
    cleaned, claims = remove_compliance_claims(draft)
    assert cleaned == kept
    assert claims == removed


def test_removed_claims_are_reported_with_a_note() -> None:
    result = apply_guardrail("How do I fix a leaky faucet?", None, "Replace the washer. This is up to code.")
    assert result.removed_claims == ["This is up to code."]
    assert "up to code." not in result.answer.split("_")[0]
    assert "Removed 1 statement(s) claiming code compliance" in result.answer


# ---------------------------------------------------------------- the rules file itself


def _raw_rules() -> dict[str, Any]:
    return yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


def test_rules_file_is_packaged_data_and_loads() -> None:
    assert RULES_PATH.name == "guardrail_rules.yaml"
    book = load_rules()
    assert set(book.categories) == {E, G, S, W}
    assert all(r.safe_actions in book.safe_actions for r in book.rules if r.level == "stop")
    assert {r.category for r in book.rules} == set(book.categories)


def test_guardrail_code_holds_no_rule_patterns() -> None:
    """The rules live in the data file: the module has no risk vocabulary of its own."""
    source = (Path(RULES_PATH).parent / "guardrail.py").read_text(encoding="utf-8").lower()
    for word in ("outlets?", "breakers?", "joists?", "propane", "knob", "nec", "gas"):
        assert not re.search(rf"\b{word}\b", source), word


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0].update(category="plumbing"), "unknown category"),
        (lambda d: d["rules"][0].update(level="maybe"), "level must be"),
        (lambda d: d["rules"][0].update(patterns=["(unclosed"]), "bad regular expression"),
        (lambda d: d["rules"][0].update(safe_actions="nope"), "needs safe_actions"),
        (lambda d: d["rules"][0].update(exclude=["@nope"]), "unknown exclude set"),
        (lambda d: d["rules"][0].update(sources=["email"]), "sources must be"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "duplicate rule id"),
        (lambda d: d.pop("code_compliance"), "malformed rules file"),
    ],
)
def test_a_broken_rules_file_fails_loudly(mutate: Any, message: str) -> None:
    data = _raw_rules()
    mutate(data)
    with pytest.raises(RulesError, match=message):
        parse_rules(data)


def test_a_custom_rules_file_changes_behaviour_without_code(tmp_path: Path) -> None:
    data = _raw_rules()
    data["rules"].append(
        {
            "id": "structural.chimney",
            "category": "structural",
            "level": "caution",
            "description": "Chimney work.",
            "sources": ["question"],
            "patterns": [r"\bchimney\b"],
        }
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    book = load_rules(path)
    assert apply_guardrail("My chimney leans", None, NEUTRAL_DRAFT, book).categories == [S]
    assert apply_guardrail("My chimney leans", None, NEUTRAL_DRAFT).categories == []
