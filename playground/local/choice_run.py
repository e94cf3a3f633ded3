"""One choice's token loop, one token at a time, for whoever evaluates the tokens.

A choice samples a token from the logits it is given, reports it (text released past the
stop sequences, its log-probabilities), and names the token to evaluate next. Who
evaluates it does not matter here: the one-request path calls llama.cpp for this choice
alone, the batcher evaluates the next tokens of every running choice in one batch. Both
feed the logits back through ``step``, so a choice makes the same decisions either way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from playground.local import sampling
from playground.local.text import TextAssembler

if TYPE_CHECKING:
    from playground.local.grammar import Grammar


@dataclass
class Step:
    """One generated (or echoed) token with what the request may report about it."""

    token: int
    piece: bytes
    offset: int = 0  # where its text starts in the choice's text
    logprob: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)
    sampled_from: list[tuple[int, float]] | None = None  # debug_distribution: what was drawn


@dataclass
class ChoiceOutput:
    index: int
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    finish_reason: str = "length"
    generated: int = 0

    def mean_logprob(self) -> float:
        values = [s.logprob for s in self.steps if s.logprob is not None]
        return sum(values) / len(values) if values else float("-inf")


@dataclass
class Delta:
    """Text released for a choice while generating, with its tokens' steps."""

    index: int
    text: str
    steps: list[Step]


Event = Delta | ChoiceOutput


@dataclass(frozen=True)
class Generation:
    """What to generate after a prompt (already tokenised)."""

    settings: sampling.SamplingSettings
    max_tokens: int
    stops: list[str] = field(default_factory=list)
    seed: int | None = None
    n: int = 1
    first_index: int = 0
    top_logprobs: int | None = None  # None: no log-probabilities asked for
    score: bool = False  # compute chosen-token logprobs even when not reported (best_of)
    grammar: Grammar | None = None  # each choice follows it (response_format)
    debug_distribution: bool = False  # each step reports the distribution it was drawn from
    stream: bool = True  # False: its reader wants each choice's output only, not its deltas
    # Set when nobody waits for the answer any more: generation stops before the next token.
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)


class Tokens(Protocol):
    """What a choice needs to know about the model's tokens."""

    def piece(self, token: int) -> bytes: ...

    def is_end(self, token: int) -> bool: ...


class Next(NamedTuple):
    """The token a choice needs evaluated, and the position it goes at."""

    token: int
    position: int


class ChoiceRun:
    """Choice ``offset`` of a request, its prompt already evaluated up to ``position``.

    ``step(logits)`` takes the logits for the next position and returns the events it
    released and the token to evaluate next, or None once the choice has ended (its last
    event is then its ``ChoiceOutput``). ``context_limit`` is the number of positions the
    evaluator holds for this choice.
    """

    def __init__(self, tokens: Tokens, request: Generation, offset: int,
                 position: int, context_limit: int):
        self.request = request
        self._position = position
        self._tokens = tokens
        self._context_limit = context_limit
        self.output = ChoiceOutput(request.first_index + offset)
        self._rng = sampling.rng_for(request.seed, offset)
        self._penalties = sampling.Penalties()
        self._assembler = TextAssembler(request.stops)
        self._want_logprobs = request.top_logprobs is not None or request.score
        self._released_steps = 0
        self._constraint = request.grammar.constraint() if request.grammar else None

    def step(self, logits: np.ndarray) -> tuple[list[Event], Next | None]:
        request, output = self.request, self.output
        if request.cancelled.is_set() or output.generated >= request.max_tokens:
            return self._finish(), None
        adjusted = sampling.adjust(logits, request.settings, self._penalties)
        if self._constraint is not None:
            adjusted = self._constraint.mask(adjusted)
        drawn = sampling.choose(adjusted, request.settings, self._rng)
        output.generated += 1
        if self._tokens.is_end(drawn.token):
            output.finish_reason = "stop"
            return self._finish(), None
        events = self._report(drawn, adjusted)
        if self._assembler.stopped:
            output.finish_reason = "stop"
        if (self._assembler.stopped or output.generated >= request.max_tokens
                or self._position + 1 >= self._context_limit):
            return events + self._finish(), None
        self._position += 1
        return events, Next(drawn.token, self._position - 1)

    def _report(self, drawn: sampling.Draw, adjusted: np.ndarray) -> list[Event]:
        output, assembler, token = self.output, self._assembler, drawn.token
        step = Step(token, self._tokens.piece(token), offset=len(assembler.text))
        if self._want_logprobs:
            logprobs = sampling.log_softmax(adjusted)
            step.logprob = float(logprobs[token])
            step.top = sampling.top_alternatives(logprobs, self.request.top_logprobs or 0)
        if self.request.debug_distribution:
            step.sampled_from = drawn.distribution()
        output.steps.append(step)
        if self._constraint is not None:
            self._constraint.accept(token)
        self._penalties.add(token)
        text = assembler.feed(step.piece)
        if not text:
            return []
        ready = _released(output.steps, self._released_steps, assembler.released)
        delta = Delta(output.index, text, output.steps[self._released_steps:ready])
        self._released_steps = ready
        return [delta]

    def _finish(self) -> list[Event]:
        output = self.output
        if self._constraint is not None:
            self._constraint.close()
        tail = self._assembler.finish()
        output.text = self._assembler.text
        output.steps = [s for s in output.steps if s.offset < len(output.text)]
        events: list[Event] = []
        if tail or self._released_steps < len(output.steps):
            events.append(Delta(output.index, tail, output.steps[self._released_steps:]))
        return [*events, output]


def _released(steps: list[Step], start: int, released_chars: int) -> int:
    """Index past the last step whose text starts inside the released text."""
    end = start
    while end < len(steps) and steps[end].offset < released_chars:
        end += 1
    return end
