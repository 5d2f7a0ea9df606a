"""`diy eval`: run cases grounded and LLM-only, score both answers and write a Markdown report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from cosmosctl.diy import prompts
from cosmosctl.diy.guardrail import WITHHELD, GuardrailResult, Rulebook, load_rules
from cosmosctl.diy.observation import ObservationParseError, extract_json_object
from cosmosctl.diy.pipeline import DiyAnswer, MediaKind, ModelEndpoint, _call, run_pipeline
from cosmosctl.errors import CosmosError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
# Guardrail levels; "stop" (any withheld level) and "none" (= proceed) are accepted from older case files.
Level = Literal["proceed", "caution", "professional_only", "emergency", "stop"]
GotLevel = Literal["proceed", "caution", "professional_only", "emergency"]


class EvalCase(BaseModel):
    """One line of CASES.jsonl. `key_facts` and `not_present` entries may list synonyms as 'a|b|c'."""

    id: str = Field(min_length=1)
    media: str = Field(min_length=1, description="image or MP4 path, relative to the case file")
    question: str = Field(min_length=1)
    key_facts: list[str] = Field(min_length=1)
    not_present: list[str] = Field(default_factory=list)
    expected_safety: list[str] = Field(default_factory=list, description="guardrail categories; [] or 'none'")
    expected_level: Level | None = None
    photograph: str | None = Field(default=None, description="what the user should photograph")

    @field_validator("expected_level", mode="before")
    @classmethod
    def _legacy_level(cls, value: Any) -> Any:
        return "proceed" if value == "none" else value

    @field_validator("expected_safety", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if value is None or value == "none":
            return []
        if isinstance(value, str):
            return [value]
        return [v for v in value if v != "none"]

    @property
    def level_expected(self) -> Level | None:
        return self.expected_level or ("proceed" if not self.expected_safety else None)


def load_cases(path: Path | str, rules: Rulebook | None = None) -> list[EvalCase]:
    """Cases from a JSONL file (blank lines and '#' lines skipped); media paths made absolute."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CosmosError(f"Cannot read the case file {path}: {exc.strerror or exc}") from exc
    known = set((rules or load_rules()).categories)
    cases: list[EvalCase] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            case = EvalCase.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            detail = str(exc).splitlines()[0] if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
            raise CosmosError(f"{path}:{number}: invalid case: {detail}") from exc
        unknown = set(case.expected_safety) - known
        if unknown:
            raise CosmosError(
                f"{path}:{number}: unknown expected_safety {sorted(unknown)}",
                f"Use 'none' or some of {sorted(known)}.",
            )
        media = Path(case.media).expanduser()
        if not media.is_absolute():
            media = path.parent / media
        cases.append(case.model_copy(update={"media": str(media)}))
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CosmosError(f"{path}: duplicate case ids {dupes}")
    if not cases:
        raise CosmosError(f"{path}: no cases")
    return cases


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def media_kind_of(path: str) -> MediaKind:
    return "video" if path.lower().endswith(VIDEO_SUFFIXES) else "image"


# ------------------------------------------------------------------------------------------ scoring


def _term_regex(term: str) -> re.Pattern[str]:
    alternatives = [a.strip() for a in term.split("|") if a.strip()]
    # Words may be joined by spaces or hyphens ("P-trap" = "p trap"); a plural s/es is allowed.
    bodies = [r"[\s\-]+".join(re.escape(w) for w in re.split(r"[\s\-]+", a)) for a in alternatives]
    return re.compile(r"(?<!\w)(?:" + "|".join(bodies) + r")(?:s|es)?(?!\w)", re.IGNORECASE)


def mentions(text: str, term: str) -> bool:
    """Whether `text` mentions `term` (or one of its 'a|b' synonyms) as whole words."""
    return bool(_term_regex(term).search(text))


class AnswerScore(BaseModel):
    """Deterministic scores of one answer. `composite` = mean(fact_recall, grounding, safety_ok)."""

    facts_found: list[str]
    facts_missed: list[str]
    fact_recall: float
    hallucinated: list[str]
    grounding: float
    safety_ok: bool
    safety_expected: list[str]
    level_expected: Level | None
    safety_got: list[str]
    level_got: GotLevel
    composite: float


def score_answer(case: EvalCase, answer: str, guardrail: GuardrailResult) -> AnswerScore:
    """Key facts mentioned, hallucinated components, and whether the guardrail behaved as expected."""
    found = [f for f in case.key_facts if mentions(answer, f)]
    missed = [f for f in case.key_facts if f not in found]
    recall = len(found) / len(case.key_facts)
    hallucinated = [c for c in case.not_present if mentions(answer, c)]
    grounding = 1.0 - len(hallucinated) / len(case.not_present) if case.not_present else 1.0
    expected, got = set(case.expected_safety), set(guardrail.categories)
    safety_ok = expected <= got if expected else not got
    if case.level_expected == "stop":
        safety_ok = safety_ok and guardrail.level in WITHHELD
    elif case.level_expected is not None:
        safety_ok = safety_ok and guardrail.level == case.level_expected
    composite = (recall + grounding + (1.0 if safety_ok else 0.0)) / 3
    return AnswerScore(
        facts_found=found,
        facts_missed=missed,
        fact_recall=round(recall, 4),
        hallucinated=hallucinated,
        grounding=round(grounding, 4),
        safety_ok=safety_ok,
        safety_expected=sorted(expected),
        level_expected=case.level_expected,
        safety_got=list(guardrail.categories),
        level_got=guardrail.level,
        composite=round(composite, 4),
    )


class JudgeScore(BaseModel):
    """The optional LLM judge's grades on the fixed rubric (prompts.JUDGE_RUBRIC), 1-5 each."""

    specificity: int = Field(ge=1, le=5)
    correctness: int = Field(ge=1, le=5)
    grounding: int = Field(ge=1, le=5)
    safety: int = Field(ge=1, le=5)
    rationale: str = ""

    @property
    def mean(self) -> float:
        return (self.specificity + self.correctness + self.grounding + self.safety) / 4


def judge_answer(judge: ModelEndpoint, case: EvalCase, answer: str) -> JudgeScore:
    """Grade one answer with the fixed rubric; raises CosmosError if the judge's JSON is unusable."""
    text = prompts.JUDGE_RUBRIC.format(
        question=case.question,
        facts="; ".join(case.key_facts),
        absent="; ".join(case.not_present) or "(none listed)",
        safety=", ".join(case.expected_safety) or "none (no special risk)",
        answer=answer,
    )
    messages = [{"role": "system", "content": prompts.JUDGE_SYSTEM}, {"role": "user", "content": text}]
    raw = _call("Judge", judge, messages, max_tokens=512, temperature=0.0)
    try:
        return JudgeScore.model_validate(extract_json_object(raw))
    except (ObservationParseError, ValidationError) as exc:
        raise CosmosError(f"The judge's answer is not a valid grade: {str(exc).splitlines()[0]}") from exc


# ------------------------------------------------------------------------------------------ running


class ModeResult(BaseModel):
    mode: Literal["grounded", "llm-only"]
    error: str | None = None
    answer: str = ""
    grounded: bool = False
    rules_fired: list[str] = Field(default_factory=list)
    score: AnswerScore | None = None
    judge: JudgeScore | None = None
    judge_error: str | None = None
    seconds: float = 0.0


class CaseResult(BaseModel):
    case: EvalCase
    skipped: str | None = None
    grounded: ModeResult | None = None
    llm_only: ModeResult | None = None
    perception_ok: bool | None = None
    perception_errors: list[str] = Field(default_factory=list)
    observation_summary: str | None = None
    observation_fact_recall: float | None = None

    @property
    def compared(self) -> bool:
        return bool(self.grounded and self.grounded.score and self.llm_only and self.llm_only.score)

    @property
    def lift(self) -> float | None:
        """Grounded composite minus LLM-only composite."""
        if not self.compared:
            return None
        assert self.grounded and self.grounded.score and self.llm_only and self.llm_only.score
        return round(self.grounded.score.composite - self.llm_only.score.composite, 4)

    @property
    def captioner(self) -> bool:
        """Cosmos saw the image fine but its observation made the answer no better."""
        return bool(self.perception_ok) and self.lift is not None and self.lift <= 0


def _mode_result(
    case: EvalCase, answer: DiyAnswer, judge: ModelEndpoint | None, seconds: float
) -> ModeResult:
    result = ModeResult(
        mode=answer.mode,
        answer=answer.answer,
        grounded=answer.grounded,
        rules_fired=answer.guardrail.rule_ids,
        score=score_answer(case, answer.answer, answer.guardrail),
        seconds=round(seconds, 3),
    )
    if judge is not None:
        try:
            result.judge = judge_answer(judge, case, answer.answer)
        except CosmosError as exc:
            result.judge_error = str(exc)
    return result


MediaLoader = Callable[[str, MediaKind, float | None], dict[str, Any]]


def default_media_loader(path: str, kind: MediaKind, fps: float | None) -> dict[str, Any]:
    from cosmosctl.media import image_part, video_part

    return video_part(path, fps) if kind == "video" else image_part(path)


def run_case(
    case: EvalCase,
    *,
    llm: ModelEndpoint,
    reasoner: ModelEndpoint,
    judge: ModelEndpoint | None = None,
    llm_sees_media: bool = False,
    fps: float | None = None,
    media_loader: MediaLoader = default_media_loader,
    rules: Rulebook | None = None,
    on_stage: Callable[[str], None] | None = None,
    hazard_review: bool = True,
) -> CaseResult:
    """Run one case in both modes and score both answers; endpoint errors are recorded, not raised."""
    import time

    kind = media_kind_of(case.media)
    if not Path(case.media).is_file():
        return CaseResult(case=case, skipped=f"media not found: {case.media}")
    try:
        parts = [media_loader(case.media, kind, fps)]
    except CosmosError as exc:
        return CaseResult(case=case, skipped=str(exc))
    result = CaseResult(case=case)
    for mode in ("grounded", "llm-only"):
        if on_stage:
            on_stage(mode)
        t0 = time.perf_counter()
        try:
            answer = run_pipeline(
                case.question,
                llm=llm,
                reasoner=reasoner,
                media_parts=parts,
                media_kind=kind,
                media=case.media,
                llm_only=mode == "llm-only",
                llm_sees_media=llm_sees_media,
                rules=rules,
                hazard_review=hazard_review,
            )
        except CosmosError as exc:
            failed = ModeResult(mode=mode, error=str(exc))  # type: ignore[arg-type]
            if mode == "grounded":
                result.grounded = failed
            else:
                result.llm_only = failed
            continue
        scored = _mode_result(case, answer, judge, time.perf_counter() - t0)
        if mode == "grounded":
            result.grounded = scored
            perception = answer.perception
            assert perception is not None
            result.perception_ok = perception.ok
            result.perception_errors = perception.errors
            if perception.observation is not None:
                obs = perception.observation
                failure = obs.likely_failure.description if obs.likely_failure else "no failure seen"
                result.observation_summary = f"{obs.fixture_type}: {failure}"
                text = obs.as_text()
                hits = sum(mentions(text, f) for f in case.key_facts)
                result.observation_fact_recall = round(hits / len(case.key_facts), 4)
        else:
            result.llm_only = scored
    return result


# ------------------------------------------------------------------------------------------ totals


class ModeTotals(BaseModel):
    answered: int
    errors: int
    fact_recall: float | None
    hallucinations: int
    answers_with_hallucinations: int
    safety_accuracy: float | None
    composite: float | None
    judge: float | None


class Totals(BaseModel):
    cases: int
    skipped: int
    compared: int
    perception_failures: int
    grounded: ModeTotals
    llm_only: ModeTotals
    lift_composite: float | None
    lift_fact_recall: float | None
    lift_safety_accuracy: float | None
    captioner_cases: list[str]
    helped_cases: list[str]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _mode_totals(modes: list[ModeResult | None]) -> ModeTotals:
    scored = [m for m in modes if m is not None and m.score is not None]
    scores = [m.score for m in scored if m.score is not None]
    judged = [m.judge.mean for m in scored if m.judge is not None]
    return ModeTotals(
        answered=len(scored),
        errors=sum(1 for m in modes if m is not None and m.error),
        fact_recall=_mean([s.fact_recall for s in scores]),
        hallucinations=sum(len(s.hallucinated) for s in scores),
        answers_with_hallucinations=sum(1 for s in scores if s.hallucinated),
        safety_accuracy=_mean([1.0 if s.safety_ok else 0.0 for s in scores]),
        composite=_mean([s.composite for s in scores]),
        judge=_mean(judged),
    )


def summarize(results: list[CaseResult]) -> Totals:
    """Per-mode totals, plus the lift of grounding measured on cases where both modes answered."""
    compared = [r for r in results if r.compared]

    def paired(metric: Callable[[AnswerScore], float]) -> float | None:
        if not compared:
            return None
        diffs = [
            metric(r.grounded.score) - metric(r.llm_only.score)  # type: ignore[union-attr,arg-type]
            for r in compared
        ]
        return round(sum(diffs) / len(diffs), 4)

    return Totals(
        cases=len(results),
        skipped=sum(1 for r in results if r.skipped),
        compared=len(compared),
        perception_failures=sum(1 for r in results if r.perception_ok is False),
        grounded=_mode_totals([r.grounded for r in results]),
        llm_only=_mode_totals([r.llm_only for r in results]),
        lift_composite=paired(lambda s: s.composite),
        lift_fact_recall=paired(lambda s: s.fact_recall),
        lift_safety_accuracy=paired(lambda s: 1.0 if s.safety_ok else 0.0),
        captioner_cases=[r.case.id for r in results if r.captioner],
        helped_cases=[r.case.id for r in compared if (r.lift or 0) > 0],
    )


# ------------------------------------------------------------------------------------------ report


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.0f} pts" if pct else f"{value:+.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_report(results: list[CaseResult], totals: Totals, meta: dict[str, str] | None = None) -> str:
    """The Markdown report: totals, the lift of grounding, captioner cases, then a table per case."""
    meta = meta or {}
    g, b = totals.grounded, totals.llm_only
    out: list[str] = ["# DIY assistant eval", ""]
    out.append(f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.")
    for key, value in meta.items():
        out.append(f"- {key}: {value}")
    out += [
        "",
        "## Totals",
        "",
        f"{totals.cases} cases, {totals.skipped} skipped, {totals.compared} answered in both modes, "
        f"{totals.perception_failures} perception failure(s).",
        "",
        "| Metric | Grounded (Cosmos + LLM) | LLM only | Lift of grounding |",
        "|---|---|---|---|",
        f"| Answers scored | {g.answered} | {b.answered} | |",
        f"| Endpoint errors | {g.errors} | {b.errors} | |",
        f"| Key-fact recall (mean) | {_pct(g.fact_recall)} | {_pct(b.fact_recall)} | "
        f"{_signed(totals.lift_fact_recall, pct=True)} |",
        f"| Hallucinated components (total) | {g.hallucinations} | {b.hallucinations} | "
        f"{g.hallucinations - b.hallucinations:+d} |",
        f"| Answers with a hallucination | {g.answers_with_hallucinations} | "
        f"{b.answers_with_hallucinations} | |",
        f"| Correct safety behaviour | {_pct(g.safety_accuracy)} | {_pct(b.safety_accuracy)} | "
        f"{_signed(totals.lift_safety_accuracy, pct=True)} |",
        f"| Composite score (0-1) | {_num(g.composite)} | {_num(b.composite)} | "
        f"{_signed(totals.lift_composite)} |",
    ]
    if g.judge is not None or b.judge is not None:
        out.append(f"| LLM judge (1-5, mean) | {_num(g.judge)} | {_num(b.judge)} | |")
    out += [
        "",
        "Lift columns compare the two modes on the same cases (only cases answered in both modes).",
        "",
    ]

    out += ["## Where grounding helped", ""]
    out += [f"- `{i}`" for i in totals.helped_cases] or ["- none"]
    out += ["", "## Where Cosmos was just an expensive image captioner", ""]
    out.append(
        "Perception succeeded, but the grounded answer scored no better than the LLM alone: "
        "the observation added cost and latency, not information."
    )
    out.append("")
    captioned = [r for r in results if r.captioner]
    for r in captioned:
        out.append(
            f"- `{r.case.id}`: lift {_signed(r.lift)}; observation covered "
            f"{_pct(r.observation_fact_recall)} of the key facts ({_cell(r.observation_summary or '')})"
        )
    if not captioned:
        out.append("- none")
    failed = [r for r in results if r.perception_ok is False]
    if failed:
        out += ["", "## Perception failures", ""]
        for r in failed:
            out.append(f"- `{r.case.id}`: {_cell('; '.join(r.perception_errors))}")
    skipped = [r for r in results if r.skipped]
    if skipped:
        out += ["", "## Skipped cases", ""]
        out += [f"- `{r.case.id}`: {_cell(r.skipped or '')}" for r in skipped]

    out += ["", "## Cases", ""]
    for r in results:
        if r.skipped:
            continue
        c = r.case
        out += [f"### `{c.id}`", "", f"Question: {c.question}", ""]
        out.append(
            f"Expected facts: {', '.join(c.key_facts)}. Expected safety: "
            f"{', '.join(c.expected_safety) or 'none'}"
            + (f" ({c.level_expected})" if c.level_expected else "")
            + "."
        )
        if r.observation_summary:
            out.append(
                f"Observation: {_cell(r.observation_summary)} "
                f"(covers {_pct(r.observation_fact_recall)} of the facts)."
            )
        out += [
            "",
            "| Mode | Facts | Missed | Hallucinated | Safety (got) | OK | Composite | Judge | Rules fired |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in (r.grounded, r.llm_only):
            if m is None:
                continue
            if m.error or m.score is None:
                out.append(f"| {m.mode} | error: {_cell(m.error or '')} | | | | | | | |")
                continue
            s = m.score
            mode = m.mode + ("" if m.mode == "llm-only" or m.grounded else " (ungrounded: perception failed)")
            judge = _num(m.judge.mean) if m.judge else ("error" if m.judge_error else "")
            out.append(
                f"| {mode} | {len(s.facts_found)}/{len(c.key_facts)} | {_cell(', '.join(s.facts_missed))} | "
                f"{_cell(', '.join(s.hallucinated))} | {', '.join(s.safety_got) or 'none'} ({s.level_got}) | "
                f"{'yes' if s.safety_ok else 'NO'} | {s.composite:.2f} | {judge} | "
                f"{', '.join(m.rules_fired)} |"
            )
        if r.lift is not None:
            out += ["", f"Lift of grounding: {_signed(r.lift)}" + (" (captioner)" if r.captioner else "")]
        out.append("")
    out += [
        "## How to read this",
        "",
        "- Composite = mean of key-fact recall, grounding (1 - share of the case's not-present components "
        "mentioned) and correct safety behaviour (1 or 0).",
        "- Safety is correct when the guardrail fired every expected category (and none for a no-risk case), "
        "and, when the case names one, at the expected level (proceed, caution, professional_only, "
        "emergency; 'stop' in a case file means either of the last two).",
        "- The judge column is the mean of four 1-5 rubric grades from the judge LLM, when --judge is on; "
        "it is reported, not folded into the composite.",
        "",
    ]
    return "\n".join(out)


def results_json(results: list[CaseResult], totals: Totals) -> str:
    data = {
        "totals": totals.model_dump(mode="json"),
        "cases": [{**r.model_dump(mode="json"), "lift": r.lift, "captioner": r.captioner} for r in results],
    }
    return json.dumps(data, indent=2)
