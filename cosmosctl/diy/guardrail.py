"""The deterministic safety guardrail: the last layer of the DIY assistant, driven by guardrail_rules.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from cosmosctl.diy.observation import Observation

RULES_PATH = Path(__file__).parent / "guardrail_rules.yaml"

Source = Literal["question", "observation", "draft"]
Level = Literal["none", "caution", "stop"]
SOURCES: tuple[Source, ...] = ("question", "observation", "draft")

ADD_NOTICE = "add_professional_notice"
REMOVE_CLAIMS = "remove_code_compliance_claims"
REPLACE_PROCEDURE = "replace_with_safe_actions"

_FLAGS = re.IGNORECASE
# A "sentence" for matching and removal: text up to ., ! or ? followed by space, or a line break.
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?](?=\s|$)|$)", re.MULTILINE)
_EMPTY_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*$")


class RulesError(ValueError):
    """The rules file is malformed; raised at load time so a typo never silently disables a rule."""


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    notice: str


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    level: Literal["caution", "stop"]
    description: str
    sources: tuple[Source, ...]
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    hazard_types: tuple[str, ...]
    systems: tuple[str, ...]
    safe_actions: str | None


@dataclass(frozen=True)
class Rulebook:
    version: int
    categories: dict[str, Category]
    safe_actions: dict[str, tuple[str, ...]]
    rules: tuple[Rule, ...]
    draft_warning_sentences: tuple[re.Pattern[str], ...]
    compliance_patterns: tuple[re.Pattern[str], ...]
    compliance_exclude: tuple[re.Pattern[str], ...]
    compliance_note: str


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, _FLAGS)
    except re.error as exc:
        raise RulesError(f"{where}: bad regular expression {pattern!r}: {exc}") from exc


def parse_rules(data: dict[str, Any]) -> Rulebook:
    """Build a Rulebook from the YAML data, checking every cross-reference."""
    try:
        categories = {
            name: Category(name=name, label=str(c["label"]), notice=" ".join(str(c["notice"]).split()))
            for name, c in data["categories"].items()
        }
        safe_actions = {name: tuple(str(a) for a in steps) for name, steps in data["safe_actions"].items()}
        exclude_sets: dict[str, list[str]] = data.get("exclude_sets", {})

        def expand(patterns: list[str], where: str) -> tuple[re.Pattern[str], ...]:
            out: list[re.Pattern[str]] = []
            for p in patterns:
                if p.startswith("@"):
                    if p[1:] not in exclude_sets:
                        raise RulesError(f"{where}: unknown exclude set {p!r}")
                    out.extend(_compile(x, f"{where} {p}") for x in exclude_sets[p[1:]])
                else:
                    out.append(_compile(p, where))
            return tuple(out)

        rules: list[Rule] = []
        seen: set[str] = set()
        for raw in data["rules"]:
            rid = str(raw["id"])
            if rid in seen:
                raise RulesError(f"duplicate rule id {rid!r}")
            seen.add(rid)
            if raw["category"] not in categories:
                raise RulesError(f"rule {rid}: unknown category {raw['category']!r}")
            if raw["level"] not in ("caution", "stop"):
                raise RulesError(f"rule {rid}: level must be caution or stop")
            sources = tuple(raw["sources"])
            if not sources or any(s not in SOURCES for s in sources):
                raise RulesError(f"rule {rid}: sources must be some of {SOURCES}")
            actions = raw.get("safe_actions")
            if raw["level"] == "stop" and actions not in safe_actions:
                raise RulesError(f"rule {rid}: a stop rule needs safe_actions from {sorted(safe_actions)}")
            if not raw.get("patterns") and not raw.get("hazard_types") and not raw.get("systems"):
                raise RulesError(f"rule {rid}: nothing to match")
            rules.append(
                Rule(
                    id=rid,
                    category=raw["category"],
                    level=raw["level"],
                    description=str(raw["description"]),
                    sources=sources,  # type: ignore[arg-type]
                    patterns=expand(raw.get("patterns", []), f"rule {rid}"),
                    exclude=expand(raw.get("exclude", []), f"rule {rid} exclude"),
                    hazard_types=tuple(raw.get("hazard_types", [])),
                    systems=tuple(raw.get("systems", [])),
                    safe_actions=actions,
                )
            )
        cc = data["code_compliance"]
        return Rulebook(
            version=int(data["version"]),
            categories=categories,
            safe_actions=safe_actions,
            rules=tuple(rules),
            draft_warning_sentences=expand(
                data.get("draft_warning_sentences", []), "draft_warning_sentences"
            ),
            compliance_patterns=expand(cc["patterns"], "code_compliance"),
            compliance_exclude=expand(cc.get("exclude", []), "code_compliance exclude"),
            compliance_note=" ".join(str(cc["note"]).split()),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise RulesError(f"malformed rules file: {exc!r}") from exc


def load_rules(path: Path | str | None = None) -> Rulebook:
    """The rulebook from `path`, or the packaged guardrail_rules.yaml (cached)."""
    if path is None:
        return _default_rules()
    return parse_rules(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _default_rules() -> Rulebook:
    return parse_rules(yaml.safe_load(RULES_PATH.read_text(encoding="utf-8")))


class FiredRule(BaseModel):
    rule: str
    category: str
    level: Literal["caution", "stop"]
    source: Source
    match: str


class GuardrailResult(BaseModel):
    """What the guardrail decided and the answer the user is shown."""

    categories: list[str]
    level: Level
    actions: list[str]
    fired: list[FiredRule]
    removed_claims: list[str]
    notices: list[str]
    safe_actions: list[str]
    answer: str

    @property
    def rule_ids(self) -> list[str]:
        return list(dict.fromkeys(f.rule for f in self.fired))


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.end() > m.start()]


def _sentence_at(text: str, pos: int) -> str:
    for start, end in _sentence_spans(text):
        if start <= pos < end:
            return text[start:end]
    return text


def _valid_matches(
    patterns: tuple[re.Pattern[str], ...], exclude: tuple[re.Pattern[str], ...], text: str
) -> list[re.Match[str]]:
    """Every match of `patterns` whose first or last character no `exclude` match covers.

    All start positions are tried. Only the ends of a match are checked because they are the words
    a pattern anchors on ("A ... B"): an excluded phrase that merely sits in the middle of a longer
    match ("A, near the excluded phrase, onto B") must not veto it, or a real hazard would pass
    unflagged (see the rules file's "How a rule fires").
    """
    blocked = [(m.start(), m.end()) for x in exclude for m in x.finditer(text)]
    found: list[re.Match[str]] = []
    for pattern in patterns:
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            last = max(m.start(), m.end() - 1)
            if not any(start <= m.start() < end or start <= last < end for start, end in blocked):
                found.append(m)
                pos = m.end() if m.end() > m.start() else m.start() + 1
            else:
                pos = m.start() + 1
    return sorted(found, key=lambda m: (m.start(), -len(m.group(0))))


def classify(
    question: str, observation: Observation | None, draft: str, rules: Rulebook | None = None
) -> list[FiredRule]:
    """Every rule that fires, at most once per rule and source, in rules-file order."""
    book = rules or load_rules()
    texts: dict[Source, str] = {
        "question": question or "",
        "observation": observation.as_text() if observation else "",
        "draft": draft or "",
    }
    fired: list[FiredRule] = []
    for rule in book.rules:
        for source in rule.sources:
            hit = _first_hit(rule, source, texts[source], book)
            if hit is None and source == "observation" and observation is not None:
                hit = _structured_hit(rule, observation)
            if hit is not None:
                fired.append(
                    FiredRule(
                        rule=rule.id, category=rule.category, level=rule.level, source=source, match=hit
                    )
                )
    return fired


def _first_hit(rule: Rule, source: Source, text: str, book: Rulebook) -> str | None:
    if not text:
        return None
    for m in _valid_matches(rule.patterns, rule.exclude, text):
        if source == "draft" and rule.level == "stop":
            sentence = _sentence_at(text, m.start())
            if any(w.search(sentence) for w in book.draft_warning_sentences):
                continue  # a warning or referral in the draft, not an instruction
        return m.group(0)
    return None


def _structured_hit(rule: Rule, observation: Observation) -> str | None:
    for hazard in observation.hazards:
        if hazard.type in rule.hazard_types:
            return f"hazard:{hazard.type}"
    if observation.system in rule.systems:
        return f"system:{observation.system}"
    return None


def remove_compliance_claims(text: str, rules: Rulebook | None = None) -> tuple[str, list[str]]:
    """Drop every sentence that claims code compliance; return the cleaned text and the removed sentences."""
    book = rules or load_rules()
    matches = _valid_matches(book.compliance_patterns, book.compliance_exclude, text)
    if not matches:
        return text, []
    spans = _sentence_spans(text)
    doomed = sorted({s for m in matches for s in spans if s[0] <= m.start() < s[1]})
    removed = [text[a:b].strip() for a, b in doomed]
    for a, b in reversed(doomed):
        text = text[:a] + text[b:]
    # A bullet or numbered item whose only sentence was removed leaves a bare list marker: drop it.
    lines = [
        line.rstrip() for line in text.split("\n") if not (line.strip() and _EMPTY_LIST_ITEM.match(line))
    ]
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return cleaned, removed


def apply_guardrail(
    question: str, observation: Observation | None, draft: str, rules: Rulebook | None = None
) -> GuardrailResult:
    """Classify the question, observation and draft, and build the answer the user sees."""
    book = rules or load_rules()
    fired = classify(question, observation, draft, book)
    categories = [c for c in book.categories if any(f.category == c for f in fired)]
    stop_rules = [r for r in book.rules if any(f.rule == r.id and f.level == "stop" for f in fired)]
    level: Level = "stop" if stop_rules else ("caution" if fired else "none")
    notices = [book.categories[c].notice for c in categories]
    actions: list[str] = [ADD_NOTICE] if categories else []
    safe: list[str] = []
    removed: list[str] = []

    if level == "stop":
        for rule in stop_rules:
            assert rule.safe_actions is not None  # checked at load time
            safe.extend(a for a in book.safe_actions[rule.safe_actions] if a not in safe)
        actions.append(REPLACE_PROCEDURE)
        reasons = " ".join(dict.fromkeys(r.description for r in stop_rules))
        body = [f"**Stop: this is not a do-it-yourself job.** {reasons}", "", "**Do this now:**"]
        body += [f"{i}. {step}" for i, step in enumerate(safe, 1)]
        body += [""] + [f"> **{book.categories[c].label}:** {book.categories[c].notice}" for c in categories]
        answer = "\n".join(body)
    else:
        cleaned, removed = remove_compliance_claims(draft, book)
        if removed:
            actions.append(REMOVE_CLAIMS)
        parts = [
            f"> **Safety ({book.categories[c].label}):** {book.categories[c].notice}" for c in categories
        ]
        parts.append(cleaned)
        if removed:
            parts.append("_" + book.compliance_note.format(count=len(removed)) + "_")
        answer = "\n\n".join(p for p in parts if p)

    return GuardrailResult(
        categories=categories,
        level=level,
        actions=actions,
        fired=fired,
        removed_claims=removed,
        notices=notices,
        safe_actions=safe,
        answer=answer,
    )
