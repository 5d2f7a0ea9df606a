"""`cosmosctl diy ask` end to end against two local OpenAI-compatible servers over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from cosmosctl.diy import prompts
from cosmosctl.diy.cli import app

from .fakes import observation_json, part_types, user_text

runner = CliRunner()

REVIEW_PROCEED = '{"level": "proceed", "categories": [], "reason": "a slip-joint washer"}'

GOOD_DRAFT = (
    "## Summary\nThe slip-joint washer at the trap arm slip nut is worn.\n\n"
    "## Steps\n1. Put a bucket under the trap.\n2. Loosen the slip nut and replace the washer.\n"
    "3. Hand-tighten plus a quarter turn.\n\n## Checks\nRun water and look for drips."
)


def ask(cosmos: FakeOpenAI, llm: FakeOpenAI, *args: str) -> Any:
    return runner.invoke(
        app,
        [
            "ask",
            "--endpoint",
            cosmos.url,
            "--api-key",
            "cosmos-test-key",
            "--llm-endpoint",
            llm.url,
            *args,
        ],
    )


def ask_json(cosmos: FakeOpenAI, llm: FakeOpenAI, *args: str) -> dict[str, Any]:
    result = ask(cosmos, llm, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_grounded_answer_uses_the_observation(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = ["<think>\nThe trap arm joint is wet.\n</think>\n\n" + observation_json()]
    llm.replies = [GOOD_DRAFT, REVIEW_PROCEED]
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")

    assert data["mode"] == "grounded" and data["grounded"] is True
    assert data["models"] == {"llm": "test-general-llm", "reasoner": "nvidia/cosmos3-nano-reasoner"}
    assert data["perception"]["ok"] is True and data["perception"]["attempts"] == 1
    assert data["perception"]["observation"]["likely_failure"]["location"] == "trap arm slip nut"
    assert data["perception"]["raw_answers"][0].startswith("<think>")
    assert data["answer"] == GOOD_DRAFT
    assert data["guardrail"] == {
        "level": "proceed",
        "rules_level": "proceed",
        "categories": [],
        "fired": [],
        "actions": [],
        "locale": None,
        "withheld": False,
        "removed_claims": [],
        "notices": [],
        "safe_actions": [],
        "tell_professional": [],
        "second_opinion": {
            "status": "used",
            "level": "proceed",
            "categories": [],
            "reason": "a slip-joint washer",
            "error": None,
            "raised": False,
        },
        "answer": GOOD_DRAFT,
    }
    assert "draft" not in data

    # Cosmos got the photo (first) and the perception prompt, with its own key and discovered model.
    [perception] = cosmos.chat_bodies()
    assert perception["model"] == "nvidia/cosmos3-nano-reasoner"
    assert part_types(perception) == ["image_url", "text"]
    assert perception["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "Answer with one JSON object" in user_text(perception)
    chat_headers = [r.headers for r in cosmos.requests if r.path.endswith("/chat/completions")]
    assert chat_headers[0]["authorization"] == "Bearer cosmos-test-key"

    # The general LLM got the observation as text, no image, and its key from the environment.
    procedure, review = llm.chat_bodies()
    assert procedure["model"] == "test-general-llm"
    assert part_types(procedure) == []
    assert '"trap arm slip nut"' in user_text(procedure)
    assert "Do not invent components" in user_text(procedure)
    llm_headers = [r.headers for r in llm.requests if r.path.endswith("/chat/completions")]
    assert llm_headers[0]["authorization"] == "Bearer llm-test-key"
    # The second opinion: the same LLM, asked the structured hazard question about the whole job.
    assert review["messages"][0]["content"] == prompts.HAZARD_SYSTEM
    assert "Why is my sink trap leaking?" in user_text(review) and "slip-joint washer" in user_text(review)


def test_invalid_perception_json_is_retried_once(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = ["I see a white plastic pipe under a sink.", observation_json()]
    llm.replies = [GOOD_DRAFT]
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")

    perception = data["perception"]
    assert perception["ok"] is True and perception["attempts"] == 2
    assert perception["errors"] == ["the answer contains no JSON object"]
    assert perception["raw_answers"] == ["I see a white plastic pipe under a sink.", observation_json()]
    first, second = cosmos.chat_bodies()
    # The re-ask repeats the conversation (photo included), shows the bad answer and says what was wrong.
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {
        "role": "assistant",
        "content": "I see a white plastic pipe under a sink.",
    }
    assert "the answer contains no JSON object" in second["messages"][3]["content"]
    assert data["grounded"] is True


def test_invalid_perception_twice_is_reported(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = ["A sink.", '{"fixture_type": "sink", "system": "plumbing", "components": []}']
    llm.replies = [GOOD_DRAFT, GOOD_DRAFT]
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")

    assert len(cosmos.chat_bodies()) == 2  # exactly one re-ask
    perception = data["perception"]
    assert perception["ok"] is False and perception["observation"] is None
    assert perception["attempts"] == 2
    assert perception["errors"][0] == "the answer contains no JSON object"
    assert perception["errors"][1].startswith("the JSON does not match the schema: components:")
    assert perception["raw_answers"][0] == "A sink."
    assert data["grounded"] is False
    # The procedure was drafted without an observation.
    assert "vision model examined" not in user_text(llm.chat_bodies()[0])

    cosmos.replies = ["Still a sink.", "And a pipe."]
    llm.replies = [GOOD_DRAFT]
    human = ask(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")
    assert human.exit_code == 0, human.output
    assert "Perception failed twice" in human.stdout
    assert "Still a sink." in human.stdout  # the raw answers are shown
    assert "NOT grounded" in human.stdout


def test_guardrail_overrides_a_dangerous_draft(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = [
        observation_json(
            fixture_type="kitchen countertop receptacle",
            system="electrical",
            components=[{"name": "GFCI receptacle", "state": "tripped, reset button out"}],
            likely_failure={"description": "GFCI tripped", "confidence": "medium"},
        )
    ]
    dangerous = (
        "1. Remove the panel cover.\n2. Replace the 20 amp breaker with a 30 amp breaker.\n"
        "3. This is up to code and meets NEC."
    )
    llm.replies = [dangerous]
    data = ask_json(
        cosmos, llm, "--include-draft", "--image", str(photo), "Why does this outlet keep tripping?"
    )

    g = data["guardrail"]
    assert g["level"] == "professional_only" and g["withheld"] is True
    # a GFCI on a kitchen countertop is water near electricity too (the companion `water_electricity.wet-place`)
    assert g["categories"] == ["electrical", "water_electricity"]
    assert g["actions"] == [
        "add_professional_notice",
        "withhold_procedure",
        "add_conditional_emergency_action",
    ]
    fired = {(f["rule"], f["source"]) for f in g["fired"]}
    assert {("electrical.panel-open", "draft"), ("electrical.panel-change", "draft")} <= fired
    assert "30 amp" not in data["answer"] and "up to code" not in data["answer"]
    assert data["answer"].startswith("> **If you see smoke or sparks")  # the standing line first
    assert "\n\n**Not a do-it-yourself job" in data["answer"]
    assert g["second_opinion"]["status"] == "missing"  # no reply scripted: ignored, reported
    assert data["draft"] == dangerous  # only because --include-draft asked for it

    llm.replies = [dangerous]
    cosmos.replies = [observation_json()]
    human = ask(cosmos, llm, "--image", str(photo), "Why does this outlet keep tripping?")
    assert human.exit_code == 0, human.output
    assert "30 amp" not in human.stdout
    # Nor any fragment of the withheld procedure through the fired-rules table.
    assert "panel cover" not in human.stdout.lower() and "(withheld)" in human.stdout
    assert "Guardrail rules fired" in human.stdout
    assert "electrical.panel-open" in human.stdout
    assert "Hazard review missing" in human.stdout
    assert "Cautions" in human.stdout


def test_llm_only_sends_nothing_to_the_reasoner(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    llm.replies = [GOOD_DRAFT]
    data = ask_json(cosmos, llm, "--llm-only", "--image", str(photo), "Why is my sink trap leaking?")

    assert cosmos.requests == []
    assert data["mode"] == "llm-only" and data["perception"] is None and data["grounded"] is False
    assert data["models"] == {"llm": "test-general-llm"}
    procedure = llm.chat_bodies()[0]
    assert part_types(procedure) == []  # text-only baseline: the LLM does not get the photo either
    assert "Why is my sink trap leaking?" in user_text(procedure)


def test_llm_only_needs_no_reasoner_endpoint_at_all(llm: FakeOpenAI) -> None:
    llm.replies = [GOOD_DRAFT]
    result = runner.invoke(
        app, ["ask", "--llm-only", "--llm-endpoint", llm.url, "--json", "How do I fix a trap?"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == GOOD_DRAFT


def test_llm_sees_media_sends_the_photo_to_the_llm_only(
    cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path
) -> None:
    llm.replies = [GOOD_DRAFT]
    ask_json(cosmos, llm, "--llm-only", "--llm-sees-media", "--image", str(photo), "What is leaking?")
    assert cosmos.requests == []
    assert part_types(llm.chat_bodies()[0]) == ["image_url", "text"]


def test_video_goes_to_cosmos_with_fps(cosmos: FakeOpenAI, llm: FakeOpenAI, clip: Path) -> None:
    cosmos.replies = [
        observation_json(fixture_type="toilet tank", components=[{"name": "flapper", "state": "open"}])
    ]
    llm.replies = ["Replace the flapper."]
    data = ask_json(cosmos, llm, "--video", str(clip), "--fps", "2", "Why does my toilet keep running?")
    [perception] = cosmos.chat_bodies()
    assert part_types(perception) == ["video_url", "text"]
    assert perception["messages"][1]["content"][0]["video_url"]["url"].startswith("data:video/mp4;base64,")
    # Sampled in the client (vLLM >= 0.31 refuses per-request media_io_kwargs/mm_processor_kwargs).
    assert "media_io_kwargs" not in perception and "mm_processor_kwargs" not in perception
    assert "examined the homeowner's video" in user_text(llm.chat_bodies()[0])
    assert data["media_kind"] == "video"


def test_human_output_shows_observation_answer_and_cautions(
    cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path
) -> None:
    cosmos.replies = [
        observation_json(
            hazards=[{"type": "water_near_electricity", "description": "drip onto a power strip"}]
        )
    ]
    llm.replies = [GOOD_DRAFT]
    result = ask(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Observation: bathroom sink drain (P-trap) (plumbing)" in out
    assert "slip nut" in out and "Likely failure at trap arm slip nut" in out
    assert "Hazard water_near_electricity" in out
    assert "Answer (safety: emergency)" in out
    assert "water_electricity.contact" in out
    assert "drip onto a power strip" in out
    assert "loosen the slip nut" not in out.lower()  # the draft was replaced


def test_grounded_mode_needs_media(cosmos: FakeOpenAI, llm: FakeOpenAI) -> None:
    result = ask(cosmos, llm, "Why is my sink trap leaking?")
    assert result.exit_code == 1
    assert "needs a photo or video" in result.stderr
    assert cosmos.requests == [] and llm.requests == []


def test_missing_llm_endpoint_is_a_one_line_error(cosmos: FakeOpenAI, photo: Path) -> None:
    result = runner.invoke(
        app, ["ask", "--endpoint", cosmos.url, "--api-key", "k", "--image", str(photo), "What is this?"]
    )
    assert result.exit_code == 1
    assert "No general LLM endpoint" in result.stderr
    assert "DIY_LLM_ENDPOINT" in result.stderr


def test_llm_endpoint_model_and_key_from_environment(
    cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("DIY_LLM_ENDPOINT", llm.url)
    monkeypatch.setenv("DIY_LLM_MODEL", "gpt-test")
    monkeypatch.delenv("DIY_LLM_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-fallback-key")
    monkeypatch.setenv("COSMOS_ENDPOINT", cosmos.url)
    monkeypatch.setenv("COSMOS_API_KEY", "cosmos-env-key")
    cosmos.replies = [observation_json()]
    llm.replies = [GOOD_DRAFT]
    result = runner.invoke(app, ["ask", "--json", "--image", str(photo), "Why is my trap leaking?"])
    assert result.exit_code == 0, result.output
    assert llm.chat_bodies()[0]["model"] == "gpt-test"
    llm_chat = [r for r in llm.requests if r.path.endswith("/chat/completions")]
    assert llm_chat[0].headers["authorization"] == "Bearer openai-fallback-key"
    cosmos_chat = [r for r in cosmos.requests if r.path.endswith("/chat/completions")]
    assert cosmos_chat[0].headers["authorization"] == "Bearer cosmos-env-key"


def test_llm_error_names_the_layer(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = [observation_json()]
    # no LLM reply scripted: the fake answers 400
    result = ask(cosmos, llm, "--image", str(photo), "Why is my trap leaking?")
    assert result.exit_code == 1
    assert "Procedure (test-general-llm)" in result.stderr


def test_hazard_review_can_raise_the_level(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = [observation_json()]
    review = '{"level": "professional_only", "categories": ["structural"], "reason": "the trap arm runs through a cut joist"}'
    llm.replies = [GOOD_DRAFT, review]
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")
    g = data["guardrail"]
    assert g["level"] == "professional_only" and g["withheld"] is True
    assert g["second_opinion"]["status"] == "used" and g["second_opinion"]["raised"] is True
    assert g["categories"] == ["structural"]
    assert "Loosen the slip nut" not in data["answer"]
    assert "cut joist" in data["answer"]  # the reason is shown


def test_invalid_hazard_review_is_ignored_and_reported(
    cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path
) -> None:
    cosmos.replies = [observation_json()]
    llm.replies = [GOOD_DRAFT, "This job looks dangerous to me!"]
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")
    g = data["guardrail"]
    assert g["level"] == "proceed" and data["answer"] == GOOD_DRAFT
    assert g["second_opinion"]["status"] == "invalid"
    assert g["second_opinion"]["error"] == "the answer contains no JSON object"


def test_missing_hazard_review_leaves_the_rules_to_decide(
    cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path
) -> None:
    cosmos.replies = [observation_json()]
    llm.replies = [GOOD_DRAFT]  # the review request gets no reply (the fake answers 400)
    data = ask_json(cosmos, llm, "--image", str(photo), "Why is my sink trap leaking?")
    op = data["guardrail"]["second_opinion"]
    assert op["status"] == "missing" and "Hazard review (test-general-llm)" in op["error"]
    assert data["guardrail"]["level"] == "proceed" and data["answer"] == GOOD_DRAFT


def test_no_hazard_review_makes_one_llm_call(cosmos: FakeOpenAI, llm: FakeOpenAI, photo: Path) -> None:
    cosmos.replies = [observation_json()]
    llm.replies = [GOOD_DRAFT]
    data = ask_json(cosmos, llm, "--no-hazard-review", "--image", str(photo), "Why is my sink trap leaking?")
    assert len(llm.chat_bodies()) == 1
    assert data["guardrail"]["second_opinion"]["status"] == "off"


def test_an_overlong_question_is_refused_with_what_to_do(llm: FakeOpenAI) -> None:
    """The rules slow with the square of a long text's length: a pasted log gets a clear error at
    once, not a minute of waiting, and no model is called."""
    question = "The breaker trips. " * 300
    result = runner.invoke(app, ["ask", "--llm-only", "--llm-endpoint", llm.url, question])
    assert result.exit_code != 0
    assert "5,700 characters; the assistant takes at most 4,000" in result.output
    assert "Traceback" not in result.output and llm.requests == []
