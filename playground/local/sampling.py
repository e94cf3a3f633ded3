"""Token sampling with OpenAI's semantics, on a row of raw logits.

llama.cpp's own sampler chain adds top_k 40, min_p 0.05 and a repeat penalty over the last
64 tokens, none of which exist at OpenAI. Here only the documented steps apply, in order:

1. ``logit_bias`` is added to the named tokens;
2. penalties over every token generated so far in this choice:
   ``logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty``;
3. log-probabilities are reported from this adjusted distribution (before temperature);
4. temperature 0 picks the most likely token; otherwise logits are divided by the
   temperature and the token is drawn from the smallest set of most likely tokens whose
   probability adds up to ``top_p`` (nucleus sampling).

Randomness comes from a generator seeded per request and per choice, so a seeded request
gives the same text whatever ran before it. A draw takes one ``rng.random()`` and inverts
the cumulative distribution of the kept tokens, most likely first, exactly as
``rng.choice(kept, p=...)`` does (``playground.distribution`` relies on that). ``choose``
returns that cumulative distribution with the token, so a request can be shown what its
token was drawn from (the server's ``debug_distribution`` extension) at no cost otherwise.

The sampler runs once per token, so nothing is sorted over the whole vocabulary: one
exponential pass gives the probabilities, a threshold picks the few tokens that can be in
the nucleus, and only those are sorted. Log-probabilities cost one more pass, and only when
they are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

# The nucleus is looked for among tokens at least this fraction as likely as the best one,
# then among ten thousand times less likely ones, and so on until the mass is reached.
_FIRST_THRESHOLD = 1e-4
_THRESHOLD_STEP = 1e-4


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)


def rng_for(seed: int | None, choice_index: int) -> np.random.Generator:
    """A generator for one choice: reproducible when seeded, fresh entropy otherwise."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([seed % 2**64, choice_index])


class Penalties:
    """Counts of the tokens generated so far in one choice."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def add(self, token: int) -> None:
        self.counts[token] = self.counts.get(token, 0) + 1

    def apply(self, logits: np.ndarray, settings: SamplingSettings) -> None:
        if not self.counts or (settings.frequency_penalty == 0 and settings.presence_penalty == 0):
            return
        tokens = np.fromiter(self.counts.keys(), dtype=np.int64, count=len(self.counts))
        counts = np.fromiter(self.counts.values(), dtype=np.float32, count=len(self.counts))
        logits[tokens] -= counts * settings.frequency_penalty + settings.presence_penalty


def adjust(logits: np.ndarray, settings: SamplingSettings, penalties: Penalties) -> np.ndarray:
    """Steps 1 and 2 on a float32 copy of the raw logits."""
    adjusted = np.array(logits, dtype=np.float32, copy=True)
    if settings.logit_bias:
        ids = np.fromiter(settings.logit_bias.keys(), dtype=np.int64)
        adjusted[ids] += np.fromiter(settings.logit_bias.values(), dtype=np.float32)
    penalties.apply(adjusted, settings)
    return adjusted


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def log_normaliser(logits: np.ndarray) -> float:
    """``log(sum(exp(logits)))``: a token's log-probability is its logit minus this."""
    top = float(logits.max())
    return top + float(np.log(np.exp(logits - top).sum(dtype=np.float64)))


def top_alternatives(logprobs: np.ndarray, k: int, shift: float = 0.0) -> list[tuple[int, float]]:
    """The k most likely tokens with their log-probabilities (``logprobs - shift``), best first."""
    if k <= 0:
        return []
    k = min(k, logprobs.size)
    best = np.argpartition(-logprobs, k - 1)[:k] if k < logprobs.size else np.arange(k)
    best = best[np.argsort(-logprobs[best], kind="stable")]
    return [(int(token), float(logprobs[token]) - shift) for token in best
            if logprobs[token] > -np.inf]  # a token ruled out (by a grammar) is no alternative


class Draw(NamedTuple):
    """A drawn ``token`` and the distribution it was drawn from: the normalised
    ``cumulative`` probabilities the draw inverted, over ``candidates`` (token ids; None
    for the whole vocabulary in id order). Both are None at temperature 0."""

    token: int
    candidates: np.ndarray | None = None
    cumulative: np.ndarray | None = None

    def distribution(self) -> list[tuple[int, float]]:
        """The tokens the draw could pick, with their probabilities, most likely first
        (ties by token id). A token whose share of the cumulative sum is zero, which the
        draw can never pick, is left out; at temperature 0: the token, certain."""
        if self.cumulative is None:
            return [(self.token, 1.0)]
        probabilities = np.diff(self.cumulative, prepend=0.0)
        ids = np.arange(probabilities.size) if self.candidates is None else self.candidates
        order = np.argsort(-probabilities, kind="stable")
        return [(int(ids[i]), float(probabilities[i])) for i in order if probabilities[i] > 0]


def choose(adjusted: np.ndarray, settings: SamplingSettings, rng: np.random.Generator) -> Draw:
    """Step 4: the next token, with what it was drawn from."""
    if settings.temperature == 0:
        return Draw(int(np.argmax(adjusted)))
    weights = adjusted / np.float32(settings.temperature)
    weights -= weights.max()
    np.exp(weights, out=weights)
    if settings.top_p >= 1.0:
        cumulative = np.cumsum(weights, dtype=np.float64)
        return Draw(_draw(cumulative, rng), None, cumulative)
    candidates = _nucleus(weights, settings.top_p)
    cumulative = np.cumsum(weights[candidates], dtype=np.float64)
    return Draw(int(candidates[_draw(cumulative, rng)]), candidates, cumulative)


def _draw(cumulative: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to its weight, as ``rng.choice`` draws
    (``cumulative``, the running sum of the weights, is normalised in place)."""
    cumulative /= cumulative[-1]
    return int(cumulative.searchsorted(rng.random(), side="right"))


def _nucleus(weights: np.ndarray, top_p: float) -> np.ndarray:
    """Token ids of the smallest most-likely set with probability >= top_p (at least one),
    most likely first (ties by token id).

    ``weights`` are probabilities up to a common factor. Every token at least as likely as
    a kept one is kept, so the nucleus lies inside any set of tokens above a threshold that
    already holds ``top_p`` of the mass: only such a set is sorted.
    """
    total = float(weights.sum(dtype=np.float64))
    wanted = top_p * total
    threshold = float(weights.max()) * _FIRST_THRESHOLD
    while True:
        head = np.flatnonzero(weights >= threshold)
        if threshold == 0.0 or float(weights[head].sum(dtype=np.float64)) >= wanted:
            break
        threshold = threshold * _THRESHOLD_STEP if threshold > 1e-300 else 0.0
    head = head[np.argsort(-weights[head], kind="stable")]
    cumulative = np.cumsum(weights[head], dtype=np.float64) / total
    keep = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    return head[:min(keep, head.size)]
