"""What the sampling parameters do to the distribution of the next token, one step each.

The steps follow OpenAI's documented definitions, in the order the local server's sampler
(``playground.local.sampling``) applies them; ``tests/unit/test_distribution.py`` proves the
two equal on full-vocabulary logits:

1. ``apply_bias``: ``logit_bias`` is added to the named tokens' logits;
2. ``apply_penalties``: ``logit[j] -= count[j] * frequency + (count[j] > 0) * presence``,
   over the tokens generated before this position;
3. ``scale_by_temperature``: softmax of ``logits / temperature`` (temperature 0: all the
   probability on the most likely token);
4. ``nucleus``: the smallest set of most likely tokens whose probability reaches ``top_p``
   (at least one), renormalised by ``sampling_distribution``;
5. ``sample`` draws from it the way the server does; ``entropy`` measures it.

The functions take a vector of logits, or of log-probabilities, which differ from logits
by a constant that none of the steps sees. A response's log-probabilities are reported
after steps 1 and 2 and before temperature, so ``reshape`` applies further bias and
penalties on top of those of the request, and temperature and top_p in place of its own.

A response usually gives the top few alternatives at a position, not the whole vocabulary.
``Alternatives.exact`` says whether they hold all of the probability; when they do not, the
steps renormalise over the known tokens only, which is an approximation: how the rest of
the mass would move under temperature or top_p is unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Known alternatives missing less probability than this are taken as the whole vocabulary.
EXACT_TOLERANCE = 1e-6


def apply_bias(logits: np.ndarray, bias: Mapping[int, float]) -> np.ndarray:
    """Step 1: ``bias`` (token index -> value) added to a copy of ``logits``."""
    adjusted = np.array(logits, dtype=np.float64, copy=True)
    for index, value in bias.items():
        adjusted[index] += value
    return adjusted


def apply_penalties(logits: np.ndarray, counts: Mapping[int, int], *, presence: float,
                    frequency: float) -> np.ndarray:
    """Step 2: each token seen ``count`` times before loses ``count * frequency + presence``."""
    adjusted = np.array(logits, dtype=np.float64, copy=True)
    for index, count in counts.items():
        if count > 0:
            adjusted[index] -= count * frequency + presence
    return adjusted


def scale_by_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Step 3: the probabilities of ``softmax(logits / temperature)``; greedy at 0."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        greedy = np.zeros(logits.size)
        greedy[int(np.argmax(logits))] = 1.0
        return greedy
    scaled = logits / temperature
    probabilities = np.exp(scaled - scaled.max())
    return probabilities / probabilities.sum()


def nucleus(probabilities: np.ndarray, top_p: float) -> np.ndarray:
    """Step 4: a mask of the smallest most-likely set whose probability reaches ``top_p``
    (always at least the most likely token; every token at top_p 1)."""
    if top_p >= 1.0:
        return np.ones(probabilities.size, dtype=bool)
    order = np.argsort(-probabilities, kind="stable")
    cumulative = np.cumsum(probabilities[order])
    keep = min(int(np.searchsorted(cumulative, top_p, side="left")) + 1, order.size)
    mask = np.zeros(probabilities.size, dtype=bool)
    mask[order[:keep]] = True
    return mask


def sampling_distribution(probabilities: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The probabilities the sampler draws from: those inside the nucleus, renormalised."""
    inside = np.where(kept, probabilities, 0.0)
    return inside / inside.sum()


def entropy(probabilities: np.ndarray) -> float:
    """Shannon entropy in bits: 0 when one token is certain, log2(k) for k equal tokens."""
    positive = probabilities[probabilities > 0]
    return float(-(positive * np.log2(positive)).sum())


def sample(probabilities: np.ndarray, top_p: float, draws: int,
           rng: np.random.Generator) -> np.ndarray:
    """``draws`` token indices drawn as the server draws them from temperature-scaled
    ``probabilities``: from the whole vector at top_p 1, else from the nucleus, most likely
    first, so that the same generator gives the same tokens."""
    if top_p >= 1.0:
        return rng.choice(probabilities.size, size=draws, p=probabilities)
    order = np.argsort(-probabilities, kind="stable")
    order = order[nucleus(probabilities, top_p)[order]]
    kept = probabilities[order]
    return order[rng.choice(kept.size, size=draws, p=kept / kept.sum())]


@dataclass(frozen=True)
class Alternatives:
    """The tokens known at one position: ``texts`` with their reported natural-log
    ``logprobs``, most likely first, and the index of the token that was chosen."""

    texts: tuple[str, ...]
    logprobs: np.ndarray
    chosen: int | None = None

    @property
    def known_mass(self) -> float:
        """How much of the probability the known tokens hold, as reported."""
        return min(float(np.exp(self.logprobs).sum()), 1.0)

    @property
    def exact(self) -> bool:
        """Whether the known tokens are, for all purposes, the whole vocabulary."""
        return 1.0 - self.known_mass <= EXACT_TOLERANCE

    @property
    def surprising(self) -> bool:
        """Whether the chosen token was less likely than another one."""
        return self.chosen is not None and self.logprobs[self.chosen] < self.logprobs.max()

    def index(self, text: str) -> int | None:
        return self.texts.index(text) if text in self.texts else None


def alternatives_at(chosen: str, chosen_logprob: float | None,
                    top: Sequence[tuple[str, float]]) -> Alternatives:
    """The alternatives of one position, the chosen token among them even when the server
    did not list it (a ``top_logprobs`` smaller than its rank)."""
    pairs = dict(top)
    if chosen not in pairs and chosen_logprob is not None:
        pairs[chosen] = chosen_logprob
    ranked = sorted(pairs.items(), key=lambda pair: -pair[1])
    texts = tuple(text for text, _ in ranked)
    logprobs = np.array([value for _, value in ranked], dtype=np.float64)
    return Alternatives(texts, logprobs, texts.index(chosen) if chosen in texts else None)


def counts_before(generated: Sequence[str], position: int) -> Counter[str]:
    """How often each token text was generated before ``position`` (an index into
    ``generated``): what the penalties count."""
    return Counter(generated[:max(position, 0)])


@dataclass(frozen=True)
class Settings:
    """What the sliders set: temperature and top_p replace the request's; the penalties
    and ``bias`` (token text -> value) add to those already in the reported probabilities."""

    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    bias: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Reshaped:
    """One position under some settings. ``before`` and ``after`` are the temperature-scaled
    probabilities without and with the bias and penalties, ``kept`` the nucleus,
    ``distribution`` what the sampler draws from; ``unmatched_bias`` the biased texts that
    are not among the known tokens."""

    alternatives: Alternatives
    settings: Settings
    before: np.ndarray
    after: np.ndarray
    kept: np.ndarray
    distribution: np.ndarray
    moved: np.ndarray
    unmatched_bias: tuple[str, ...]

    @property
    def entropy(self) -> float:
        return entropy(self.distribution)

    @property
    def inside_top_p(self) -> int:
        return int(self.kept.sum())

    @property
    def chosen_probability(self) -> float | None:
        chosen = self.alternatives.chosen
        return None if chosen is None else float(self.distribution[chosen])


def reshape(alternatives: Alternatives, settings: Settings,
            counts: Mapping[str, int] | None = None) -> Reshaped:
    """Every step over one position's known tokens; ``counts`` are the token texts
    generated before it."""
    bias: dict[int, float] = {}
    unmatched = []
    for text, value in settings.bias.items():
        index = alternatives.index(text)
        if index is None:
            unmatched.append(text)
        elif value:
            bias[index] = bias.get(index, 0.0) + value
    by_index = {index: (counts or {}).get(text, 0) for index, text in enumerate(alternatives.texts)}
    adjusted = apply_penalties(apply_bias(alternatives.logprobs, bias), by_index,
                               presence=settings.presence_penalty,
                               frequency=settings.frequency_penalty)
    before = scale_by_temperature(alternatives.logprobs, settings.temperature)
    after = scale_by_temperature(adjusted, settings.temperature)
    kept = nucleus(after, settings.top_p)
    return Reshaped(alternatives, settings, before, after, kept,
                    sampling_distribution(after, kept),
                    ~np.isclose(adjusted, alternatives.logprobs, rtol=0, atol=1e-12),
                    tuple(unmatched))

