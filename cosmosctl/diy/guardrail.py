"""The safety guardrail: the last layer of the DIY assistant, driven by guardrail_rules.yaml.

It decides per job, not per line. The question, the perception and the draft are normalised
(case, quotes, dashes, Markdown, line breaks, typos) and read together; every rule that fires
raises the job to a level: proceed < caution < professional_only < emergency. At
professional_only or emergency the whole draft is withheld and replaced by what is safe to do now,
what to tell the professional and the notice; it is never edited line by line. A model's second
opinion may raise the level, never lower it. An emergency cue that a stated context explains away
("rotten-egg smell only from the plughole") keeps the level but opens the answer with a one-line
"if ... leave and call" action. Code-compliance claims are removed last.
"""

from __future__ import annotations

import re
import re._constants as _C  # the regex parser, for the pre-check of literals (_literals)
import re._parser as _P
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process

from cosmosctl.diy.observation import Observation

if TYPE_CHECKING:
    from cosmosctl.diy.lexical import LexicalOpinion

RULES_PATH = Path(__file__).parent / "guardrail_rules.yaml"

Source = Literal["question", "perception", "draft"]
Level = Literal["proceed", "caution", "professional_only", "emergency"]
SOURCES: tuple[Source, ...] = ("question", "perception", "draft")
LEVELS: tuple[Level, ...] = ("proceed", "caution", "professional_only", "emergency")
WITHHELD: frozenset[str] = frozenset({"professional_only", "emergency"})

ADD_NOTICE = "add_professional_notice"
WITHHOLD = "withhold_procedure"
REMOVE_CLAIMS = "remove_code_compliance_claims"
CONDITIONAL = "add_conditional_emergency_action"

# Typographic characters mapped to ASCII before matching.
_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": " - ", "\u2015": " - ",
        "\u2212": "-", "\u00a0": " ", "\u2022": "-", "\u00b7": "-", "\u2026": "...",
    }
)  # fmt: skip
_LIST_MARK = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|#{1,6}\s+|>\s*)+")
_EMPHASIS = re.compile(r"(\*\*|__|~~|(?<!\w)[*_]|[*_](?!\w))")
_SENT_END = re.compile(r"[.!?:;]$")
_WORD = re.compile(r"[a-z][a-z']+")
# A sentence ends at . ! ? ; followed by a space or the end ("NEC 210.8" and "9.5kW" stay whole), or a line break.
_SENTENCES = re.compile(r"(?:[^\n.!?;]|[.!?;](?=[^\s.!?;]))+(?:[.!?;]+(?=\s|$)|$)", re.MULTILINE)
_PIECES = re.compile(
    r"(?:[^.!?]|[.!?](?=[^\s.!?])|(?<=\b[A-Za-z]\.[A-Za-z])\.[ \t]+(?=\d))+(?:[.!?]+(?=\s|$)|$)"
)
# The claim detector's sentences (and `_PIECES`, what it removes): as `_SENTENCES`, but a standard named by
# its initials before its number ("complies with I.S. 10101", session 27) is not cut after the initials'
# last full stop.
_CLAIM_SENTENCES = re.compile(
    r"(?:[^\n.!?;]|[.!?;](?=[^\s.!?;])|(?<=\b[a-z]\.[a-z])\.[ \t]+(?=\d))+(?:[.!?;]+(?=\s|$)|$)", re.MULTILINE
)


class RulesError(ValueError):
    """The rules file is malformed; raised at load time so a typo never silently disables a rule."""


def level_index(level: str) -> int:
    return LEVELS.index(level)  # type: ignore[arg-type]


def max_level(*levels: Level) -> Level:
    return max(levels, key=level_index)


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    notice: str
    safe_now: tuple[str, ...]
    tell_pro: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    level: Level
    description: str
    sources: tuple[Source, ...]
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]  # sentence-level context that vetoes the rule in that sentence
    # A veto that reclassifies the job (a burner's flame colour is not an electrical fire), so no
    # conditional emergency line either.
    unless_quiet: tuple[re.Pattern[str], ...]
    all_of: tuple[tuple[re.Pattern[str], ...], ...]  # job-level: each group must match in some source
    # A context anywhere in the question that makes the whole job something else (a battery science
    # fair circuit is not house wiring). On an emergency rule a vetoed cue still opens the answer with
    # its conditional line (white vapour on a frosty morning from a heat pump: "it's SMOKING!" said in
    # another sentence); on a professional-only rule it can hide a withheld job, so each use needs
    # probes pairing it with the real work (rules-file header).
    unless_job: tuple[re.Pattern[str], ...]
    hazard_types: tuple[str, ...]
    systems: tuple[str, ...]
    emergency: str | None  # key of `emergencies` for the first steps of an emergency answer
    # Default-deny for a hazard domain: when the rule fires on the question or the perception and no
    # recognised DIY task of its category (`diy_tasks`) names the job, it fires at this level instead.
    unrecognised_level: Level | None = None
    # Asking contexts ("what does ... mean", "difference between"): like `unless_job`, but only while no
    # word of the question acts on the rule's match (`_acts_on`): "what's the difference between doing it
    # now and waiting to re-site the combi" still names the work.
    unless_asking: tuple[re.Pattern[str], ...] = ()
    # Further categories the same finding belongs to (water at a socket is electrical too): the rule
    # fires once per category, at the same level, instead of a copy of the rule per category.
    also: tuple[str, ...] = ()
    # In the draft, a match counts only in a clause that also names work on the thing (one of these):
    # a draft that mentions sockets while hanging a mirror ("cables run above and below sockets") or
    # a wall plug ("press the plug in") is not electrical work.
    draft_work: tuple[re.Pattern[str], ...] = ()
    # A context anywhere in the question, the perception or the draft, not negated, that cancels the rule for
    # the whole job: a draft that opens a switch or socket is live work unless the circuit is isolated somewhere
    # ("switch off the breaker" in the draft, "the breaker is off" in the question); "no need to switch off the
    # breaker" is no such context.
    unless_anywhere: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Companion:
    """A category a job carries because another one fired and the job names a context that joins
    them: electrics in a bathroom are water near electricity too, a CO question about a boiler is a gas
    job too. It adds the category (its notice, its steps, what to tell the professional) at the level
    the other category already has, after every level is decided, so it never changes the level."""

    id: str
    category: str
    with_categories: tuple[str, ...]  # it joins when one of these fired above proceed
    description: str
    patterns: tuple[re.Pattern[str], ...]  # the context, in the question or the perception
    exclude: tuple[re.Pattern[str], ...]  # a match these cover is another thing ("tap into", "gas leak")
    unless_job: tuple[re.Pattern[str], ...]  # anywhere in the question or perception: not this join
    up_to: Level = "emergency"  # it joins only while its `with` categories are at most this level


@dataclass(frozen=True)
class DiyTask:
    """A job in a hazard domain that the assistant may walk a user through (with the notice)."""

    id: str
    category: str
    description: str
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    # Asking, not doing: the task names no job of its own, so it stands only while no word of the
    # question acts on the hazard's own words (`_acts_on`).
    asks: bool = False
    # Anywhere in the question or perception, any of these makes the task stand for nothing: a ladder
    # named in one sentence does not make "fix the whirlybird on the roof" in the next a ladder job.
    exclude_job: tuple[re.Pattern[str], ...] = ()
    # In any sentence of the draft, any of these makes the task stand for nothing: the draft walks the
    # user through work the task does not cover ("install a contactor and a time clock in your consumer
    # unit" under a question about a wallbox's charging schedule).
    exclude_draft: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Locale:
    name: str
    label: str
    markers: tuple[re.Pattern[str], ...]
    emergency_number: str
    gas_line: str


@dataclass(frozen=True)
class LexicalSettings:
    """How far the learned lexical opinion (cosmosctl/diy/lexical.py) may move the rules' level."""

    raise_at: float  # the model's probability at or above which it may raise the level
    # ... at or above which it may lower what the rules fired at a level, by that level, and
    # `default_deny` for a withhold that came from the default-deny alone; a level not named is never
    # lowered
    lower_at: dict[str, float]
    withhold_to_proceed: float  # ... at or above which a lowered withhold may go below caution
    categories_at: float | None  # the probability at which its hazard categories join the rules'
    # The MiniLM model (cosmosctl/diy/minilm.py) adds a raise to a withhold when it rates the job so at
    # this probability or above, after everything else (`with_transformer_opinion`). None: not run.
    transformer_raise_at: float | None
    emergency: dict[str, str]  # category -> the emergency steps a raise to emergency shows
    # A withhold is lowered only when the MiniLM model, rating the whole job, agrees: its level at or below
    # the new one, as surely as the lexical model must be (`_lowered`). Two models trained differently
    # must both be sure the job is not what the rules said.
    lower_withhold_needs_minilm: bool = False
    # Rules no model lowers, whatever its probability: an acute danger the models learned a calmer
    # brief's level for (an engine running in an attached garage is an emergency, not a CO sign to book).
    never_lowered: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LoweringContext:
    """What the lexical model must consult before it lowers a rule (`with_lexical_opinion`)."""

    texts: dict[str, str]  # source -> the text the rules read (question, perception, draft)
    read: Callable[[str], str]  # the rules' normalisation: the text a rule's match was found in
    rate: Callable[[str], LexicalOpinion]  # the model's opinion of a piece of text alone
    clause_split: re.Pattern[str] = re.compile(r"[,;:()|]")  # the rules' clause boundaries
    # Sources whose matches are never lowered: the draft (what the user would see) and a perception
    # that is Cosmos's structured observation rendered as text (a form the model never learned).
    held: frozenset[str] = frozenset({"draft"})
    # The MiniLM model's opinion of the whole job, asked only when a withhold could be lowered
    # (`LexicalSettings.lower_withhold_needs_minilm`); None: no such model, and no withhold is lowered.
    confirm: Callable[[], LexicalOpinion] | None = None


@dataclass(frozen=True)
class NoSwitching:
    """`answers.no_switching`: in an emergency with one of `emergencies` (a gas leak), no step may send the
    user to a switch, a breaker or a plug (`steps`), and a category whose notice does so is shown with its
    replacement from `notices` instead (the electrical notice's "switch the circuit off")."""

    emergencies: frozenset[str] = frozenset()
    steps: re.Pattern[str] | None = None
    notices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rulebook:
    version: int
    categories: dict[str, Category]
    emergencies: dict[str, tuple[str, ...]]
    # One line per emergency, shown when an emergency cue was seen but a stated context explains it
    # ("rotten-egg smell only from the sink trap"): what to do if the danger is real after all.
    conditional: dict[str, str]
    # Hazard category -> conditional lines every answer carrying that category opens with, whatever
    # its level: the leave-or-call floor for an emergency the rules rated lower.
    standing_conditional: dict[str, tuple[str, ...]]
    locales: dict[str, Locale]
    default_locale: Locale
    rules: tuple[Rule, ...]
    diy_tasks: dict[str, tuple[DiyTask, ...]]  # category (or `any`) -> the recognised DIY tasks
    lexicon: tuple[str, ...]
    rule_words: frozenset[str]  # every word of the vocabulary and typo targets (for g-dropping)
    protected_words: frozenset[str]
    dialect: dict[str, str]  # a dialect or slang word -> the word the rules read ("doon" -> "down")
    # The dialect table's entries of several words (speech-to-text splits: "see oh" -> "co"), as one pattern.
    dialect_phrases: re.Pattern[str] | None
    typo_min_length: int
    typo_cutoff: float
    typo_cutoff_long: float
    clause_split: re.Pattern[str]
    negation: re.Pattern[str]
    question_negation: re.Pattern[str]
    referral: re.Pattern[str]
    inner_negation: re.Pattern[str]
    # after a negated match, what makes the negation the user's inexperience, not a denial ("never sanded
    # artex before"): `wording.inexperience`; None keeps every negation
    inexperience: re.Pattern[str] | None
    claim_trigger: re.Pattern[str]  # cheap pre-check: a sentence without it cannot hold a claim
    claim_patterns: tuple[re.Pattern[str], ...]
    claim_keep: tuple[re.Pattern[str], ...]
    claim_note: str
    # claim words a line break may hyphenate ("Part P com-" / "pliant"): only these are joined back
    claim_split_words: frozenset[str]
    withheld_heading: str
    emergency_heading: str
    # what an answer to a gas leak leaves out (`answers.no_switching`)
    no_switching: NoSwitching = field(default_factory=NoSwitching)
    lexical: LexicalSettings | None = None  # None: the rules alone decide (a rules file without `lexical:`)
    acting: ActingWords | None = None  # None: an asking task or context stands whatever the question does
    companions: tuple[Companion, ...] = ()  # categories joined by context (`companions` in the rules file)


# ------------------------------------------------------------------------------------ loading


def _expand(pattern: str, vocab: dict[str, _Concept], where: str) -> re.Pattern[str]:
    """Replace {concept} by the concept's alternation and " ~ " by a gap of up to six words."""

    def concept(m: re.Match[str]) -> _Concept:
        name = m.group(1)
        if name not in vocab:
            raise RulesError(f"{where}: unknown vocabulary {{{name}}} in {pattern!r}")
        return vocab[name]

    def gaps(text: str) -> str:
        return text.replace(" ~~ ", r"(?:\W+[\w']+){0,10}?\W+").replace(" ~ ", r"(?:\W+[\w']+){0,6}?\W+")

    text = gaps(re.sub(r"\{([a-z_]+)\}", lambda m: concept(m).plain, pattern))
    fast = gaps(re.sub(r"\{([a-z_]+)\}", lambda m: concept(m).fast, pattern))
    try:
        compiled = _compile(fast)  # the plain form differs only in how each concept is written
    except re.error as exc:
        raise RulesError(f"{where}: bad regular expression {pattern!r}: {exc}") from exc
    _PLAIN[fast] = text
    return compiled


@cache
def _compile(text: str) -> re.Pattern[str]:
    # The rules hold thousands of patterns, more than `re`'s own cache keeps: a rulebook loaded again
    # in the same process (a custom rules file, the tests) reuses the compiled ones.
    return re.compile(text)


def read_yaml(text: str) -> Any:
    """YAML through libyaml when PyYAML has it (the rules and case files parse five times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass(frozen=True)
class _Concept:
    """A vocabulary concept as a regex: `plain`, its phrases as one alternation, longest first, and
    `fast`, the same alternation as a trie (phrases sharing a start share one branch)."""

    plain: str
    fast: str


# fast regex text -> the plain text it was built from: what a pattern needs (`_literals`) is read from
# the plain form, whose alternatives are whole phrases.
_PLAIN: dict[str, str] = {}

_END = ""  # trie key of a phrase's end (its optional plural follows)
_SUFFIX = r"(?:e?s)?"


def _concept(phrases: list[str]) -> _Concept:
    """`re` tries an alternation's branches one after another at every word start: hundreds of
    phrases cost hundreds of tries. As a trie, only the branches that share the text's first letters are
    tried. Branch order keeps the plain form's priority (longest phrase first): siblings start with
    different tokens, so at most one of them can match at a point, except a phrase's end, tried last
    as in the plain form where a shorter phrase comes after the longer ones it starts."""
    alternatives = sorted((_phrase_regex(p) for p in phrases), key=len, reverse=True)
    trie: dict[str, Any] = {}
    for phrase in phrases:
        words = normalize_plain(phrase).split()
        node = trie
        for i, word in enumerate(words):
            tokens = [re.escape(c) for c in word] if i == 0 else [r"\s+", *(re.escape(c) for c in word)]
            for token in tokens:
                node = node.setdefault(token, {})
        node[_END] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [token + render(child) for token, child in node.items() if token != _END]
        if _END in node:
            branches.append(_SUFFIX)
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return _Concept(
        plain=r"\b(?:" + "|".join(alternatives) + r")\b",
        fast=r"\b" + render(trie) + r"\b",
    )


def _phrase_regex(phrase: str) -> str:
    """A vocabulary phrase as a regex body: words apart by spaces, a plural s/es allowed at the end."""
    phrase = normalize_plain(phrase)
    words = [re.escape(w) for w in phrase.split()]
    return r"\s+".join(words) + r"(?:e?s)?"


# Every key a rule or a DIY task may have (its fields; a task's category is the heading it sits under): a
# misspelt key (`exclude_jobs:`) would otherwise be read as absent and silently widen what it matches.
_RULE_KEYS = frozenset(f.name for f in fields(Rule))
_TASK_KEYS = frozenset(f.name for f in fields(DiyTask)) - {"category"}
_COMPANION_KEYS = frozenset(
    {"id", "category", "with", "description", "patterns", "exclude", "unless_job", "up_to"}
)


def _check_keys(raw: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def parse_rules(data: dict[str, Any]) -> Rulebook:
    """Build a Rulebook from the YAML data, checking every cross-reference."""
    try:
        raw_vocab: dict[str, list[str]] = data["vocabulary"]
        vocab = {name: _concept(phrases) for name, phrases in raw_vocab.items()}
        categories = {
            name: Category(
                name=name,
                label=str(c["label"]),
                notice=" ".join(str(c["notice"]).split()),
                safe_now=tuple(str(s) for s in c["safe_now"]),
                tell_pro=tuple(str(s) for s in c["tell_pro"]),
            )
            for name, c in data["categories"].items()
        }
        for name, c in categories.items():
            if not _sends_to_a_professional(c.notice):
                raise RulesError(
                    f"category {name}: the notice must tell the user to verify with a licensed professional"
                )
        implies = {name: tuple(c.get("implies", [])) for name, c in data["categories"].items()}
        for name, implied in implies.items():
            if any(c not in categories or c == name for c in implied):
                raise RulesError(
                    f"category {name}: `implies` must name other categories from {sorted(categories)}"
                )
        emergencies = {name: tuple(str(s) for s in steps) for name, steps in data["emergencies"].items()}
        conditional = {str(k): " ".join(str(v).split()) for k, v in data.get("conditional", {}).items()}
        for key in conditional:
            if key not in emergencies:
                raise RulesError(f"conditional {key!r} is not an emergency")
        if "general" not in conditional:
            raise RulesError("conditional needs a `general` line")
        standing = {
            str(c): tuple(str(k) for k in keys) for c, keys in data.get("standing_conditional", {}).items()
        }
        for category, keys in standing.items():
            if category not in categories:
                raise RulesError(f"standing_conditional {category!r} is not a category")
            for key in keys:
                if key not in conditional:
                    raise RulesError(f"standing_conditional {category}: {key!r} has no conditional line")
        locales = {
            name: Locale(
                name=name,
                label=str(loc["label"]),
                markers=tuple(_expand(p, vocab, f"locale {name}") for p in loc.get("markers", [])),
                emergency_number=str(loc["emergency_number"]),
                gas_line=str(loc["gas_line"]),
            )
            for name, loc in data["locales"].items()
        }
        default_name = str(data["default_locale"])
        if default_name not in locales:
            raise RulesError(f"default_locale {default_name!r} is not a locale")
        rules: list[Rule] = []
        seen: set[str] = set()
        for raw in data["rules"]:
            rid = str(raw["id"])
            where = f"rule {rid}"
            if rid in seen:
                raise RulesError(f"duplicate rule id {rid!r}")
            _check_keys(raw, _RULE_KEYS, where)
            seen.add(rid)
            if raw["category"] not in categories:
                raise RulesError(f"{where}: unknown category {raw['category']!r}")
            if raw["level"] not in LEVELS[1:]:
                raise RulesError(f"{where}: level must be one of {LEVELS[1:]}")
            sources = tuple(raw["sources"])
            if not sources or any(s not in SOURCES for s in sources):
                raise RulesError(f"{where}: sources must be some of {SOURCES}")
            emergency = raw.get("emergency")
            if raw["level"] == "emergency" and emergency not in emergencies:
                raise RulesError(f"{where}: an emergency rule needs `emergency` from {sorted(emergencies)}")
            if raw["level"] == "emergency" and "draft" in sources:
                raise RulesError(
                    f"{where}: emergencies come from the question or the perception, not the draft"
                )
            unrecognised = raw.get("unrecognised_level")
            if unrecognised is not None and (
                unrecognised != "professional_only" or raw["level"] != "caution"
            ):
                raise RulesError(f"{where}: unrecognised_level must be professional_only, on a caution rule")
            if not any(raw.get(k) for k in ("patterns", "hazard_types", "systems", "all_of")):
                raise RulesError(f"{where}: nothing to match")
            also = tuple(raw.get("also", []))
            if any(c not in categories or c == raw["category"] for c in also):
                raise RulesError(f"{where}: `also` must name other categories from {sorted(categories)}")
            # A category's `implies` (water near electricity is electrical too) goes with every rule of it.
            also += tuple(c for c in implies.get(raw["category"], ()) if c not in also)
            rules.append(
                Rule(
                    id=rid,
                    category=raw["category"],
                    level=raw["level"],
                    description=str(raw["description"]),
                    sources=sources,  # type: ignore[arg-type]
                    patterns=tuple(_expand(p, vocab, where) for p in raw.get("patterns", [])),
                    exclude=tuple(_expand(p, vocab, where + " exclude") for p in raw.get("exclude", [])),
                    unless=tuple(_expand(p, vocab, where + " unless") for p in raw.get("unless", [])),
                    unless_quiet=tuple(
                        _expand(p, vocab, where + " unless_quiet") for p in raw.get("unless_quiet", [])
                    ),
                    all_of=tuple(
                        tuple(_expand(p, vocab, where + " all_of") for p in group)
                        for group in raw.get("all_of", [])
                    ),
                    unless_job=tuple(
                        _expand(p, vocab, where + " unless_job") for p in raw.get("unless_job", [])
                    ),
                    unless_asking=tuple(
                        _expand(p, vocab, where + " unless_asking") for p in raw.get("unless_asking", [])
                    ),
                    hazard_types=tuple(raw.get("hazard_types", [])),
                    systems=tuple(raw.get("systems", [])),
                    emergency=emergency,
                    unrecognised_level=unrecognised,
                    also=also,
                    draft_work=tuple(
                        _expand(p, vocab, where + " draft_work") for p in raw.get("draft_work", [])
                    ),
                    unless_anywhere=tuple(
                        _expand(p, vocab, where + " unless_anywhere") for p in raw.get("unless_anywhere", [])
                    ),
                )
            )
        diy_tasks: dict[str, tuple[DiyTask, ...]] = {}
        task_ids: set[str] = set()
        for category, tasks in (data.get("diy_tasks") or {}).items():
            if category != "any" and category not in categories:
                raise RulesError(f"diy_tasks: unknown category {category!r}")
            parsed: list[DiyTask] = []
            for raw in tasks or []:
                tid = f"{category}.{raw['id']}"
                where = f"diy task {tid}"
                if tid in task_ids:
                    raise RulesError(f"duplicate diy task id {tid!r}")
                _check_keys(raw, _TASK_KEYS, where)
                task_ids.add(tid)
                if not raw.get("patterns"):
                    raise RulesError(f"{where}: nothing to match")
                parsed.append(
                    DiyTask(
                        id=tid,
                        category=category,
                        description=str(raw["description"]),
                        patterns=tuple(_expand(p, vocab, where) for p in raw["patterns"]),
                        exclude=tuple(_expand(p, vocab, where + " exclude") for p in raw.get("exclude", [])),
                        asks=bool(raw.get("asks", False)),
                        exclude_job=tuple(
                            _expand(p, vocab, where + " exclude_job") for p in raw.get("exclude_job", [])
                        ),
                        exclude_draft=tuple(
                            _expand(p, vocab, where + " exclude_draft") for p in raw.get("exclude_draft", [])
                        ),
                    )
                )
            diy_tasks[category] = tuple(parsed)
        companions: list[Companion] = []
        for raw in data.get("companions") or []:
            cid = str(raw["id"])
            where = f"companion {cid}"
            _check_keys(raw, _COMPANION_KEYS, where)
            if cid in seen or any(c.id == cid for c in companions):
                raise RulesError(f"duplicate rule id {cid!r}")
            joined = tuple(str(c) for c in raw["with"])
            if (
                raw["category"] not in categories
                or not joined
                or any(c not in categories or c == raw["category"] for c in joined)
            ):
                raise RulesError(f"{where}: `category` and `with` must name different categories")
            if not cid.startswith(f"{raw['category']}."):
                raise RulesError(f"{where}: the id starts with its category ({raw['category']}.)")
            if not raw.get("patterns"):
                raise RulesError(f"{where}: nothing to match")
            companions.append(
                Companion(
                    id=cid,
                    category=str(raw["category"]),
                    with_categories=joined,
                    description=str(raw["description"]),
                    patterns=tuple(_expand(p, vocab, where) for p in raw["patterns"]),
                    exclude=tuple(_expand(p, vocab, where + " exclude") for p in raw.get("exclude", [])),
                    unless_job=tuple(
                        _expand(p, vocab, where + " unless_job") for p in raw.get("unless_job", [])
                    ),
                    up_to=raw.get("up_to", "emergency"),
                )
            )
            if companions[-1].up_to not in LEVELS[1:]:
                raise RulesError(f"{where}: up_to must be one of {LEVELS[1:]}")
        typo = data["typos"]
        lexicon = sorted({normalize_plain(w) for w in typo["targets"]})
        words = data["wording"]
        cc = data["code_compliance"]
        dialect = {normalize_plain(k): normalize_plain(str(v)) for k, v in typo.get("dialect", {}).items()}
        phrases = sorted((k for k in dialect if " " in k), key=len, reverse=True)  # longest first
        return Rulebook(
            version=int(data["version"]),
            categories=categories,
            emergencies=emergencies,
            conditional=conditional,
            standing_conditional=standing,
            locales=locales,
            default_locale=locales[default_name],
            rules=tuple(rules),
            diy_tasks=diy_tasks,
            lexicon=tuple(w for w in lexicon if w.isalpha()),
            rule_words=frozenset(
                w
                for phrases in [*raw_vocab.values(), typo["targets"]]
                for phrase in phrases
                for w in normalize_plain(str(phrase)).split()
                if w.isalpha()
            ),
            protected_words=frozenset(normalize_plain(w) for w in typo.get("protect", [])),
            dialect=dialect,
            dialect_phrases=re.compile(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
            if phrases
            else None,
            typo_min_length=int(typo["min_length"]),
            typo_cutoff=float(typo["cutoff"]),
            typo_cutoff_long=float(typo["cutoff_long"]),
            clause_split=_expand(words["clause_split"], vocab, "wording.clause_split"),
            negation=_expand(words["negation"], vocab, "wording.negation"),
            question_negation=_expand(words["question_negation"], vocab, "wording.question_negation"),
            referral=_expand(words["referral"], vocab, "wording.referral"),
            inner_negation=_expand(words["inner_negation"], vocab, "wording.inner_negation"),
            inexperience=(
                _expand(words["inexperience"], vocab, "wording.inexperience")
                if "inexperience" in words
                else None
            ),
            claim_trigger=_expand(cc["trigger"], vocab, "code_compliance.trigger"),
            claim_patterns=tuple(_expand(p, vocab, "code_compliance") for p in cc["patterns"]),
            claim_keep=tuple(_expand(p, vocab, "code_compliance keep") for p in cc.get("keep", [])),
            claim_note=" ".join(str(cc["note"]).split()),
            claim_split_words=frozenset(str(w).lower() for w in cc["split_words"]),
            withheld_heading=str(data["answers"]["withheld_heading"]),
            emergency_heading=str(data["answers"]["emergency_heading"]),
            no_switching=_no_switching(data["answers"].get("no_switching"), emergencies, categories),
            lexical=_lexical_settings(data.get("lexical"), categories, emergencies, {r.id for r in rules}),
            acting=_acting_words(words.get("acting"), vocab),
            companions=tuple(companions),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise RulesError(f"malformed rules file: {exc!r}") from exc


def _sends_to_a_professional(notice: str) -> bool:
    """Whether a notice tells the user to verify with a licensed (or registered) professional."""
    return "licensed" in notice.lower() or "registered" in notice.lower()


def _no_switching(
    raw: Any, emergencies: dict[str, tuple[str, ...]], categories: dict[str, Category]
) -> NoSwitching:
    """`answers.no_switching`: the emergencies whose answer must not tell the user to operate electrics."""
    if not raw:
        return NoSwitching()
    unknown = set(raw) - {"emergencies", "steps", "notices"}
    if unknown:
        raise RulesError(f"answers.no_switching: unknown key(s) {sorted(unknown)}")
    keys = frozenset(str(k) for k in raw["emergencies"])
    if not keys or not keys <= set(emergencies):
        raise RulesError(f"answers.no_switching: emergencies must be some of {sorted(emergencies)}")
    steps = _compile(str(raw["steps"]))
    for key in keys:
        if any(
            steps.search(step.lower()) and not step.lower().startswith("do not") for step in emergencies[key]
        ):
            raise RulesError(f"answers.no_switching: the steps pattern matches {key}'s own steps")
    notices = {str(k): " ".join(str(v).split()) for k, v in (raw.get("notices") or {}).items()}
    for name, notice in notices.items():
        if name not in categories:
            raise RulesError(f"answers.no_switching.notices: {name!r} is not a category")
        if steps.search(notice.lower()):
            raise RulesError(
                f"answers.no_switching.notices: {name}'s notice still sends the user to a switch"
            )
        if not _sends_to_a_professional(notice):
            raise RulesError(
                f"answers.no_switching.notices: {name}'s notice must tell the user to verify with a licensed"
                " professional"
            )
    # a notice that sends the user to a switch must have its gas-leak form, or a leak's answer would say it
    for name, category in categories.items():
        if steps.search(category.notice.lower()) and name not in notices:
            raise RulesError(
                f"category {name}: its notice tells the user to operate a switch or a breaker; give its form for"
                f" a gas leak in answers.no_switching.notices.{name}"
            )
    return NoSwitching(keys, steps, notices)


def _lexical_settings(
    raw: dict[str, Any] | None,
    categories: dict[str, Category],
    emergencies: dict[str, tuple[str, ...]],
    rule_ids: set[str],
) -> LexicalSettings | None:
    if raw is None:
        return None
    lower = raw.get("lower_at") or {}
    if not isinstance(lower, dict):
        raise RulesError("lexical.lower_at must map a level (or default_deny) to a probability")
    settings = LexicalSettings(
        raise_at=float(raw["raise_at"]),
        lower_at={str(k): float(v) for k, v in lower.items()},
        withhold_to_proceed=float(raw.get("withhold_to_proceed", 1.0)),
        categories_at=None if raw.get("categories_at") is None else float(raw["categories_at"]),
        transformer_raise_at=(
            None if raw.get("transformer_raise_at") is None else float(raw["transformer_raise_at"])
        ),
        emergency={str(k): str(v) for k, v in raw["emergency"].items()},
        lower_withhold_needs_minilm=bool(raw.get("lower_withhold_needs_minilm", False)),
        never_lowered=frozenset(str(r) for r in raw.get("never_lowered") or ()),
    )
    unknown_rules = sorted(settings.never_lowered - rule_ids)
    if unknown_rules:
        raise RulesError(f"lexical.never_lowered names no rule: {', '.join(unknown_rules)}")
    if settings.lower_withhold_needs_minilm and settings.transformer_raise_at is None:
        raise RulesError(
            "lexical.lower_withhold_needs_minilm needs the MiniLM model: set transformer_raise_at"
        )
    thresholds = [
        ("raise_at", settings.raise_at),
        ("categories_at", settings.categories_at),
        ("withhold_to_proceed", settings.withhold_to_proceed),
        ("transformer_raise_at", settings.transformer_raise_at),
    ]
    thresholds += [(f"lower_at.{k}", v) for k, v in settings.lower_at.items()]
    for name, threshold in thresholds:
        if threshold is not None and not 0.5 <= threshold <= 1.0:
            raise RulesError(f"lexical.{name} must be a probability from 0.5 to 1, not {threshold}")
    for kind in settings.lower_at:
        if kind not in ("default_deny", "caution", "professional_only", "emergency"):
            raise RulesError(
                f"lexical.lower_at: {kind!r} is not caution, professional_only, emergency or default_deny"
            )
    for category, key in settings.emergency.items():
        if category not in categories or key not in emergencies:
            raise RulesError(f"lexical.emergency: {category} -> {key} names an unknown category or emergency")
    return settings


def load_rules(path: Path | str | None = None) -> Rulebook:
    """The rulebook from `path`, or the packaged guardrail_rules.yaml (cached)."""
    if path is None:
        return _default_rules()
    return parse_rules(read_yaml(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _default_rules() -> Rulebook:
    return parse_rules(read_yaml(RULES_PATH.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------------ normalising


def normalize_plain(text: str) -> str:
    """Case, quotes, dashes and hyphens folded; whitespace collapsed. No Markdown handling, no typo fixing."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP).lower()
    text = text.replace("&", " and ")
    text = re.sub(r"(?<=[a-z0-9])-(?=[a-z0-9])", " ", text)  # load-bearing -> load bearing
    return re.sub(r"[ \t]+", " ", text).strip()


def _hyphenated_across_lines(before: str, after: str) -> bool:
    """A word hyphenated across a line break, the hyphen ending one line ("code-" / "compliant") or
    opening the next ("code" / "-compliant"; a list item needs a space after its dash)."""
    return (before.endswith("-") and after[:1].isalpha()) or (
        before[-1:].isalnum() and after[:1] == "-" and after[1:2].isalpha()
    )


def join_lines(text: str) -> str:
    """Markdown undone and a step split over two lines joined: one logical line per item or sentence run.

    A line that does not end a sentence is joined to the next unless the next starts a list item,
    a header or a paragraph; a word hyphenated across a line break is joined without a space.
    """
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    out: list[str] = []
    pending = ""
    pending_header = False
    for raw in text.split("\n"):
        starts_item = bool(_LIST_MARK.match(raw)) or not raw.strip()
        line = _EMPHASIS.sub("", _LIST_MARK.sub("", raw)).strip()
        if pending and (starts_item or pending_header or _SENT_END.search(pending)):
            out.append(pending)
            pending = ""
        if not pending:
            pending_header = raw.lstrip().startswith("#")
        if not line:
            if pending:
                out.append(pending)
                pending = ""
            continue
        pending = pending + line if _hyphenated_across_lines(pending, line) else f"{pending} {line}".strip()
    if pending:
        out.append(pending)
    return "\n".join(out)


_NORMALIZED: dict[tuple[int, str], str] = {}


def normalize(text: str, rules: Rulebook | None = None) -> str:
    """The text the rules read: lines joined, Markdown gone, case/quotes/dashes folded, typos fixed."""
    book = rules or load_rules()
    key = (id(book), text or "")
    if key in _NORMALIZED:
        return _NORMALIZED[key]
    joined = "\n".join(normalize_plain(line) for line in join_lines(text or "").split("\n"))
    if book.dialect_phrases is not None:
        joined = book.dialect_phrases.sub(lambda m: book.dialect[m.group(0)], joined)
    fixed = _WORD.sub(lambda m: _correct(m.group(0), book), joined)
    if len(_NORMALIZED) > 4096:
        _NORMALIZED.clear()
    _NORMALIZED[key] = fixed
    return fixed


def _correct(word: str, book: Rulebook) -> str:
    if word in book.dialect:  # Scots and slang words the rules would not read ("come doon", "the leccy")
        return book.dialect[word]
    if len(word) < 5:  # too short to correct
        return word
    if word.endswith("'s") and (stem := _correct(word[:-2], book)) != word[:-2]:
        return stem + "'s"  # "the ceilin's come down": the misspelt word corrected, its 's kept
    # A dropped g ("sparkin'", "replacin") restores the rules' own -ing word.
    bare = word.rstrip("'")
    if bare.endswith("in") and bare + "g" in book.rule_words:
        return bare + "g"
    if len(word) < book.typo_min_length or word in book.protected_words:
        return word
    return _correct_cached(word, book.lexicon, book.typo_cutoff, book.typo_cutoff_long)


@lru_cache(maxsize=65536)
def _correct_cached(word: str, lexicon: tuple[str, ...], cutoff: float, cutoff_long: float) -> str:
    """The lexicon word a typo stands for (rapidfuzz, Indel ratio), or the word itself.

    Only words of at least `typos.min_length` letters are corrected, to one of the rules file's typo
    targets with the same first letter, so short and everyday words never collide ("frames" is not
    "flames", "joints" is not "joists"); long words (9+) tolerate a little more.
    """
    if word in lexicon:
        return word
    if word.endswith("s") and word[:-1] in lexicon:
        return word
    # Same first letter, similar length (one letter apart below 9 letters, so real words such as
    # "single" or "spring" never become "shingles" or "sparking"), and not an inflection of the word
    # ("switch" is not "switches").
    max_gap = 2 if len(word) >= 9 else 1
    choices = [
        w
        for w in lexicon
        if w[0] == word[0]
        and abs(len(w) - len(word)) <= max_gap
        and not (w.startswith(word) or word.startswith(w))
    ]
    if not choices:
        return word
    best = process.extractOne(
        word, choices, scorer=fuzz.ratio, score_cutoff=cutoff_long if len(word) >= 9 else cutoff
    )
    return best[0] if best else word


def sentences(text: str) -> list[str]:
    """Normalised text cut into sentences (a line, or up to . ! ? ;)."""
    return list(_sentences(text))


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    # Every rule reads the same few texts: cut each once (a pure function of the text).
    return tuple(s.strip() for s in _SENTENCES.findall(text) if s.strip(" .!?;"))


_CAP = 400  # the most literal strings one pattern's pre-check may hold


def _exact(items: Any) -> set[str] | None:
    """Every string a literal-only regex sequence matches, or None if it matches more than literals."""
    out = {""}
    for op, av in items:
        if op is _C.LITERAL:
            out = {o + chr(av) for o in out}
        elif op is _C.AT:
            continue  # \\b and anchors match no characters
        elif op is _C.SUBPATTERN:
            sub = _exact(av[-1])
            if sub is None:
                return None
            out = {o + x for o in out for x in sub}
        elif op is _C.BRANCH:
            alts = [_exact(b) for b in av[1]]
            if any(a is None for a in alts):
                return None
            out = {o + x for o in out for a in alts for x in a}  # type: ignore[union-attr]
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            sub = _exact(av[2])
            if sub is None:
                return None
            out = {o + x for o in out for x in sub | {""}}
        else:
            return None
        if len(out) > _CAP:
            return None
    return out


def _required(items: Any) -> set[str] | None:
    """Literal strings (3+ characters) one of which every match of the regex sequence contains."""
    best: set[str] | None = None

    def score(cand: set[str]) -> tuple[bool, int, int]:
        # Selective first (no literal under 4 letters), then few strings to look for, then long ones.
        shortest = min(map(len, cand))
        return (shortest >= 4, -len(cand), shortest)

    def consider(cand: set[str] | None) -> None:
        nonlocal best
        if cand and min(map(len, cand)) >= 3 and (best is None or score(cand) > score(best)):
            best = cand

    run: set[str] = {""}
    for op, av in items:
        piece = _exact([(op, av)])
        if piece is not None and len(run) * len(piece) <= _CAP:
            run = {o + x for o in run for x in piece}
            continue
        consider(run)
        run = {""} if piece is None else set(piece)
        if op is _C.SUBPATTERN:
            consider(_required(av[-1]))
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] >= 1:
            consider(_required(av[2]))
        elif op is _C.BRANCH:
            alts = [_required(b) for b in av[1]]
            if all(alts):
                consider(set().union(*alts))  # type: ignore[arg-type]
    consider(run)
    return best


@cache
def _literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Literal strings one of which every match of the pattern contains (None: none known)."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        found = _required(_P.parse(_PLAIN.get(pattern.pattern, pattern.pattern), pattern.flags).data)
    except Exception:  # a change in the regex parser's internals must only cost speed
        return None
    return frozenset(found) if found else None


_KEY = 5  # a needed literal is filed under one of its substrings of this length (or the whole of it)


def _grams(text: str, n: int) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


@lru_cache(maxsize=4096)
def _keys(text: str) -> frozenset[str]:
    """Every substring of `text` a literal may be filed under (3 to `_KEY` characters)."""
    return frozenset().union(*(_grams(text, n) for n in range(3, _KEY + 1)))


@dataclass(eq=False)  # hashed by identity: one per rulebook, a key of the `_possible` cache
class _Prefilter:
    """Which rule patterns may match a text, for all patterns at once. Patterns are known by `id()`
    (hashing a compiled pattern hashes its whole program): a substring -> the patterns one of whose
    needed literals is filed under it, the patterns with no needed literal, and each rule's patterns
    (in rules-file order) so that a rule none of whose patterns may match is skipped at once."""

    by_key: dict[str, frozenset[int]]
    always: frozenset[int]
    rule_patterns: tuple[frozenset[int], ...]
    # pattern id -> the indices (in book.rules) of the rules holding it; source -> the rules reading it
    pattern_rules: dict[int, frozenset[int]]
    readers: dict[str, frozenset[int]]
    # The patterns that anchor or look around (`_anchored`), by `id()`: looked up per rule and text,
    # where asking `_anchored` would hash the whole compiled program each time.
    anchored: frozenset[int]
    # Each claim pattern with a few substrings one of which every match holds (None: not known): a
    # sentence holding none of them is not searched with it (`_claim_spans`). The claims' trigger lets
    # most sentences of a careful draft through ("standard", "code", "inspect"); searching each of them
    # with all 45 patterns took 1.23 s for 2,218 held-out drafts, 0.43 s with these (session 31).
    claim_checks: tuple[tuple[re.Pattern[str], tuple[str, ...] | None], ...]


_PREFILTERS: dict[int, tuple[Rulebook, _Prefilter]] = {}


def _prefilter(book: Rulebook) -> _Prefilter:
    held = _PREFILTERS.get(id(book))
    if held is not None and held[0] is book:
        return held[1]
    by_key: dict[str, set[int]] = {}
    always: set[int] = set()
    anchored: set[int] = set()
    rule_patterns = []
    needed: dict[int, frozenset[str]] = {}
    for rule in book.rules:
        patterns = (*rule.patterns, *(p for group in rule.all_of for p in group))
        rule_patterns.append(frozenset(map(id, patterns)))
        for pattern in patterns:
            if _anchored(pattern):
                anchored.add(id(pattern))
            literals = _literals(pattern)
            if literals is None:
                always.add(id(pattern))
            else:
                needed[id(pattern)] = literals

    # Each literal is filed under the substring fewest other literals share: few patterns per text
    # pass. Any substring of it would be sound (a text holding the literal holds all of them).
    def grams(literal: str) -> set[str]:
        return _grams(literal, min(_KEY, len(literal)))

    shared = Counter(g for literals in needed.values() for lit in literals for g in grams(lit))
    for pid, literals in needed.items():
        for literal in literals:
            by_key.setdefault(min(sorted(grams(literal)), key=shared.__getitem__), set()).add(pid)
    pattern_rules: dict[int, list[int]] = {}
    for index, ids in enumerate(rule_patterns):
        for pid in ids:
            pattern_rules.setdefault(pid, []).append(index)
    found = _Prefilter(
        {k: frozenset(v) for k, v in by_key.items()},
        frozenset(always),
        tuple(rule_patterns),
        {pid: frozenset(rules) for pid, rules in pattern_rules.items()},
        {
            source: frozenset(i for i, rule in enumerate(book.rules) if source in rule.sources)
            for source in get_args(Source)
        },
        frozenset(anchored),
        tuple((p, _cover(_literals(p))) for p in book.claim_patterns),
    )
    _PREFILTERS[id(book)] = (book, found)
    return found


@lru_cache(maxsize=1024)
def _possible(prefilter: _Prefilter, text: str) -> frozenset[int]:
    """The `id()`s of the rule patterns that may match `text`: every pattern left out needs a literal
    whose filing substring is not in it."""
    out = set(prefilter.always)
    for gram in _keys(text) & prefilter.by_key.keys():
        out |= prefilter.by_key[gram]
    return frozenset(out)


@lru_cache(maxsize=1024)
def _possible_rules(prefilter: _Prefilter, text: str) -> frozenset[int]:
    """The indices of the rules one of whose patterns may match `text` (`_possible`)."""
    rules = prefilter.pattern_rules
    return frozenset().union(*(rules[pid] for pid in _possible(prefilter, text)))


def _candidates(prefilter: _Prefilter, texts: dict[str, str]) -> frozenset[int]:
    """The rules that read a source where one of their patterns may match: every other rule is
    skipped at once."""
    return frozenset().union(
        *(_possible_rules(prefilter, _joined(text)) & prefilter.readers[src] for src, text in texts.items())
    )


@lru_cache(maxsize=4096)
def _joined(text: str) -> str:
    return "\n".join(_sentences(text))


def _anchored(pattern: re.Pattern[str]) -> bool:
    """Whether a pattern could match one sentence on its own yet not the sentences joined by newlines:
    it anchors (^, $) or looks around. Any other pattern that matches inside a sentence also matches
    the joined text there (a newline, like the text's edge, is not a word character for \\b)."""
    plain = _PLAIN.get(pattern.pattern, pattern.pattern)
    return any(t in plain for t in ("^", "$", "(?=", "(?!", "(?<", "\\A", "\\Z"))


# ------------------------------------------------------------------------------------ classifying


class FiredRule(BaseModel):
    rule: str
    category: str
    level: Level
    source: Source | Literal["job", "second_opinion", "lexical"]
    match: str
    # The level the rules gave, when the lexical model lowered it (`with_lexical_opinion`).
    lowered_from: Level | None = None


class SecondOpinion(BaseModel):
    """The general LLM's answer to the structured hazard question, and what became of it."""

    status: Literal["off", "used", "missing", "invalid"]
    level: Level | None = None
    categories: list[str] = Field(default_factory=list)
    reason: str = ""
    error: str | None = None
    raised: bool = False


class GuardrailResult(BaseModel):
    """What the guardrail decided and the answer the user is shown."""

    level: Level
    # the level the hand-written rules reached alone, before either model raised or lowered it (what
    # `level` would be with the rules file's `lexical` section deleted): a reviewer sees what the
    # models changed, and the evaluation scores the deterministic floor from the same run
    rules_level: Level
    categories: list[str]
    fired: list[FiredRule]
    actions: list[str]
    locale: str | None
    withheld: bool
    removed_claims: list[str]
    notices: list[str]
    safe_actions: list[str]
    tell_professional: list[str]
    second_opinion: SecondOpinion
    answer: str

    @property
    def rule_ids(self) -> list[str]:
        return list(dict.fromkeys(f.rule for f in self.fired))


def _covered(m: re.Match[str], exclude: tuple[re.Pattern[str], ...], text: str) -> bool:
    """Whether an exclude match covers the first or last character of `m` (the words a rule anchors on)."""
    last = max(m.start(), m.end() - 1)
    return any(
        start <= m.start() < end or start <= last < end for start, end in _exclude_spans(exclude, text)
    )


@lru_cache(maxsize=8192)
def _exclude_spans(exclude: tuple[re.Pattern[str], ...], text: str) -> tuple[tuple[int, int], ...]:
    # Found once per text, not once per match: a long run-on text with many matches took time
    # growing with the square of its length (7,500 characters without a full stop: 3.8 s).
    return tuple(e.span() for x in exclude for e in x.finditer(text))


_CONDITION_OPENS = re.compile(r"\s*(?:if|should you|in case|whenever)\b")
# A clause that continues the sentence's condition with a subject of its own ("or it's old cable"), not an
# imperative ("and remove the cover") nor the reader's own act ("and you extend it with a junction box").
_CONDITION_GOES_ON = re.compile(
    r"\s*or\s+(?:if\s+)?(?:it|it's|its|they|they're|there|there's|theres|the|your|any|this|that|these|those)\b"
)
# What the sentence does with that case: stops and hands it over ("stop and call an electrician"), not
# "have an electrician test it afterwards", which would leave the work itself to the reader.
_HAND_OVER = re.compile(
    r"\W*(?:then\s+)?(?:stop|call|ring|phone|contact|get (?:in )?(?:an?|the|a qualified|a licensed|touch)|leave (?:it|them|that)|"
    r"don't|do not|that's a job|that is a job|this is a job|it's a job|it is a job|you(?:'ll| will)? need (?:an?|a licensed|a qualified))\b"
)


def _clause_before(sentence: str, pos: int, book: Rulebook) -> tuple[str, str]:
    """The clause holding `pos`: its text before `pos`, and the whole clause."""
    start, end = 0, len(sentence)
    for cut in book.clause_split.finditer(sentence):
        if cut.end() <= pos:
            start = cut.end()
        elif cut.start() >= pos:
            end = cut.start()
            break
    return sentence[start:pos], sentence[start:end]


def _is_instruction(sentence: str, m: re.Match[str], source: Source, book: Rulebook) -> bool:
    """Whether a match is a live statement, not negated (or, in the draft, not a referral).

    A warning word negates only its own clause: "Never work live - first remove the cover of the
    consumer unit" still instructs to open it. In the draft, a clause that hands the work to a
    professional ("have an electrician replace the consumer unit") is a referral, not an instruction.
    """
    before, clause = _clause_before(sentence, m.start(), book)
    if source == "draft":
        if book.negation.search(before):
            return False
        if _CONDITION_OPENS.match(clause) or (
            _CONDITION_OPENS.match(sentence) and _CONDITION_GOES_ON.match(clause)
        ):
            # "If you find aluminium wiring, stop and call an electrician": the condition names what
            # to look out for, and the rest of the sentence hands that case to a professional; so
            # does a condition's second arm ("If it looks different, or it's old rubber-insulated
            # cable, stop and get an electrician").
            rest = sentence[m.start() - len(before) + len(clause) :]
            if _HAND_OVER.match(rest) and book.referral.search(rest):
                return False
        return not book.referral.search(clause)
    # "paint over the fibro without sanding it": a negation inside the match negates it too.
    if book.inner_negation.search(m.group(0).partition(" ")[2]):
        return False
    if not book.question_negation.search(before[-40:]):
        return True
    # "never sanded artex before, how do I sand it": the user has not done it yet, and is asking to
    return _inexperienced(sentence, m, book)


def _inexperienced(sentence: str, m: re.Match[str], book: Rulebook) -> bool:
    """Whether the negated match `m` is followed by the user's inexperience ("... before"), not a denial."""
    return book.inexperience is not None and bool(book.inexperience.match(sentence, m.end()))


def _work_clause(sentence: str, m: re.Match[str], rule: Rule, book: Rulebook) -> bool:
    """Whether the clause holding the match also names work on it or a fault in it (`draft_work`):
    outside the match's own words ("light fittings" is not the verb "fitting"), or as the verb the
    match opens with ("fit a new plug")."""
    before, clause = _clause_before(sentence, m.start(), book)
    rest = before + " | " + clause[len(before) + len(m.group(0)) :]
    return any(w.search(rest) or w.match(m.group(0)) for w in rule.draft_work)


_NEGATION_OPENS = re.compile(r"(?:no|not|never|without|isn't|isnt|doesn't|doesnt|hasn't|hasnt)\b")


def _vetoed(
    unless: tuple[re.Pattern[str], ...],
    sentence: str,
    book: Rulebook,
    exclude: tuple[re.Pattern[str], ...] = (),
    *,
    task: bool = False,
) -> bool:
    """Whether a pattern names the context in the sentence (a rule's veto, a DIY job), not covered by
    an `exclude` match; a negated mention ("not from the taps", "not just a reset") does not count.
    A DIY job (`task`) negated only by the user's inexperience ("never changed a switch before") counts,
    as the work it names does (`_is_instruction`); a veto so negated still does not."""
    for u in unless:
        for m in u.finditer(sentence):
            if exclude and _covered(m, exclude, sentence):
                continue
            # A context that is itself a negation ("no sagging") is not cancelled by the one listed
            # before it ("no staining, no sagging").
            if _NEGATION_OPENS.match(m.group(0)) or not book.question_negation.search(
                sentence[: m.start()][-40:]
            ):
                return True
            if task and _inexperienced(sentence, m, book):
                return True
    return False


def _context_named(patterns: tuple[re.Pattern[str], ...], texts: Iterable[str], book: Rulebook) -> bool:
    """Whether a context of `patterns` is named, not negated, in a sentence of any of the (normalised) texts."""
    return bool(patterns) and any(_vetoed(patterns, s, book) for text in texts for s in _sentences(text))


def _job_vetoed(rule: Rule, question: str, book: Rulebook) -> bool:
    """Whether the rule's `unless_job` context is named anywhere in the (normalised) question."""
    return _context_named(rule.unless_job, (question,), book)


def _context_vetoed(rule: Rule, texts: dict[str, str], book: Rulebook) -> bool:
    """Whether the job's context cancels the rule: its `unless_job` in the question, or its `unless_anywhere` in the
    question, the perception or the draft."""
    return _job_vetoed(rule, texts["question"], book) or _context_named(
        rule.unless_anywhere, texts.values(), book
    )


def _asking_vetoed(rule: Rule, question: str, book: Rulebook, hit: str) -> bool:
    """Whether the rule's `unless_asking` context is named in the question while nothing in it acts on
    the match `hit`."""
    return (
        bool(rule.unless_asking)
        and any(_vetoed(rule.unless_asking, s, book) for s in _sentences(question))
        and not (book.acting and _acts_on(hit, question, book.acting))
    )


def _perception(observation: Observation | None, perception_text: str | None) -> str:
    """The perception as text: the caller's, or the observation's own rendering."""
    if perception_text is not None:
        return perception_text
    return observation.as_text() if observation else ""


def conditional_cues(
    question: str,
    perception: str,
    rules: Rulebook | None = None,
) -> list[Rule]:
    """Emergency rules whose cue matched in the question or perception but a stated context vetoed it.

    The job is not an emergency ("rotten-egg smell only from the sink trap"), but the answer still
    says what to do if the danger is real after all.
    """
    book = rules or load_rules()
    texts = {"question": normalize(question, book), "perception": normalize(perception, book)}
    found: list[Rule] = []
    # A rule none of whose patterns can match the question or the perception has no cue to explain.
    for index in sorted(_candidates(_prefilter(book), texts)):
        rule = book.rules[index]
        if rule.level != "emergency":
            continue
        if _job_vetoed(rule, texts["question"], book):
            # The job's context explains the cue away; the cue itself still gets its conditional line.
            groups = rule.all_of or (rule.patterns,)
            if all(
                any(texts.get(src) and _hits(rule, src, texts[src], book, group) for src in rule.sources)
                for group in groups
            ):
                found.append(rule)
            continue
        if not rule.unless or not rule.patterns:
            continue
        if any(
            _vetoed(rule.unless, sentence, book)
            and not (rule.unless_quiet and _vetoed(rule.unless_quiet, sentence, book))
            and any(
                _is_instruction(sentence, m, source, book)
                for pattern in rule.patterns
                for m in _matches(pattern, rule, sentence)
            )
            for source in rule.sources
            for sentence in _sentences(texts.get(source, ""))
        ):
            found.append(rule)
    return found


def _hits(
    rule: Rule,
    source: Source,
    text: str,
    book: Rulebook,
    patterns: tuple[re.Pattern[str], ...] | None = None,
) -> str | None:
    # A pattern that finds nothing in the sentences joined by newlines finds nothing in any one of them,
    # unless it anchors or looks around (_anchored): most rules are ruled out with one search each.
    joined = _joined(text)
    prefilter = _prefilter(book)
    possible = _possible(prefilter, joined)
    candidates = [
        p
        for p in (rule.patterns if patterns is None else patterns)
        if id(p) in possible and (id(p) in prefilter.anchored or p.search(joined))
    ]
    if not candidates:
        return None
    for sentence in _sentences(text):
        vetoed: bool | None = None  # the sentence's context is read only once a pattern matched
        for pattern in candidates:
            for m in _matches(pattern, rule, sentence):
                if vetoed is None:
                    vetoed = bool(
                        (rule.unless and _vetoed(rule.unless, sentence, book))
                        or (rule.unless_quiet and _vetoed(rule.unless_quiet, sentence, book))
                    )
                if vetoed:
                    break
                if _is_instruction(sentence, m, source, book) and (
                    source != "draft" or not rule.draft_work or _work_clause(sentence, m, rule, book)
                ):
                    return m.group(0)
            if vetoed:
                break
    return None


def _matches(pattern: re.Pattern[str], rule: Rule, sentence: str) -> list[re.Match[str]]:
    """The pattern's matches that no `exclude` covers. An excluded match does not hide a later one
    that overlaps it ("hot water cylinder burst and the water is up to the power points": the
    excluded "hot water cylinder" start is skipped and the search resumes one character on)."""
    found: list[re.Match[str]] = []
    pos = 0
    while pos <= len(sentence):
        m = pattern.search(sentence, pos)
        if m is None:
            break
        if rule.exclude and _covered(m, rule.exclude, sentence):
            pos = m.start() + 1
            continue
        found.append(m)
        pos = max(m.end(), m.start() + 1)
    return found


def classify(
    question: str,
    observation: Observation | None,
    draft: str,
    rules: Rulebook | None = None,
    *,
    perception_text: str | None = None,
) -> list[FiredRule]:
    """Every rule that fires, at most once per rule and source, in rules-file order."""
    book = rules or load_rules()
    perception = _perception(observation, perception_text)
    texts = {
        "question": normalize(question, book),
        "perception": normalize(perception, book),
        "draft": normalize(draft, book),
    }
    fired: list[FiredRule] = []
    tasks: dict[str, DiyTask | None] = {}  # category -> its recognised DIY job, looked up once per job
    prefilter = _prefilter(book)
    candidates = _candidates(prefilter, texts)
    for index, rule in enumerate(book.rules):
        if index not in candidates and not (
            observation is not None and (rule.hazard_types or rule.systems) and "perception" in rule.sources
        ):
            continue  # no pattern of the rule can match any text it reads
        # The question's `unless_job` context is read only once the rule has found something to veto.
        if rule.all_of:
            # A job-level rule: the hazard may be named in one source and the work in another
            # (Cosmos sees fibro sheeting; the draft says to drill it).
            parts: list[str] = []
            for group in rule.all_of:
                hit = next(
                    (
                        h
                        for src in rule.sources
                        if texts[src] and (h := _hits(rule, src, texts[src], book, group))
                    ),
                    None,
                )
                if hit is None:
                    break
                parts.append(hit)
            else:
                job = " + ".join(parts)
                if _context_vetoed(rule, texts, book) or _asking_vetoed(rule, texts["question"], book, job):
                    continue
                match, level = _domain_level(rule, tasks, job, "draft" not in rule.sources, texts, book)
                fired += _fired(rule, level, "job", match)
            continue
        vetoed: bool | None = None
        for source in rule.sources:
            hit = _hits(rule, source, texts[source], book) if texts[source] else None
            if hit is None and source == "perception" and observation is not None:
                hit = _structured_hit(rule, observation)
            if hit is not None:
                if vetoed is None:
                    vetoed = _context_vetoed(rule, texts, book)
                if vetoed or _asking_vetoed(rule, texts["question"], book, hit):
                    break
                match, level = _domain_level(rule, tasks, hit, source != "draft", texts, book)
                fired += _fired(rule, level, source, match)
    return fired


def _fired(rule: Rule, level: Level, source: Source | Literal["job"], match: str) -> list[FiredRule]:
    """A fired rule, once for its category and once for each category in its `also`."""
    return [
        FiredRule(rule=rule.id, category=c, level=level, source=source, match=match)
        for c in (rule.category, *rule.also)
    ]


# Between two quoted lines of an answer: Markdown joins "> a" and "> b" on consecutive lines into one
# paragraph ("a b"), so each gets its own paragraph within the one quote.
BLOCKQUOTE_BREAK = "\n>\n"
NOT_A_DIY_JOB = " (not a recognised DIY job)"  # how a default-deny match reads in `fired`
_DIY_JOB_NOTE = re.compile(r" \(DIY job: [^)]*\)$")  # what _domain_level appends for a recognised job


def _domain_level(
    rule: Rule,
    tasks: dict[str, DiyTask | None],
    hit: str,
    from_job: bool,
    texts: dict[str, str],
    book: Rulebook,
) -> tuple[str, Level]:
    """The match text and level of a fired rule: a domain rule that matched the question or the
    perception (not only the draft) is withheld unless a recognised DIY task names the job."""
    if not rule.unrecognised_level or not from_job:
        return hit, rule.level
    if rule.category not in tasks:
        tasks[rule.category] = recognised_task(rule.category, texts, book)
    task = tasks[rule.category]
    if task is not None and task.asks and book.acting and _acts_on(hit, texts["question"], book.acting):
        # "how often should I lift the spur": the asking form does not make lifting it a DIY job
        key = f"{rule.category} (acted on)"
        if key not in tasks:
            tasks[key] = recognised_task(rule.category, texts, book, asking=False)
        task = tasks[key]
    if task is None:
        return f"{hit}{NOT_A_DIY_JOB}", rule.unrecognised_level
    return f"{hit} (DIY job: {task.id})", rule.level


def recognised_task(
    category: str, texts: dict[str, str], book: Rulebook, *, asking: bool = True
) -> DiyTask | None:
    """The first DIY task of `category` (or of any category) that the question or perception names.

    Default-deny: a job that works on the fixed wiring, the gas supply, the structure, a roof or a
    suspect material is withheld unless it is one of these named jobs. A negated mention ("not just
    a reset") does not count. A job-wide exclusion counts even negated ("not scaffolding", "no one
    footing it" still name the danger; session 20's review).
    """
    said = [s for source in ("question", "perception") for s in _sentences(texts.get(source, ""))]
    drafted = _sentences(texts.get("draft", ""))
    for task in (*book.diy_tasks.get(category, ()), *book.diy_tasks.get("any", ())):
        if task.asks and not asking:
            continue
        if (
            any(_vetoed(task.patterns, s, book, task.exclude, task=True) for s in said)
            and not any(p.search(s) for p in task.exclude_job for s in said)
            and not any(p.search(s) for p in task.exclude_draft for s in drafted)
        ):
            return task
    return None


@dataclass(frozen=True)
class ActingWords:
    """`wording.acting` of the rules file: how `_acts_on` tells a verb acting on a thing."""

    not_verb: (
        str  # words that do not act on what follows them (asking, noticing, owning, buying, function words)
    )
    object_break: str  # words that end a verb's object ("I check if the wiring is old")
    actor: str  # what comes just before a verb: to, I, we, you, then, and ...
    clause_start: str  # the start of a sentence or clause (an imperative)
    link: str  # determiners and particles an imperative reaches its object through
    negated_before: re.Pattern[str]  # a negation just before the verb ("don't want to disturb it")
    everyday: str  # an owner's everyday use of a thing named only by a pronoun (light it, clean it)
    get_work: str  # "get rid of", "get shot of": get as work


@lru_cache(maxsize=4096)
def _acts_on(hit: str, question: str, acting: ActingWords) -> bool:
    """Whether a word of the question acts on the hit's words (or on "it"/"them"): "to lift the spur",
    "I redo the Ideal Logic", "the spur needs moving". Verb-agnostic by design: any word that is not
    an asking, noticing, owning or buying word counts as the work (session 14: 61 % of 432
    must-withhold jobs wrapped in an asking form were shown, "how often should I lift the spur"); a
    negated one ("don't want to disturb it") does not."""
    verb = rf"(?:{acting.get_work}|(?:(?:re|un|de|dis|pre) )?(?!{acting.not_verb}\b)[\w']+)"
    gap = rf"(?!{acting.object_break}\b)[\w']+"
    for term in hit.split(" + "):
        term = term.strip()
        if not term or term.startswith(("hazard:", "system:")):
            continue
        thing = rf"({re.escape(term)}|it|them)\b"
        acts = (
            rf"{acting.actor}({verb}) (?:{gap} ){{0,4}}?{thing}",
            rf"{acting.clause_start}({verb}) (?:{gap} ){{0,2}}?{acting.link} (?:{gap} ){{0,2}}?{thing}",
        )
        for m in (m for a in acts for m in re.finditer(a, question)):
            did, what = m.group(1), m.group(2)
            if what in ("it", "them") and re.fullmatch(acting.everyday, did.split()[-1]):
                continue
            if acting.negated_before.search(question[: m.start(1)]):
                continue
            return True
        got_out = rf"\b(?:get|getting|got) (?:[\w']+ ){{0,3}}?{re.escape(term)} (?:[\w']+ )?(?:out|off|down|moved|shifted|removed)\b"
        needs = rf"\b{re.escape(term)} (?:[\w']+ ){{0,2}}?(?:to be|be|being|been|gets?|getting|needs?|needing) [\w']+(?:ed|en|ing|t)\b"
        if re.search(got_out, question) or re.search(needs, question):
            return True
    return False


def _acting_words(raw: Any, vocab: dict[str, _Concept]) -> ActingWords | None:
    """`wording.acting`, each entry expanded (and so checked) like every other pattern of the file."""
    if raw is None:
        return None
    expanded = {f.name: _expand(raw[f.name], vocab, f"wording.acting.{f.name}") for f in fields(ActingWords)}
    return ActingWords(
        **{name: p if name == "negated_before" else p.pattern for name, p in expanded.items()}  # type: ignore[arg-type]
    )


def _structured_hit(rule: Rule, observation: Observation) -> str | None:
    for hazard in observation.hazards:
        if hazard.type in rule.hazard_types:
            return f"hazard:{hazard.type}"
    if observation.system in rule.systems:
        return f"system:{observation.system}"
    return None


def detect_locale(text: str, rules: Rulebook | None = None) -> Locale | None:
    """The locale the question's wording shows (first marker in rules-file order wins), or None."""
    book = rules or load_rules()
    norm = normalize(text, book)
    scores = {name: sum(len(p.findall(norm)) for p in loc.markers) for name, loc in book.locales.items()}
    best = max(scores, key=lambda n: scores[n])
    return book.locales[best] if scores[best] else None


# ------------------------------------------------------------------------------------ claims


def find_claims(text: str, rules: Rulebook | None = None) -> list[str]:
    """Code-compliance claims in `text` (normalised here), sentence by sentence."""
    book = rules or load_rules()
    found = _claim_sentences(text, book)
    joined_text = _SPLIT_WORD.sub(lambda m: _rejoin(m, book.claim_split_words), text)
    if joined_text != text:
        # A claim word hyphenated where a line broke it ("Part P com-" / "pliant") is one word, not two;
        # only such words are joined ("double-check" stays two words, so "double-check it is up to code"
        # stays advice). The reading with more claims counts.
        joined = _claim_sentences(joined_text, book)
        if _claim_count(joined, book) > _claim_count(found, book):
            found = joined
    return found


# A word hyphenated at a line break, or where a broken line was joined back ("com-pliant"). Only the
# first part and its hyphen are consumed, the second part is looked at, so that in a compound broken
# again ("code-com-" / "pliant", session 27) the first pair ("code-com") does not hide the second.
_SPLIT_WORD = re.compile(r"\b([A-Za-z]+)-[ \t]*(?:\n[ \t]*)?(?=([a-z]+)\b)")


def _rejoin(m: re.Match[str], claim_words: frozenset[str]) -> str:
    word = m.group(1) + m.group(2)
    return m.group(1) if word.lower() in claim_words else m.group(0)


def _claim_count(every: list[str], book: Rulebook) -> int:
    """How many separate claims the normalised sentences make: matches of several patterns over the
    same words count once."""
    total = 0
    for sentence in every:
        end = -1
        for start, stop in sorted(_claim_spans(sentence, book)):
            if start >= end:
                total += 1
            end = max(end, stop)
    return total


def _claim_sentences(text: str, book: Rulebook) -> list[str]:
    every = [s.strip() for s in _CLAIM_SENTENCES.findall(normalize(text, book)) if s.strip(" .!?;")]
    # One trigger search over the sentences joined by newlines rules out most texts: a trigger that
    # does not anchor or look around (`_anchored`) and finds nothing there finds nothing in any sentence.
    if not _anchored(book.claim_trigger) and not book.claim_trigger.search("\n".join(every)):
        return []
    return [sentence for sentence in every if _claim_in(sentence, book)]


def count_claims(statements: list[str], rules: Rulebook | None = None) -> int:
    """How many separate claims the statements make: "meets AS 3786, and any inspector would pass it"
    is one statement with two claims. Matches of several patterns over the same words count once."""
    book = rules or load_rules()
    return sum(_claim_count(find_claims(text, book), book) for text in statements)


def _claim_spans(sentence: str, book: Rulebook) -> list[tuple[int, int]]:
    if not book.claim_trigger.search(sentence):
        return []
    return [
        m.span()
        for p, needs in _prefilter(book).claim_checks
        if needs is None or any(n in sentence for n in needs)
        for m in p.finditer(sentence)
        if not _covered(m, book.claim_keep, sentence)
    ]


@cache  # by the literals: a rules file loaded again (the tests, a custom file) reuses them
def _cover(literals: frozenset[str] | None) -> tuple[str, ...] | None:
    """A few substrings (3 to 6 characters, 4 or more where they do) such that each of `literals` holds
    one: greedy, each pick the one in most literals not yet held. A text holding none of them holds none
    of `literals`."""
    if literals is None:
        return None
    left, picked = set(literals), []
    while left:
        counts = Counter(
            g for literal in left for g in set().union(*(_grams(literal, n) for n in range(3, 7)))
        )
        best = max(counts, key=lambda g: (len(g) >= 4, counts[g], len(g), g))
        picked.append(best)
        left = {literal for literal in left if best not in literal}
    return tuple(picked)


def _claim_in(sentence: str, book: Rulebook) -> bool:
    return bool(_claim_spans(sentence, book))


def remove_compliance_claims(text: str, rules: Rulebook | None = None) -> tuple[str, list[str]]:
    """Drop every sentence whose normalised form claims code compliance; keep the rest as written.

    Sentences are cut from the text with its lines joined (so a claim split over a line break or
    hyphenated across one is one sentence); the kept sentences keep their wording.
    """
    book = rules or load_rules()
    kept_lines: list[str] = []
    removed: list[str] = []
    if not find_claims(text, book):
        return text, []
    for line in _logical_lines(text):
        marker, body = line
        kept: list[str] = []
        for piece in _PIECES.findall(body):
            if not piece.strip():
                continue
            if find_claims(piece, book):
                removed.append(piece.strip())
            else:
                kept.append(piece.strip())
        if kept:
            kept_lines.append(marker + " ".join(kept))
        elif not body.strip():
            kept_lines.append("")
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept_lines)).strip()
    return cleaned, removed


def _logical_lines(text: str) -> list[tuple[str, str]]:
    """(list marker, text) per logical line: a step split over two lines joined, blank lines kept."""
    out: list[tuple[str, str]] = []
    for raw in (text or "").split("\n"):
        marker_match = re.match(r"^(\s*(?:[-*+]\s+|\d+[.)]\s+|#{1,6}\s+|>\s*)*)", raw)
        marker = marker_match.group(1) if marker_match else ""
        body = raw[len(marker) :].strip()
        if not body:
            out.append(("", ""))
            continue
        if (
            out
            and not marker
            and out[-1][1]
            and "#" not in out[-1][0]
            and not re.search(r"[.!?:;]$", out[-1][1])
        ):
            prev_marker, prev = out[-1]
            joined = prev + body if _hyphenated_across_lines(prev, body) else f"{prev} {body}"
            out[-1] = (prev_marker, joined)
        else:
            out.append((marker, body))
    return out


# ------------------------------------------------------------------------------------ deciding


def apply_guardrail(
    question: str,
    observation: Observation | None,
    draft: str,
    rules: Rulebook | None = None,
    *,
    second_opinion: SecondOpinion | None = None,
    perception_text: str | None = None,
) -> GuardrailResult:
    """Classify the whole job, decide the level and build the answer the user sees."""
    book = rules or load_rules()
    opinion = second_opinion or SecondOpinion(status="off")
    fired = classify(question, observation, draft, book, perception_text=perception_text)
    rules_level: Level = max_level("proceed", *(f.level for f in fired))
    perception = _perception(observation, perception_text)
    lexical: LexicalOpinion | None = None
    if book.lexical is not None:
        lexical = lexical_opinion(question, perception, draft)
        # A hazard the vision model flagged in the photo is not the model's to lower, nor anything read
        # in the observation's rendering: it learned from free-text perceptions, not from Cosmos's
        # structured observation.
        rendered = perception_text is None and observation is not None
        # the MiniLM model's opinion of the job with a given draft, once: the lowering's confirmation and
        # the raise after it ask for the same one
        rate_job = cache(lambda text: transformer_opinion(question, perception, text))
        context = LoweringContext(
            texts={"question": question, "perception": perception, "draft": draft},
            read=lambda text: normalize(text, book),
            rate=lambda piece: lexical_opinion(piece, "", ""),
            clause_split=book.clause_split,
            held=frozenset({"draft", "perception"} if rendered else {"draft"}),
            confirm=lambda: rate_job(draft),
        )
        fired = with_lexical_opinion(
            fired,
            lexical,
            book.lexical,
            lambda word: normalize(word, book),
            may_lower=not (observation is not None and observation.hazards),
            context=context,
        )
        # after every lowering: it can only add a raise on top of what the rest decided
        fired = with_transformer_opinion(fired, lexical, book.lexical, rate_job, draft)
    fired = with_companions(fired, question, perception, book)
    floor: Level = max_level("proceed", *(f.level for f in fired))
    level = floor
    op_level = opinion.level
    if opinion.status == "used" and op_level is not None:
        if level_index(op_level) > level_index(floor):
            level = op_level
            opinion = opinion.model_copy(update={"raised": True})
        if op_level != "proceed" and level_index(op_level) >= level_index(floor):
            for cat in opinion.categories:
                fired.append(
                    FiredRule(
                        rule="model.second-opinion",
                        category=cat,
                        level=op_level,
                        source="second_opinion",
                        match=opinion.reason[:200],
                    )
                )
    # A rule the lexical model lowered to proceed names no hazard of the job.
    categories = [c for c in book.categories if any(f.category == c and f.level != "proceed" for f in fired)]
    if level != "proceed" and not categories:
        categories = ["general"] if "general" in book.categories else list(book.categories)[:1]
    locale = detect_locale(question, book)
    loc = locale or book.default_locale
    notices = [book.categories[c].notice for c in categories]

    def localised(text: str) -> str:
        return text.format(emergency=loc.emergency_number, gas_line=loc.gas_line)

    def conditional_line(key: str) -> str:
        return localised(book.conditional.get(key, book.conditional["general"]))

    actions: list[str] = [ADD_NOTICE] if categories else []
    safe: list[str] = []
    tell: list[str] = []

    if level in WITHHELD:
        actions.append(WITHHOLD)
        top = [f for f in fired if f.level == level]
        emergency_keys = [r.emergency for r in book.rules if r.emergency and any(f.rule == r.id for f in top)]
        if book.lexical is not None:
            emergency_keys += [
                book.lexical.emergency[f.category]
                for f in top
                # a model's emergency (the lexical model's, or the second opinion's) gets its category's
                # steps: a gas leak only the second opinion saw still says leave and do not touch a switch
                if f.source in ("lexical", "second_opinion") and f.category in book.lexical.emergency
            ]
            emergency_keys = list(dict.fromkeys(emergency_keys))
        if level == "emergency" and not emergency_keys:
            emergency_keys = ["general"]
        # what to do now, each line once: an emergency's steps, the categories' steps, and at an
        # emergency every leave-or-call line a lower answer would lead with (the other categories'
        # standing lines: a gas job that is also a sagging floor keeps "If you smell gas ..., leave";
        # an explained-away cue's and a lowered rule's)
        steps: list[str] = []
        if level == "emergency":
            for key in emergency_keys:
                steps += book.emergencies.get(key, book.emergencies["general"])
        for c in categories:
            steps += book.categories[c].safe_now
            tell.extend(t for t in book.categories[c].tell_pro if t not in tell)
        safe = [localised(step) for step in steps]
        if level == "emergency":
            keys = _leave_or_call_keys(question, perception, fired, categories, book)
            safe += [conditional_line(key) for key in keys if key not in emergency_keys]
            rule = book.no_switching
            if rule.steps is not None and rule.emergencies.intersection(emergency_keys):
                # a gas leak: no other step may send the user to a switch, a breaker or a plug
                own = {
                    localised(s)
                    for key in rule.emergencies.intersection(emergency_keys)
                    for s in book.emergencies[key]
                }
                safe = [s for s in safe if s in own or not rule.steps.search(s.lower())]
                notices = [rule.notices.get(c, book.categories[c].notice) for c in categories]
        safe = list(dict.fromkeys(safe))
        reasons = list(
            dict.fromkeys(
                r.description for r in book.rules if any(f.rule == r.id and not f.lowered_from for f in top)
            )
        )
        if any(f.source == "lexical" for f in top):
            reasons.append(
                f"A model trained on labelled home-repair questions rates this job {level.replace('_', ' ')}."
            )
        first_lowered = next((f for f in fired if f.lowered_from), None)
        if first_lowered is not None and first_lowered.lowered_from is not None and lexical is not None:
            reasons.append(
                f"The rules rated it {first_lowered.lowered_from.replace('_', ' ')} "
                f"({first_lowered.match.rsplit(' [', 1)[0]}); a model trained on labelled home-repair questions "
                f"rates it {lexical.level.replace('_', ' ')} (p={lexical.confidence:.2f}), "
                f"so it is {level.replace('_', ' ')}: no lower than the rest of the job calls for."
            )
        if opinion.raised:
            reasons.append(f"A second review of the job rated it {level.replace('_', ' ')}: {opinion.reason}")
        heading = book.emergency_heading if level == "emergency" else book.withheld_heading
        body = [heading, "", "**Do this now:**"]
        body += [f"{i}. {step}" for i, step in enumerate(safe, 1)]
        body += ["", "**Why:** " + " ".join(reasons)] if reasons else []
        body += ["", "**Tell the professional:**"] + [f"- {t}" for t in tell]
        # one quote, a paragraph per notice: lines one after another would render as one paragraph
        body += [
            "",
            BLOCKQUOTE_BREAK.join(
                f"> **{book.categories[c].label}:** {n}" for c, n in zip(categories, notices, strict=True)
            ),
        ]
        answer_body = "\n".join(body)
    else:
        parts = [
            f"> **Safety ({book.categories[c].label}):** {book.categories[c].notice}" for c in categories
        ]
        answer_body = "\n\n".join([*parts, draft.strip()]) if draft.strip() else "\n\n".join(parts)

    # An emergency cue explained away by a stated context still gets the leave-or-call line, first;
    # so does every answer in a hazard category that can turn into an emergency (gas, CO, electrics,
    # water and electricity, structure), whatever its level: held-out rounds show the rules rate
    # some real emergencies lower, and the leave-or-call line must reach the user even then.
    if level != "emergency":
        keys = _leave_or_call_keys(question, perception, fired, categories, book)
        lines = list(dict.fromkeys(conditional_line(k) for k in keys))
        if lines:
            block = BLOCKQUOTE_BREAK.join(f"> **{line}**" for line in lines)
            answer_body = f"{block}\n\n{answer_body}" if answer_body else block
            actions.append(CONDITIONAL)

    # Last step: remove code-compliance claims from everything shown, on normalised text.
    cleaned, removed = remove_compliance_claims(answer_body, book)
    answer = cleaned
    if removed:
        actions.append(REMOVE_CLAIMS)
        answer += "\n\n_" + book.claim_note.format(count=len(removed)) + "_"

    return GuardrailResult(
        level=level,
        rules_level=rules_level,
        categories=categories,
        fired=fired,
        actions=actions,
        locale=locale.name if locale else None,
        withheld=level in WITHHELD,
        removed_claims=removed,
        notices=notices,
        safe_actions=safe,
        tell_professional=tell,
        second_opinion=opinion,
        answer=answer,
    )


def with_companions(
    fired: list[FiredRule], question: str, perception: str, book: Rulebook
) -> list[FiredRule]:
    """`fired` and the categories the rules file's `companions` join to it (`Companion`): each at the
    highest level its joining categories already have, so the job's level stays what it is."""
    if not book.companions:
        return fired
    said = [s for text in (question, perception) if text for s in _sentences(normalize(text, book))]
    out = list(fired)
    waiting = list(book.companions)
    while waiting:  # a companion may join one another joined (a loft's height, then its joists' load)
        joined = []
        for comp in waiting:
            if any(f.category == comp.category and f.level != "proceed" for f in out):
                continue
            levels = [f.level for f in out if f.category in comp.with_categories and f.level != "proceed"]
            if not levels or level_index(max_level(*levels)) > level_index(comp.up_to):
                continue
            if any(p.search(s) for p in comp.unless_job for s in said):
                continue
            hit = next(
                (
                    m.group(0)
                    for s in said
                    for p in comp.patterns
                    for m in p.finditer(s)
                    # not a context the job denies ("no gas at all", "not near the bathroom")
                    if not _covered(m, comp.exclude, s) and _is_instruction(s, m, "question", book)
                ),
                None,
            )
            if hit is not None:
                out.append(
                    FiredRule(
                        rule=comp.id,
                        category=comp.category,
                        level=max_level(*levels),
                        source="job",
                        match=hit,
                    )
                )
                joined.append(comp)
        waiting = [c for c in waiting if c not in joined] if joined else []
    return out


# ------------------------------------------------------------------------------------ lexical opinion


def lexical_opinion(question: str, perception: str, draft: str) -> LexicalOpinion:
    """The shipped lexical model's opinion on the whole job (cosmosctl/diy/lexical.py)."""
    from cosmosctl.diy.lexical import default_model  # scikit-learn loads only when a job is rated

    return default_model().opinion(question, perception, draft)


def _leave_or_call_keys(
    question: str, perception: str, fired: list[FiredRule], categories: list[str], book: Rulebook
) -> list[str]:
    """The conditional leave-or-call lines an answer carries, by key, in order: an emergency cue a
    stated context explained away, what the lexical model lowered (an emergency's own line and its
    categories' standing lines: it still leads with them), and the answer's categories' standing lines."""
    keys = [r.emergency or "general" for r in conditional_cues(question, perception, book)]
    lowered = [f for f in fired if f.lowered_from]
    keys += [
        r.emergency or "general"
        for r in book.rules
        if any(f.rule == r.id and f.lowered_from == "emergency" for f in lowered)
    ]
    keys += [
        k for c in dict.fromkeys(f.category for f in lowered) for k in book.standing_conditional.get(c, ())
    ]
    keys += [k for c in categories for k in book.standing_conditional.get(c, ())]
    return list(dict.fromkeys(keys))


def transformer_opinion(question: str, perception: str, draft: str) -> LexicalOpinion:
    """The shipped MiniLM model's opinion on the whole job (cosmosctl/diy/minilm.py)."""
    from cosmosctl.diy.minilm import default_model  # ONNX Runtime loads only when a job is rated

    return default_model().opinion(question, perception, draft)


def with_transformer_opinion(
    fired: list[FiredRule],
    lexical: LexicalOpinion,
    settings: LexicalSettings,
    rate: Callable[[str], LexicalOpinion],
    draft: str,
) -> list[FiredRule]:
    """The fired rules, after the rules and the lexical model have decided (`with_lexical_opinion`),
    with a raise added when the MiniLM model (`rate`: its opinion of the job with the given draft)
    rates the job professional only or emergency, higher than that decision, at
    `transformer_raise_at` or above (or gives the two withheld levels together that probability: a
    raise to professional only): `lexical.<level>` entries marked "MiniLM model", for the lexical
    model's categories at even odds, else the rules', else its likeliest one. It only ever adds
    entries above the level reached without it, so it cannot lower a level, drop a category or make
    the lexical model lower further; nothing is above an emergency, so there it is not run. It is
    there to catch a withhold or an emergency the rest missed: raising a plain job to caution changed
    no case in the leave-out measurement.

    An emergency is something the user reports, not something a draft warns of ("if the ceiling is
    sagging, get out and call 911" under a paint question): as the rules' emergency rules never read
    the draft, a raise to emergency needs the model's emergency rating of the job without the draft
    too (when there is a draft); else the raise is to professional only."""
    reached: Level = max_level("proceed", *(f.level for f in fired))
    at = settings.transformer_raise_at
    if at is None or reached == "emergency":
        return fired

    def emergency_without_the_draft() -> bool:
        alone = rate("")
        return alone.level == "emergency" and alone.confidence >= at

    if reached == "professional_only" and draft.strip() and not emergency_without_the_draft():
        # Above professional only is only a raise to emergency, which needs the rating without the
        # draft as well as with it: the short one first, and the long one only if it passes (the same
        # decision, in a fraction of the time for most withheld jobs).
        return fired
    transformer = rate(draft)
    if transformer.level not in WITHHELD:
        return fired
    level: Level = transformer.level  # type: ignore[assignment]
    confidence, model = transformer.confidence, transformer.model
    if confidence < at:
        # Sure that the job is withheld, unsure whether it is professional only or an emergency
        # (0.6 and 0.35): the two together decide a raise to professional only, never to emergency.
        if transformer.withhold_p is None or transformer.withhold_p < at:
            return fired
        level, confidence = "professional_only", transformer.withhold_p
        model = f"{model} (professional only and emergency together)"  # what its p is the probability of
    elif level == "emergency" and draft.strip() and not emergency_without_the_draft():
        level = "professional_only"
    if level_index(level) <= level_index(reached):
        return fired
    raised = replace(lexical, level=level, confidence=confidence, model=model)
    return with_lexical_opinion(fired, raised, settings, may_lower=False)


def with_lexical_opinion(
    fired: list[FiredRule],
    opinion: LexicalOpinion,
    settings: LexicalSettings,
    unknown_read_as: Callable[[str], str] = lambda word: word,
    *,
    may_lower: bool = True,
    context: LoweringContext | None = None,
) -> list[FiredRule]:
    """The fired rules after the lexical opinion, within the rules file's limits:

    - it raises the level when it rates the job higher with probability >= `raise_at` (a `lexical.*`
      entry per category it gives at even odds, or the rules' categories, or its likeliest one);
    - it lowers the level to its own when it rates the job lower with probability at or above the
      `lower_at` of every level it lowers (`default_deny` for a withhold from the default-deny alone,
      `NOT_A_DIY_JOB`), and it knows every word those rules matched: none of them is a word it never
      saw, nor what such a word reads as after the rules' typo and dialect fixes (`unknown_read_as`:
      "electrcity" is read as "electricity", which the model never saw typed so). The lowered rules
      stay in `fired`, at the new level, with `lowered_from` the level they gave. With a `context`
      (as `apply_guardrail` gives), it never lowers below a rule matched in a held source (the draft;
      a rendered observation), and lowers a withhold only if it also rates each piece around the
      rule's match (`_pieces_of`), alone and as surely as the whole job must be rated, no higher than
      its new level: a real emergency told next to a plain job ("... slow drain; smoke coming out of
      the fuse box") keeps its level, and a match it cannot place keeps it too (to a level that stays
      withheld, only each match's clause, and with the MiniLM model's agreement: `_lowered`). It lowers nothing
      when the caller says it may not (`may_lower`: a hazard the vision model flagged);
    - its hazard categories at probability >= `categories_at` join the rules' when the job has a
      hazard level (a `lexical.category` entry each), so a gas job it also rates carbon monoxide gets
      that category's notice and steps.
    """
    floor: Level = max_level("proceed", *(f.level for f in fired))
    level: Level = opinion.level  # type: ignore[assignment]
    mark = f"{opinion.model}: {level} (p={opinion.confidence:.2f})"

    def entries(rule: str, at: Level, categories: Iterable[str]) -> list[FiredRule]:
        return [FiredRule(rule=rule, category=c, level=at, source="lexical", match=mark) for c in categories]

    if level_index(level) > level_index(floor) and opinion.confidence >= settings.raise_at:
        # its categories at even odds, else the rules', else its likeliest: a hazard level names a hazard
        ruled = tuple(dict.fromkeys(f.category for f in fired))
        likeliest = tuple(c for c, _ in opinion.category_p[:1])
        named = opinion.categories or ruled or likeliest or ("general",)
        fired = [*fired, *entries(f"lexical.{level}", level, named)]
    elif may_lower and level_index(level) < level_index(floor):
        fired = _lowered(fired, level, opinion, settings, unknown_read_as, mark, context)
    final: Level = max_level("proceed", *(f.level for f in fired))
    if final == "proceed" or settings.categories_at is None:
        return fired
    present = {f.category for f in fired}
    joining = [c for c, p in opinion.category_p if p >= settings.categories_at and c not in present]
    return [*fired, *entries("lexical.category", final, joining)]


def _lowered(
    fired: list[FiredRule],
    level: Level,
    opinion: LexicalOpinion,
    settings: LexicalSettings,
    unknown_read_as: Callable[[str], str],
    mark: str,
    context: LoweringContext | None,
) -> list[FiredRule]:
    """`fired` with every rule above the model's `level` lowered to it, if the rules file lets the model
    lower each (`with_lexical_opinion`); a withhold goes below caution only at `withhold_to_proceed`,
    an emergency below professional only only at professional only's limit too, never below a rule
    matched in a held source (the draft is what the user would see) or a rule in `never_lowered`; a
    withhold only when the MiniLM model agrees, where the rules file asks for that
    (`lower_withhold_needs_minilm`). A lowering that stays withheld asks the model only for each match's
    clause, no higher than the new level: the match's own words and the sentence before would rate a
    past sign ("we smelled gas last week") as the emergency it was."""
    p = opinion.confidence
    if level == "proceed" and any(f.level in WITHHELD for f in fired) and p < settings.withhold_to_proceed:
        level = "caution"
    level = max_level(level, *(f.level for f in fired if f.rule in settings.never_lowered))
    if context is not None:
        level = max_level(level, *(f.level for f in fired if _held(f, context)))
    above = [f for f in fired if level_index(f.level) > level_index(level)]
    if not above:
        return fired
    needed = 0.0
    for at in dict.fromkeys(f.level for f in above):
        at_level = [f for f in above if f.level == at]
        kind = (
            "default_deny"
            if at in WITHHELD and all(f.match.endswith(NOT_A_DIY_JOB) for f in at_level)
            else at
        )
        needed = max(needed, settings.lower_at.get(kind, 2.0))
        if p < needed:  # a level the rules file does not list is never lowered
            return fired
    if level not in WITHHELD and any(f.level == "emergency" for f in above):
        # an emergency taken below a withhold passes professional only: that level's limit too (a file
        # that lets an emergency become professional only does not thereby let its draft be shown)
        needed = max(needed, settings.lower_at.get("professional_only", 2.0))
        if p < needed:
            return fired
    # Only now, with levels it could lower: the words it never saw, also as the rules read them.
    unknown = set(opinion.unknown) | {
        w for u in opinion.unknown for w in re.findall(r"\w+", unknown_read_as(u))
    }
    if any(set(re.findall(r"\w+", " ".join(_match_parts(f)))) & unknown for f in above):
        return fired
    if context is not None:
        # a rule fires once per category with the same match: each match, and each piece, once
        matches = {(f.source, f.match): f for f in above if f.level in WITHHELD}
        stays_withheld = level in WITHHELD
        pieces = [_pieces_of(f, context, clause_only=stays_withheld) for f in matches.values()]
        ratings = [context.rate(piece) for piece in dict.fromkeys(x for found in pieces for x in found or ())]
        if any(found is None for found in pieces) or not all(
            level_index(r.level) <= level_index(level) and (stays_withheld or r.confidence >= needed)
            for r in ratings
        ):
            return fired
    if settings.lower_withhold_needs_minilm and any(f.level in WITHHELD for f in above):
        second = context.confirm() if context is not None and context.confirm is not None else None
        if second is None or level_index(second.level) > level_index(level) or second.confidence < needed:
            return fired
    return [
        f.model_copy(update={"level": level, "lowered_from": f.level, "match": f"{f.match} [{mark}]"})
        if level_index(f.level) > level_index(level)
        else f
        for f in fired
    ]


def _match_parts(f: FiredRule) -> list[str]:
    """What a rule matched, without the notes the classifier appends (default-deny, DIY job), in its
    parts: a job-level rule's match is its parts joined by " + "."""
    return _DIY_JOB_NOTE.sub("", f.match.removesuffix(NOT_A_DIY_JOB)).split(" + ")


# Where a piece of text ends for the per-piece check: a sentence or line end, the rules' clause
# boundaries (commas, semicolons, "then", "but", ...), a spaced dash, "and"/"also"/"plus"/"while", and
# any symbol such as an emoji. Splitting finer only makes the check stricter.
_SENTENCE_END = r"[.!?]+(?=\s|$)|\n"
_PIECE_END = re.compile(_SENTENCE_END + r"|\s-\s|\b(?:and|also|plus|while|anyway)\b|[^\w\s'.,;:()|!?&/+\-]")


def _pieces_of(f: FiredRule, context: LoweringContext, *, clause_only: bool = False) -> list[str] | None:
    """For each part of a rule's match (a job-level rule's parts may sit in different sources): the
    clause it sits in, the part with four words either side, and its sentence with the sentence
    before (with `clause_only`, the clause alone), from the text the rules read. None when a part cannot
    be found there: then the model may not lower it."""
    sources = ("question", "perception", "draft") if f.source == "job" else (f.source,)
    # each line read on its own first (the rules join a line with no full stop to the next), then the
    # whole text for a match that spans lines
    raw = [context.texts.get(source, "") for source in sources]
    texts = [context.read(line) for text in raw for line in text.splitlines()]
    texts += [context.read(text) for text in raw]
    pieces: list[str] = []
    for part in _match_parts(f):
        text = next((t for t in texts if part and part in t), None)
        if text is None:
            return None
        at = text.index(part)
        cuts = [*_PIECE_END.finditer(text), *context.clause_split.finditer(text)]
        ends = sorted({0, len(text), *(m.start() for m in cuts), *(m.end() for m in cuts)})
        start = max(e for e in ends if e <= at)
        end = min(e for e in ends if e >= at + len(part))
        pieces.append(text[start:end])
        if clause_only:
            continue
        sentence_ends = [0, *(m.end() for m in re.finditer(_SENTENCE_END, text)), len(text)]
        before = [e for e in sentence_ends if e <= at]
        window_start = before[-2] if len(before) > 1 else 0
        window_end = min(e for e in sentence_ends if e >= at + len(part))
        words_before = text[:at].split()[-4:]
        words_after = text[at + len(part) :].split()[:4]
        near = " ".join([*words_before, part, *words_after])  # the match with four words either side
        pieces += [near, text[window_start:window_end]]
    return [p.strip() for p in dict.fromkeys(pieces) if p.strip()]


def _held(f: FiredRule, context: LoweringContext) -> bool:
    """Whether a rule matched in a held source: directly, or a job-level part found in one."""
    if f.source != "job":
        return f.source in context.held
    return any(
        part in context.read(context.texts.get(source, ""))
        for part in _match_parts(f)
        for source in context.held
        if context.texts.get(source)
    )


# ------------------------------------------------------------------------------------ second opinion


class _HazardReply(BaseModel):
    level: Level
    categories: list[str] = Field(default_factory=list)
    reason: str = ""


def parse_second_opinion(
    raw: str | None, rules: Rulebook | None = None, error: str | None = None
) -> SecondOpinion:
    """The model's hazard reply as a SecondOpinion: used, or missing/invalid with the reason (then ignored)."""
    from pydantic import ValidationError

    from cosmosctl.diy.observation import ObservationParseError, extract_json_object

    book = rules or load_rules()
    if raw is None or not raw.strip():
        return SecondOpinion(status="missing", error=error or "no reply")
    try:
        reply = _HazardReply.model_validate(extract_json_object(raw))
    except (ObservationParseError, ValidationError) as exc:
        return SecondOpinion(status="invalid", error=str(exc).splitlines()[0][:300])
    unknown = [c for c in reply.categories if c not in book.categories]
    if unknown:
        return SecondOpinion(status="invalid", error=f"unknown categories {unknown}")
    return SecondOpinion(
        status="used", level=reply.level, categories=reply.categories, reason=reply.reason[:500]
    )
