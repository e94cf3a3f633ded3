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
gives the same text whatever ran before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Nucleus sampling first looks among this many best tokens, which almost always hold the
# requested mass; it falls back to a full sort only when they do not.
_NUCLEUS_CANDIDATES = 1024


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
    """Steps 1 and 2 on a copy of the raw logits."""
    adjusted = np.array(logits, dtype=np.float32, copy=True)
    if settings.logit_bias:
        ids = np.fromiter(settings.logit_bias.keys(), dtype=np.int64)
        adjusted[ids] += np.fromiter(settings.logit_bias.values(), dtype=np.float32)
    penalties.apply(adjusted, settings)
    return adjusted


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def top_alternatives(logprobs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k most likely tokens with their log-probabilities, best first."""
    if k <= 0:
        return []
    best = np.argpartition(-logprobs, k - 1)[:k]
    best = best[np.argsort(-logprobs[best], kind="stable")]
    return [(int(token), float(logprobs[token])) for token in best]


def choose(adjusted: np.ndarray, settings: SamplingSettings, rng: np.random.Generator) -> int:
    """Step 4: the next token id."""
    if settings.temperature == 0:
        return int(np.argmax(adjusted))
    scaled = adjusted.astype(np.float64) / settings.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if settings.top_p >= 1.0:
        return int(rng.choice(probs.size, p=probs))
    candidates = _nucleus(probs, settings.top_p)
    kept = probs[candidates]
    return int(candidates[rng.choice(kept.size, p=kept / kept.sum())])


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Token ids of the smallest most-likely set with probability >= top_p (at least one)."""
    size = min(_NUCLEUS_CANDIDATES, probs.size)
    head = np.argpartition(-probs, size - 1)[:size] if size < probs.size else np.arange(probs.size)
    head = head[np.argsort(-probs[head], kind="stable")]
    cumulative = np.cumsum(probs[head])
    if cumulative[-1] < top_p and size < probs.size:
        head = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[head])
    keep = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    return head[:min(keep, head.size)]
