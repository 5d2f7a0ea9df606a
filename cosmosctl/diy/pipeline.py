"""The three-layer DIY pipeline: Cosmos perception -> general-LLM procedure -> deterministic guardrail."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import openai
from pydantic import BaseModel

from cosmosctl.client import chat_completion
from cosmosctl.diy import prompts
from cosmosctl.diy.guardrail import (
    GuardrailResult,
    Rulebook,
    SecondOpinion,
    apply_guardrail,
    load_rules,
    parse_second_opinion,
)
from cosmosctl.diy.observation import Observation, ObservationParseError, parse_observation
from cosmosctl.errors import CosmosError

MediaKind = Literal["image", "video"]
Mode = Literal["grounded", "llm-only"]

PERCEPTION_MAX_TOKENS = 4096  # room for <think> reasoning before the JSON
PROCEDURE_MAX_TOKENS = 2048
HAZARD_MAX_TOKENS = 512


@dataclass(frozen=True)
class ModelEndpoint:
    """An OpenAI-compatible endpoint and the model to call on it."""

    client: openai.OpenAI
    model: str


class Perception(BaseModel):
    """The perception layer's outcome; raw answers are kept whether or not they validated."""

    ok: bool
    observation: Observation | None
    attempts: int
    raw_answers: list[str]
    errors: list[str]


class DiyAnswer(BaseModel):
    """Everything one `diy ask` produced; `answer` is the guarded text the user sees."""

    question: str
    mode: Mode
    media: str | None
    media_kind: MediaKind | None
    models: dict[str, str]
    perception: Perception | None
    grounded: bool
    draft: str
    guardrail: GuardrailResult
    answer: str
    seconds: dict[str, float]

    def to_json(self, include_draft: bool = False) -> dict[str, Any]:
        """Machine output. The draft is left out unless asked for, so a withheld draft stays withheld."""
        data = self.model_dump(mode="json")
        if not include_draft:
            data.pop("draft")
        return data


def _call(stage: str, endpoint: ModelEndpoint, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    """One chat completion; errors name the layer that failed, since two endpoints are in play."""
    try:
        completion = chat_completion(endpoint.client, endpoint.model, messages, **kwargs)
    except CosmosError as exc:
        raise CosmosError(f"{stage} ({endpoint.model}): {exc.message}", exc.hint) from exc
    return _text(completion)


def _text(completion: Any) -> str:
    try:
        return completion.choices[0].message.content or ""
    except (AttributeError, IndexError):
        return ""


def perceive(
    reasoner: ModelEndpoint,
    media_parts: list[dict[str, Any]],
    question: str,
    *,
    media_kind: MediaKind = "image",
    max_tokens: int = PERCEPTION_MAX_TOKENS,
    temperature: float | None = 0.2,
) -> Perception:
    """Ask Cosmos for a structured observation; re-ask once, with the validation error, if it is invalid."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.PERCEPTION_SYSTEM},
        {
            "role": "user",
            "content": [
                *media_parts,
                {"type": "text", "text": prompts.perception_prompt(question, media_kind)},
            ],
        },
    ]
    raw: list[str] = []
    errors: list[str] = []
    for attempt in (1, 2):
        answer = _call("Perception", reasoner, messages, max_tokens=max_tokens, temperature=temperature)
        raw.append(answer)
        try:
            observation = parse_observation(answer)
        except ObservationParseError as exc:
            errors.append(str(exc))
            # The re-ask keeps the media in the first turn and shows the model its own answer.
            messages = [
                *messages,
                {"role": "assistant", "content": answer},
                {"role": "user", "content": prompts.RETRY_INSTRUCTIONS.format(error=exc)},
            ]
            continue
        return Perception(ok=True, observation=observation, attempts=attempt, raw_answers=raw, errors=errors)
    return Perception(ok=False, observation=None, attempts=2, raw_answers=raw, errors=errors)


def draft_procedure(
    llm: ModelEndpoint,
    question: str,
    observation: Observation | None,
    *,
    media_kind: MediaKind = "image",
    media_parts: list[dict[str, Any]] | None = None,
    max_tokens: int = PROCEDURE_MAX_TOKENS,
    temperature: float | None = 0.2,
) -> str:
    """The general LLM's repair procedure, grounded in the observation when there is one."""
    if observation is not None:
        text = prompts.grounded_prompt(question, observation, media_kind)
    else:
        text = prompts.ungrounded_prompt(question, bool(media_parts), media_kind)
    content: str | list[dict[str, Any]] = (
        [*media_parts, {"type": "text", "text": text}] if media_parts else text
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.PROCEDURE_SYSTEM},
        {"role": "user", "content": content},
    ]
    draft = _call("Procedure", llm, messages, max_tokens=max_tokens, temperature=temperature)
    if not draft.strip():
        raise CosmosError(f"The general LLM ({llm.model}) returned an empty answer.")
    return draft.strip()


def second_opinion(
    llm: ModelEndpoint,
    question: str,
    observation: Observation | None,
    draft: str,
    rules: Rulebook | None = None,
) -> SecondOpinion:
    """Ask the general LLM the structured hazard question. Never raises: a failed call or an unusable
    reply comes back as status "missing" or "invalid" (reported, then ignored by the guardrail)."""
    book = rules or load_rules()
    text = prompts.hazard_prompt(
        question, observation.as_text() if observation else "", draft, list(book.categories)
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.HAZARD_SYSTEM},
        {"role": "user", "content": text},
    ]
    try:
        raw = _call("Hazard review", llm, messages, max_tokens=HAZARD_MAX_TOKENS, temperature=0.0)
    except CosmosError as exc:
        return parse_second_opinion(None, book, error=str(exc))
    return parse_second_opinion(raw, book)


def run_pipeline(
    question: str,
    *,
    llm: ModelEndpoint,
    reasoner: ModelEndpoint | None = None,
    media_parts: list[dict[str, Any]] | None = None,
    media_kind: MediaKind | None = None,
    media: str | None = None,
    llm_only: bool = False,
    llm_sees_media: bool = False,
    rules: Rulebook | None = None,
    hazard_review: bool = True,
) -> DiyAnswer:
    """Run perception (unless `llm_only`), the procedure and the guardrail.

    If perception fails twice the procedure is drafted without an observation and the answer says
    so (`grounded` is False, `perception.errors` and `perception.raw_answers` tell why). With
    `llm_sees_media` the media also goes to the general LLM (only for vision-capable LLMs). With
    `hazard_review` the general LLM is also asked to classify the job's hazard; its answer may only
    raise the guardrail's level.
    """
    question = question.strip()
    if not question:
        raise CosmosError('Ask a question, e.g. "Why is this trap leaking?"')
    kind: MediaKind = media_kind or "image"
    parts = media_parts or []
    seconds: dict[str, float] = {}
    perception: Perception | None = None
    models = {"llm": llm.model}
    if not llm_only:
        if reasoner is None or not parts:
            raise CosmosError(
                "The grounded assistant needs a photo or video for Cosmos.",
                "Pass --image or --video, or use --llm-only for the text-only baseline.",
            )
        models["reasoner"] = reasoner.model
        t0 = time.perf_counter()
        perception = perceive(reasoner, parts, question, media_kind=kind)
        seconds["perception"] = round(time.perf_counter() - t0, 3)
    observation = perception.observation if perception else None
    t0 = time.perf_counter()
    draft = draft_procedure(
        llm,
        question,
        observation,
        media_kind=kind,
        media_parts=parts if (llm_sees_media and parts) else None,
    )
    seconds["procedure"] = round(time.perf_counter() - t0, 3)
    opinion = None
    if hazard_review:
        t0 = time.perf_counter()
        opinion = second_opinion(llm, question, observation, draft, rules)
        seconds["hazard_review"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    verdict = apply_guardrail(question, observation, draft, rules, second_opinion=opinion)
    seconds["guardrail"] = round(time.perf_counter() - t0, 3)
    return DiyAnswer(
        question=question,
        mode="llm-only" if llm_only else "grounded",
        media=media,
        media_kind=kind if parts else None,
        models=models,
        perception=perception,
        grounded=observation is not None,
        draft=draft,
        guardrail=verdict,
        answer=verdict.answer,
        seconds=seconds,
    )
