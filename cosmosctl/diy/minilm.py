"""The guardrail's second learned opinion: a small transformer (all-MiniLM-L6-v2, 22 M parameters)
fine-tuned on the project's labelled cases to rate the whole job's level, run with ONNX Runtime.

Why: the lexical model (cosmosctl/diy/lexical.py) reads separate words and letter groups; the
transformer reads the job as word pieces in context, and makes different mistakes. Measured by
leave-out on rounds 63-75 (2,400 cases neither model learned from; docs/diy-assistant.md, layer 8c),
letting it raise the level as below left 9 must-withhold jobs shown instead of 15 and no emergency
without its leave-or-call line (1 before), at 5 more safe jobs withheld.

It only raises: after the rules and the lexical model have decided, the guardrail adds a raise
when this model rates the job professional only or emergency, higher than that decision, at
p >= 0.9 (`lexical.transformer_raise_at` in guardrail_rules.yaml, `guardrail.with_transformer_opinion`),
so every level the guardrail reaches with it is at least the level it reaches without it, with every
category. A raise to emergency needs its emergency rating without the draft too (a draft's caveat
is not the user's report). Delete that key and it is never run.

The model ships as three files beside this one: `guardrail_minilm.onnx` (int8), its WordPiece
`guardrail_minilm_tokenizer.json` (the base model's, unchanged) and `guardrail_minilm.json` (the
SHA-256 of both, of the base weights, and of the case files it was trained on: every shipped case
file but those marked `held_out: true`). Retraining needs a GPU: scripts/train_guardrail_minilm.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cosmosctl.diy.lexical import LEVELS, LexicalOpinion

HERE = Path(__file__).parent
MODEL_PATH = HERE / "guardrail_minilm.onnx"
TOKENIZER_PATH = HERE / "guardrail_minilm_tokenizer.json"
META_PATH = HERE / "guardrail_minilm.json"


class ModelFileError(RuntimeError):
    """A shipped model file is missing or is not the file its metadata names."""


def pair(question: str, perception: str, draft: str, draft_chars: int) -> tuple[str, str]:
    """The two segments the model was trained on: the job (question, then perception) and the draft
    (cut to `draft_chars`; "-" when there is none)."""
    return _text(f"{question} || {perception}"), _text(draft[:draft_chars]) or "-"


def _text(text: str) -> str:
    """`text` as the tokenizer takes it: a lone surrogate (from JSON "\\ud800" or a surrogate-escaped
    byte) becomes "?" instead of stopping the guardrail."""
    return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class TransformerModel:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    meta: dict[str, Any]

    def probabilities(self, question: str, perception: str, draft: str) -> NDArray[np.float64]:
        """The probability of each of LEVELS for the whole job."""
        encoded = self.tokenizer.encode(*pair(question, perception, draft, int(self.meta["draft_chars"])))
        feed = {
            "input_ids": np.array([encoded.ids], dtype=np.int64),
            "attention_mask": np.array([encoded.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoded.type_ids], dtype=np.int64),
        }
        logits = np.asarray(self.session.run(["logits"], feed)[0][0], dtype=np.float64)
        odds = np.exp(logits - logits.max())
        return odds / odds.sum()  # type: ignore[no-any-return]

    def opinion(self, question: str, perception: str, draft: str) -> LexicalOpinion:
        """Its level and probability, as a `LexicalOpinion` with no categories of its own, and the
        probability of the two withheld levels together (`withhold_p`)."""
        probability = self.probabilities(question, perception, draft)
        best = int(probability.argmax())
        withhold = float(probability[LEVELS.index("professional_only") :].sum())
        return LexicalOpinion(
            level=LEVELS[best],
            confidence=float(probability[best]),
            categories=(),
            model="MiniLM model",
            withhold_p=withhold,
        )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(
    model: Path = MODEL_PATH, tokenizer: Path = TOKENIZER_PATH, meta: Path = META_PATH
) -> TransformerModel:
    """The shipped model, after checking both files against the SHA-256 its metadata records (a
    truncated download or a swapped file is an error, not a different guardrail)."""
    import onnxruntime
    from tokenizers import Tokenizer

    # The SHA-256 values sit beside the files they check: this catches a truncated or swapped file,
    # not someone who can rewrite the package (they could rewrite the rules too).
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        for path, key in ((model, "model_sha256"), (tokenizer, "tokenizer_sha256")):
            if file_sha256(path) != info[key]:
                raise ModelFileError(
                    f"{path.name} is not the file {meta.name} names (SHA-256 differs): reinstall cosmos3-aws"
                )
        levels, max_length, draft_chars = (
            list(info["levels"]),
            int(info["max_length"]),
            int(info["draft_chars"]),
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"the guardrail's MiniLM model files are missing or unreadable: {exc!r}"
        ) from exc
    if levels != list(LEVELS):
        raise ModelFileError(f"{meta.name} rates levels {levels}, the guardrail knows {list(LEVELS)}")
    if not 8 <= max_length <= 512 or draft_chars < 1:  # BERT's position table holds 512 tokens
        raise ModelFileError(f"{meta.name}: max_length {max_length} must be 8-512 and draft_chars positive")
    options = onnxruntime.SessionOptions()
    # one thread: a single job is milliseconds, and the evaluator runs one process per core
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    words = Tokenizer.from_file(str(tokenizer))
    words.enable_truncation(max_length, strategy="longest_first")
    words.no_padding()
    return TransformerModel(session=session, tokenizer=words, meta=info)


_LOADING = threading.Lock()


@lru_cache(maxsize=1)
def _loaded() -> TransformerModel:
    return load()


def default_model() -> TransformerModel:
    """The shipped model, loaded once per process (threads asking at once wait for the one load)."""
    with _LOADING:
        return _loaded()
