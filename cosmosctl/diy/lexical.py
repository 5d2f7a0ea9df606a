"""The guardrail's learned lexical opinion: a level and hazard categories for the whole job, from a
linear model over the job's words and letter groups, trained on the project's labelled cases.

Why: held-out rounds written by authors who never saw the rules showed the hand-written rules
plateau at 85-89 % right, while a TF-IDF + logistic-regression model trained on the shipped cases
rated the level right more often than the rules on the same unseen rounds (docs/diy-eval/history.md,
"The lexical layer"). It is deterministic and offline, like the rules; the guardrail uses it only
within the limits the rules file sets (`lexical:` in guardrail_rules.yaml): it may raise the level,
and may lower only a withhold that came from the default-deny alone (work in a hazard domain that is
not one of the named DIY jobs), never a rule that named a danger.

The model ships as `guardrail_lexical.npz` (no pickle: vocabularies, IDF weights and coefficients as
plain arrays) with the SHA-256 of the case files it was trained on: every shipped case file but those
marked `held_out: true`, the tuning and red-team sets, with the blind relabels of
`tests/diy/relabel/training_*.yaml` in place of their authors' labels (`shipped_training_files`,
`training_cases`). Retrain after changing them, from a source checkout:

    python -m cosmosctl.diy.lexical
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

if TYPE_CHECKING:
    from cosmosctl.diy.guardrail_eval import GuardrailCase

MODEL_PATH = Path(__file__).with_name("guardrail_lexical.npz")
LEVELS = ("proceed", "caution", "professional_only", "emergency")

# Feature blocks: the question with the perception as words (1-2 grams) and as letter groups inside
# words (3-5 characters: typos, dialect spellings, run-together words), and the draft as words with
# half the weight (the draft follows the question; it does not define the job).
_BLOCKS: tuple[tuple[str, str, dict[str, Any], float], ...] = (
    ("words", "job", {"ngram_range": (1, 2), "min_df": 2}, 1.0),
    ("chars", "job", {"analyzer": "char_wb", "ngram_range": (3, 5), "min_df": 3}, 1.0),
    ("draft", "draft", {"ngram_range": (1, 2), "min_df": 2}, 0.5),
)
_MAX_FEATURES = 20_000  # per block: as right on held-out rounds as 100,000, at a fifth of the size
_C = 10.0  # inverse regularisation, chosen on rounds 63-66 (docs/diy-eval/history.md)


@dataclass(frozen=True)
class LexicalOpinion:
    level: str
    confidence: float  # the model's probability for `level`
    categories: tuple[str, ...]  # categories the model gives at least even odds, most likely first
    # Words of the question and perception the model never saw in training: it cannot judge a job
    # by a thing it does not know (the guardrail does not let it lower a withhold named by one).
    unknown: frozenset[str] = frozenset()
    category_p: tuple[tuple[str, float], ...] = ()  # every category with its probability, most likely first
    model: str = "lexical model"  # which model gave the level (cosmosctl/diy/minilm.py: "MiniLM model")
    # The probability that the job must be withheld (professional only and emergency together), from a
    # model that rates the whole job's level (the MiniLM model); None from one that does not say.
    withhold_p: float | None = None


@dataclass(frozen=True)
class _Block:
    vectorizer: TfidfVectorizer
    source: str
    weight: float
    level_coef: NDArray[np.float32]  # (levels, features)
    category_coef: NDArray[np.float32]  # (categories, features)

    def features(self, terms: list[str]) -> tuple[list[int], NDArray[np.float64]]:
        """The non-zero TF-IDF features (columns, weighted values) of a text's terms (`analyzer`): what
        `vectorizer.transform([text])` gives (sublinear tf, idf, l2 norm; a test holds them equal),
        without its per-call checks, which cost ten times the arithmetic for one short text."""
        vocabulary = self.vocabulary
        held = [(vocabulary[t], n) for t, n in Counter(terms).items() if t in vocabulary]
        if not held:
            return [], np.zeros(0)
        columns = [column for column, _ in held]
        values = (1.0 + np.log(np.array([n for _, n in held], dtype=float))) * self.idf[columns]
        return columns, values * (self.weight / np.sqrt(values @ values))

    @cached_property
    def coef(self) -> NDArray[np.float64]:
        """The level and the category coefficients stacked: one column lookup per text."""
        return np.vstack([self.level_coef, self.category_coef]).astype(np.float64)

    @cached_property
    def analyzer(self) -> Callable[[str], list[str]]:
        return self.vectorizer.build_analyzer()  # type: ignore[no-any-return]

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        return dict(self.vectorizer.vocabulary_)

    @cached_property
    def idf(self) -> NDArray[np.float64]:
        return np.asarray(self.vectorizer.idf_, dtype=np.float64)


@dataclass(frozen=True)
class LexicalModel:
    blocks: tuple[_Block, ...]
    level_intercept: NDArray[np.float32]
    categories: tuple[str, ...]
    category_intercept: NDArray[np.float32]
    trained_on: str  # SHA-256 of the training case files (`cases_digest`)
    cases: int

    @cached_property
    def intercept(self) -> NDArray[np.float64]:
        """The level and the category intercepts stacked, as each block's `coef`."""
        return np.concatenate([self.level_intercept, self.category_intercept]).astype(np.float64)

    def opinion(self, question: str, perception: str, draft: str) -> LexicalOpinion:
        texts = _texts(question, perception, draft)
        scores = self.intercept.copy()
        terms: dict[str, list[str]] = {}
        for (name, *_), block in zip(_BLOCKS, self.blocks, strict=True):
            terms[name] = block.analyzer(texts[block.source])
            columns, values = block.features(terms[name])
            scores += block.coef[:, columns] @ values
        level_scores, category_scores = scores[: len(LEVELS)], scores[len(LEVELS) :]
        odds = np.exp(level_scores - level_scores.max())
        probability = odds / odds.sum()
        best = int(probability.argmax())
        category_p = 1.0 / (1.0 + np.exp(-category_scores))
        order = np.argsort(-category_p, kind="stable")
        words = self.blocks[0]  # _BLOCKS[0]: the question and perception as words
        return LexicalOpinion(
            level=LEVELS[best],
            confidence=float(probability[best]),
            categories=tuple(self.categories[i] for i in order if category_p[i] >= 0.5),
            category_p=tuple((self.categories[i], float(category_p[i])) for i in order),
            unknown=frozenset(w for w in terms["words"] if " " not in w and w not in words.vocabulary),
        )


def _texts(question: str, perception: str, draft: str) -> dict[str, str]:
    return {"job": f"{question} || {perception}".lower(), "draft": draft.lower()}


def cases_digest(paths: Iterable[Path | str]) -> str:
    """SHA-256 over the case files' names and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(map(Path, paths), key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def held_out(path: Path) -> bool:
    """Whether a case file is marked `held_out: true`: a round kept to measure the guardrail on
    wording it never learned from, so never training data."""
    from cosmosctl.diy.guardrail import read_yaml

    text = path.read_text(encoding="utf-8")
    if "held_out" not in text:  # no such key: skip parsing the whole file
        return False
    data = read_yaml(text)
    return isinstance(data, dict) and data.get("held_out") is True


def training_files(paths: Iterable[Path | str]) -> list[Path]:
    return [p for p in map(Path, paths) if not held_out(p)]


def shipped_case_files(tests_diy: Path) -> list[Path]:
    """Every labelled file under `tests/diy/` the models could learn from, held-out ones included: the
    case files (`cases/`), the tuning and red-team sets (`tuning/`, `redteam/`) and the blind relabels
    of training cases (`relabel/training_*.yaml`, applied by `training_cases`)."""
    return [
        *sorted((tests_diy / "cases").glob("*.yaml")),
        *sorted((tests_diy / "tuning").glob("*.yaml")),
        *sorted((tests_diy / "redteam").glob("*.yaml")),
        *sorted((tests_diy / "relabel").glob("training_*.yaml")),
    ]


def shipped_training_files(tests_diy: Path) -> list[Path]:
    """The files both shipped models learn from: `shipped_case_files` but those marked `held_out: true`."""
    return training_files(shipped_case_files(tests_diy))


def _relabels(path: Path) -> list[dict[str, Any]] | None:
    """The entries of a relabel file (`relabels:` of id, level, categories), or None for a case file."""
    from cosmosctl.diy.guardrail import read_yaml

    text = path.read_text(encoding="utf-8")
    if "relabels:" not in text:
        return None
    data = read_yaml(text)
    return data["relabels"] if isinstance(data, dict) and "relabels" in data else None


def training_cases(
    paths: Iterable[Path | str], *, left_out: Iterable[Path | str] = ()
) -> list[GuardrailCase]:
    """The labelled cases the models learn from: the cases of every training file in `paths`, with
    the level and categories of a relabel file put in place of the author's for the ids it names
    (a blind second labeller's reading under the current brief; docs/diy-eval/history.md, session 16).
    A relabel of an id no case file holds is an error, so a renamed case cannot silently drop out,
    except an id of the files `left_out` on purpose (a leave-out run); so is an id relabelled twice, an
    unknown category or an entry without its level and categories."""
    from pydantic import ValidationError

    from cosmosctl.diy.guardrail import load_rules
    from cosmosctl.diy.guardrail_eval import GuardrailCase, load_guardrail_cases
    from cosmosctl.errors import CosmosError

    book = load_rules()
    relabels: dict[str, dict[str, Any]] = {}
    case_files = []
    for path in training_files(paths):
        entries = _relabels(path)
        if entries is None:
            case_files.append(path)
            continue
        for entry in entries:
            where = f"{path.name}: relabel {entry.get('id')!r}"
            if not isinstance(entry, dict) or not {"id", "level", "categories"} <= entry.keys():
                raise CosmosError(f"{where}: each relabel needs an id, a level and categories")
            if str(entry["id"]) in relabels:
                raise CosmosError(f"{where}: relabelled twice")
            unknown_categories = set(entry["categories"] or []) - set(book.categories)
            if unknown_categories:
                raise CosmosError(f"{where}: unknown categories {sorted(unknown_categories)}")
            relabels[str(entry["id"])] = entry
    cases = [case for _, case in load_guardrail_cases(case_files, book)]
    forgiven = {case.id for _, case in load_guardrail_cases(left_out, book)} if left_out else set()
    unknown = set(relabels) - {c.id for c in cases} - forgiven
    if unknown:
        raise CosmosError(f"relabels name ids no training case holds: {', '.join(sorted(unknown)[:5])}")
    learned = []
    for case in cases:
        if case.id in relabels:
            entry = relabels[case.id]
            try:
                case = GuardrailCase.model_validate(
                    {**case.model_dump(), "level": entry["level"], "categories": entry["categories"] or []}
                )
            except ValidationError as exc:
                raise CosmosError(f"relabel {case.id!r}: {exc.errors()[0]['msg']}") from exc
        learned.append(case)
    return learned


def train(paths: list[Path]) -> LexicalModel:
    """Fit the model on the labelled cases in `paths` (their first listed level, their categories),
    leaving out every file marked `held_out: true`."""
    from cosmosctl.diy.guardrail import load_rules

    paths = training_files(paths)
    book = load_rules()
    cases = training_cases(paths)
    categories = tuple(c for c in book.categories if any(c in case.categories for case in cases))
    texts = [_texts(c.question, c.perception or "", c.draft or "") for c in cases]
    vectorizers = []
    matrices = []
    for _, source, settings, weight in _BLOCKS:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, max_features=_MAX_FEATURES, dtype=np.float32, **settings
        )
        matrices.append(vectorizer.fit_transform([t[source] for t in texts]) * weight)
        vectorizers.append(vectorizer)
    from scipy.sparse import hstack

    x = hstack(matrices).tocsr()
    levels = np.array([LEVELS.index(c.level[0]) for c in cases])
    level_model = LogisticRegression(C=_C, max_iter=5000).fit(x, levels)
    if list(level_model.classes_) != list(range(len(LEVELS))):
        raise ValueError("the training cases must hold every level")
    category_coef = []
    category_intercept = []
    for name in categories:
        marks = np.array([name in c.categories for c in cases])
        fitted = LogisticRegression(C=_C, max_iter=5000).fit(x, marks)
        category_coef.append(fitted.coef_[0])
        category_intercept.append(fitted.intercept_[0])
    widths = np.cumsum([0] + [len(v.vocabulary_) for v in vectorizers])
    blocks = tuple(
        _Block(
            vectorizer=v,
            source=source,
            weight=weight,
            level_coef=level_model.coef_[:, widths[i] : widths[i + 1]].astype(np.float32),
            category_coef=np.array(category_coef)[:, widths[i] : widths[i + 1]].astype(np.float32),
        )
        for i, (v, (_, source, _, weight)) in enumerate(zip(vectorizers, _BLOCKS, strict=True))
    )
    return LexicalModel(
        blocks=blocks,
        level_intercept=level_model.intercept_.astype(np.float32),
        categories=categories,
        category_intercept=np.array(category_intercept, dtype=np.float32),
        trained_on=cases_digest(paths),
        cases=len(cases),
    )


def save(model: LexicalModel, path: Path = MODEL_PATH) -> None:
    arrays: dict[str, Any] = {
        "meta": np.array(
            json.dumps({"trained_on": model.trained_on, "cases": model.cases, "categories": model.categories})
        ),
        "level_intercept": model.level_intercept,
        "category_intercept": model.category_intercept,
    }
    for (name, *_), block in zip(_BLOCKS, model.blocks, strict=True):
        terms = sorted(block.vectorizer.vocabulary_, key=block.vectorizer.vocabulary_.__getitem__)
        arrays[f"{name}_terms"] = np.array(terms, dtype=str)
        arrays[f"{name}_idf"] = block.vectorizer.idf_.astype(np.float32)
        arrays[f"{name}_level"] = block.level_coef
        arrays[f"{name}_category"] = block.category_coef
    with path.open("wb") as out:
        np.savez_compressed(out, **arrays)


def load(path: Path = MODEL_PATH) -> LexicalModel:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        blocks = []
        for name, source, settings, weight in _BLOCKS:
            terms = data[f"{name}_terms"].tolist()
            vectorizer = TfidfVectorizer(
                sublinear_tf=True,
                dtype=np.float32,
                vocabulary={t: i for i, t in enumerate(terms)},
                **settings,
            )
            vectorizer.idf_ = data[f"{name}_idf"].astype(np.float64)
            blocks.append(_Block(vectorizer, source, weight, data[f"{name}_level"], data[f"{name}_category"]))
        return LexicalModel(
            blocks=tuple(blocks),
            level_intercept=data["level_intercept"],
            categories=tuple(meta["categories"]),
            category_intercept=data["category_intercept"],
            trained_on=meta["trained_on"],
            cases=int(meta["cases"]),
        )


@lru_cache(maxsize=1)
def default_model() -> LexicalModel:
    return load(MODEL_PATH)


def main(argv: list[str]) -> None:
    given = [Path(a) for a in argv] or shipped_case_files(Path(__file__).parents[2] / "tests" / "diy")
    paths = training_files(given)
    model = train(paths)
    save(model)
    size = MODEL_PATH.stat().st_size
    skipped = ", ".join(p.name for p in given if p not in paths) or "none"
    print(
        f"trained on {model.cases} cases from {len(paths)} files (held out: {skipped}); wrote {MODEL_PATH} ({size / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
