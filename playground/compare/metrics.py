"""Text metrics for comparing outputs: length, diversity, repetition, perplexity, agreement.

Pure functions over strings and numbers; nothing here sends requests. Words are the
whitespace-separated pieces of a text (``str.split()``), kept as they are: case and
punctuation count, so ``"Cat"`` and ``"cat."`` are different words. A metric that has
nothing to measure (no words, no log-probabilities, fewer than two samples) is ``None``,
never a made-up 0.

Definitions:

- **distinct-n** (Li et al., 2016): unique word n-grams / all word n-grams in one text.
  1.0 means no n-gram occurs twice; lower means more reuse.
- **repetition rate** (seq-rep-n of Welleck et al., 2019, with n = 4 by default): the share
  of a text's word n-grams that repeat an n-gram seen earlier in the same text, that is
  ``1 - distinct-n``. ``"a b c d a b c d"`` has five 4-grams, and only the last
  (``a b c d`` again) repeats one: 1/5 = 0.2.
  Degenerate loops ("the the the ...") approach 1; fluent prose stays near 0.
- **mean log-probability**: the mean of the sampled tokens' natural-log probabilities;
  **perplexity** is ``exp(-mean log-probability)``: 1 for a model that was certain of
  every token, higher when it was surprised by its own sampling.
- **agreement** among the samples of one setting: the share of sample pairs that are
  identical, and the mean pairwise similarity (``difflib.SequenceMatcher.ratio`` on the
  characters, 1.0 for identical texts, 0.0 for texts with nothing in common).
- **divergence** of a text from a baseline text: the first token where they part, with the
  probability each text's model gave its own token there when log-probabilities came back.
  Without tokens from the server, the texts are cut into words (each with the spaces before
  it) instead.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

REPETITION_N = 4


def words(text: str) -> list[str]:
    return text.split()


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    if n < 1:
        raise ValueError("n must be at least 1")
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


@dataclass(frozen=True)
class Length:
    chars: int
    words: int
    tokens: int | None = None


def length(text: str, tokens: int | None = None) -> Length:
    """Characters, words and (when the server reported them) tokens of a text."""
    return Length(len(text), len(words(text)), tokens)


def distinct_n(text: str, n: int) -> float | None:
    """Unique word n-grams / all word n-grams; ``None`` when the text has no n-gram."""
    grams = ngrams(words(text), n)
    return len(set(grams)) / len(grams) if grams else None


def distinct_1(text: str) -> float | None:
    return distinct_n(text, 1)


def distinct_2(text: str) -> float | None:
    return distinct_n(text, 2)


def repetition_rate(text: str, n: int = REPETITION_N) -> float | None:
    """Share of word n-grams that repeat an earlier n-gram of the same text (seq-rep-n)."""
    share = distinct_n(text, n)
    return None if share is None else 1.0 - share


def mean_logprob(logprobs: Iterable[float | None] | None) -> float | None:
    """Mean of the known token log-probabilities (``None`` entries, e.g. an echoed first
    prompt token, are skipped); ``None`` when there are none."""
    if logprobs is None:
        return None
    known = [float(v) for v in logprobs if v is not None and math.isfinite(float(v))]
    return sum(known) / len(known) if known else None


def perplexity(logprobs: Iterable[float | None] | None) -> float | None:
    """``exp(-mean log-probability)``; ``None`` without log-probabilities."""
    mean = mean_logprob(logprobs)
    return None if mean is None else math.exp(-mean)


def similarity(a: str, b: str) -> float:
    """``difflib.SequenceMatcher`` ratio over characters (no junk heuristic)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass(frozen=True)
class Agreement:
    identical_share: float | None
    mean_similarity: float | None
    pairs: int


def agreement(texts: Sequence[str]) -> Agreement:
    """How alike the samples of one setting are, over all unordered pairs."""
    pairs = list(itertools.combinations(texts, 2))
    if not pairs:
        return Agreement(None, None, 0)
    identical = sum(1 for a, b in pairs if a == b)
    total = sum(1.0 if a == b else similarity(a, b) for a, b in pairs)
    return Agreement(identical / len(pairs), total / len(pairs), len(pairs))


def token_logprobs(logprobs: Any) -> list[float | None] | None:
    """The sampled tokens' log-probabilities from a choice's ``logprobs`` field.

    Reads both wire formats: completions (``{"token_logprobs": [...]}``) and chat
    (``{"content": [{"logprob": ...}, ...]}``). ``None`` when the field holds none.
    """
    if not isinstance(logprobs, dict):
        return None
    if isinstance(logprobs.get("token_logprobs"), list):
        return list(logprobs["token_logprobs"])
    content = logprobs.get("content")
    if isinstance(content, list):
        return [item.get("logprob") if isinstance(item, dict) else None for item in content]
    return None


def token_texts(logprobs: Any) -> list[str] | None:
    """The sampled tokens' text from a choice's ``logprobs`` field, in either wire format."""
    if not isinstance(logprobs, dict):
        return None
    if isinstance(logprobs.get("tokens"), list):
        return [str(token) for token in logprobs["tokens"]]
    content = logprobs.get("content")
    if isinstance(content, list):
        return [str(item.get("token", "")) if isinstance(item, dict) else "" for item in content]
    return None


_WORD = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True)
class Divergence:
    """Where a text first parts from a baseline text.

    ``this`` and ``base`` are the two pieces at that point (None where a text has ended);
    ``this_probability`` and ``base_probability`` what each text's model gave its own piece
    (None without log-probabilities); ``unit`` is "token" or "word".
    """

    position: int
    prefix: str
    this: str | None
    base: str | None
    this_probability: float | None
    base_probability: float | None
    unit: str


def divergence(this: str, base: str, *, this_tokens: Sequence[str] | None = None,
               base_tokens: Sequence[str] | None = None,
               this_logprobs: Sequence[float | None] | None = None,
               base_logprobs: Sequence[float | None] | None = None) -> Divergence | None:
    """The first point where ``this`` parts from ``base``; None for the same text.

    Tokens are used when both texts come with them and spell the texts out; otherwise words.
    """
    if this == base:
        return None
    tokenised = (this_tokens is not None and base_tokens is not None
                 and "".join(this_tokens) == this and "".join(base_tokens) == base)
    if not tokenised:
        this_tokens, base_tokens = _WORD.findall(this), _WORD.findall(base)
        this_logprobs = base_logprobs = None
    position = next((i for i, (a, b) in enumerate(zip(this_tokens, base_tokens)) if a != b),
                    min(len(this_tokens), len(base_tokens)))
    return Divergence(position, "".join(base_tokens[:position]),
                      _at(this_tokens, position), _at(base_tokens, position),
                      _probability(this_logprobs, position), _probability(base_logprobs, position),
                      "token" if tokenised else "word")


def _at(pieces: Sequence[str], position: int) -> str | None:
    return pieces[position] if position < len(pieces) else None


def _probability(logprobs: Sequence[float | None] | None, position: int) -> float | None:
    if logprobs is None or position >= len(logprobs) or logprobs[position] is None:
        return None
    return math.exp(float(logprobs[position]))


@dataclass(frozen=True)
class TextMetrics:
    """Every per-text metric, as one flat record (for a table row)."""

    chars: int
    words: int
    tokens: int | None
    distinct_1: float | None
    distinct_2: float | None
    repetition: float | None
    mean_logprob: float | None
    perplexity: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_metrics(text: str, *, tokens: int | None = None,
                 logprobs: Iterable[float | None] | None = None) -> TextMetrics:
    logprob_list = None if logprobs is None else list(logprobs)
    size = length(text, tokens)
    return TextMetrics(
        chars=size.chars, words=size.words, tokens=size.tokens,
        distinct_1=distinct_1(text), distinct_2=distinct_2(text),
        repetition=repetition_rate(text),
        mean_logprob=mean_logprob(logprob_list), perplexity=perplexity(logprob_list),
    )
