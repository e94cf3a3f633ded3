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
``Alternatives.exact`` says whether they hold all of the probability. When they do not, the
rest still counts where the nucleus is cut: top_p is a share of the whole vocabulary's
probability. What the rest weighs after temperature is known at temperature 1 only; at
others ``unlisted_weight`` bounds it (no unlisted token is more likely than the least likely
listed one), and ``reshape`` cuts as if the rest were in tokens that likely, saying whether
the cut and so the distribution are exact however the rest is spread (``Reshaped.exact``).
"""

from __future__ import annotations

import math
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


def unlisted_weight(rest: float, floor: float, temperature: float,
                    unlisted: int | None = None) -> tuple[float, float]:
    """Step 3 for the tokens a response did not list: two ends for the log of their weight
    after ``temperature``, ``log(sum(p ** (1 / temperature)))``, on the scale where a listed
    token weighs ``p ** (1 / temperature)``. ``rest`` is their total probability, ``floor``
    the log-probability none of them exceeds, ``unlisted`` how many there are (None:
    unknown). First end: the rest in tokens as likely as ``floor``; second: spread evenly
    over ``unlisted`` tokens (infinitely many when unknown). Whatever the spread, the weight
    lies between the two, which are the same at temperature 1: ``log(rest)``."""
    if rest <= 0 or unlisted == 0:
        return -math.inf, -math.inf
    power, log_rest = 1 / temperature, math.log(rest)
    if power == 1:
        return log_rest, log_rest
    concentrated = log_rest + (power - 1) * min(floor, log_rest)
    count = math.inf if unlisted is None else math.log(unlisted)
    return concentrated, (1 - power) * count + power * log_rest


def nucleus(probabilities: np.ndarray, top_p: float, rest: float = 0.0) -> np.ndarray:
    """Step 4: a mask of the smallest most-likely set whose probability reaches ``top_p``
    (always at least the most likely token; every token at top_p 1). ``rest`` is what the
    tokens missing from ``probabilities`` weigh on the same scale: top_p is a share of the
    whole, so when the tokens here cannot reach it, all of them are kept."""
    if top_p >= 1.0:
        return np.ones(probabilities.size, dtype=bool)
    order = np.argsort(-probabilities, kind="stable")
    cumulative = np.cumsum(probabilities[order]) / (probabilities.sum() + rest)
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
    ``logprobs``, most likely first, and the index of the token that was chosen. No token
    left out is more likely than ``floor`` (a log-probability; 0: no bound), and the model
    has ``vocabulary`` tokens, where known."""

    texts: tuple[str, ...]
    logprobs: np.ndarray
    chosen: int | None = None
    floor: float = 0.0
    vocabulary: int | None = None

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
                    top: Sequence[tuple[str, float]],
                    vocabulary: int | None = None) -> Alternatives:
    """The alternatives of one position, the chosen token among them even when the server
    did not list it (a ``top_logprobs`` smaller than its rank): the tokens left out are no
    more likely than the least likely of ``top``."""
    pairs = dict(top)
    floor = min(pairs.values(), default=0.0)
    if chosen not in pairs and chosen_logprob is not None:
        pairs[chosen] = chosen_logprob
    ranked = sorted(pairs.items(), key=lambda pair: -pair[1])
    texts = tuple(text for text, _ in ranked)
    logprobs = np.array([value for _, value in ranked], dtype=np.float64)
    return Alternatives(texts, logprobs, texts.index(chosen) if chosen in texts else None,
                        floor, vocabulary)


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
    are not among the known tokens; ``unknown_moved``: a bias or penalty moves tokens not
    known. ``exact``: the distribution is what the sampler draws from however the
    probability of the tokens not known is spread (none of them moved, the nucleus lies
    within the known tokens, and the same at both ends of ``unlisted_weight``)."""

    alternatives: Alternatives
    settings: Settings
    before: np.ndarray
    after: np.ndarray
    kept: np.ndarray
    distribution: np.ndarray
    moved: np.ndarray
    unmatched_bias: tuple[str, ...]
    unknown_moved: bool
    exact: bool

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
    counts = counts or {}
    by_index = {index: counts.get(text, 0) for index, text in enumerate(alternatives.texts)}
    adjusted = apply_penalties(apply_bias(alternatives.logprobs, bias), by_index,
                               presence=settings.presence_penalty,
                               frequency=settings.frequency_penalty)
    before = scale_by_temperature(alternatives.logprobs, settings.temperature)
    after = scale_by_temperature(adjusted, settings.temperature)
    # The tokens not known move too when the sliders bias or penalise one of them.
    penalised = settings.presence_penalty or settings.frequency_penalty
    unknown_moved = any(settings.bias[text] for text in unmatched) or (penalised and any(
        count > 0 and alternatives.index(text) is None for text, count in counts.items()))
    kept, exact = _cut(alternatives, adjusted, after, settings)
    return Reshaped(alternatives, settings, before, after, kept,
                    sampling_distribution(after, kept),
                    ~np.isclose(adjusted, alternatives.logprobs, rtol=0, atol=1e-12),
                    tuple(unmatched), unknown_moved, exact and not unknown_moved)


def _cut(alternatives: Alternatives, adjusted: np.ndarray, after: np.ndarray,
         settings: Settings) -> tuple[np.ndarray, bool]:
    """The nucleus, with the tokens not known weighed as if as likely as the least likely
    known one, and whether it is the same at both ends of ``unlisted_weight``."""
    rest = 1.0 - alternatives.known_mass
    if settings.temperature == 0:  # the most likely known token beats every unknown one
        return nucleus(after, settings.top_p), bool(adjusted.max() > alternatives.floor)
    vocabulary = alternatives.vocabulary
    unlisted = max(vocabulary - len(alternatives.texts), 0) if vocabulary else None
    scaled = adjusted / settings.temperature
    top = scaled.max()
    listed = np.exp(scaled - top).sum()

    def ends(rest: float) -> tuple[float, float]:
        return unlisted_weight(rest, alternatives.floor, settings.temperature, unlisted)

    def share(weight: float) -> float:  # relative to the known tokens' weight
        with np.errstate(over="ignore"):
            return float(np.exp(weight - top) / listed)

    # The reported log-probabilities are rounded: the rest is known to EXACT_TOLERANCE only.
    least = share(min(ends(rest - EXACT_TOLERANCE)))
    most = share(max(ends(rest + EXACT_TOLERANCE)))
    kept = nucleus(after, settings.top_p, share(ends(rest)[0]))
    inside = most == 0 or (settings.top_p < 1 and 1 / (1 + most) >= settings.top_p)
    same = (nucleus(after, settings.top_p, least) == nucleus(after, settings.top_p, most)).all()
    return kept, inside and bool(same)

