"""Check this model: what a model accepts, found out with the fewest and smallest requests.

One request per doubtful parameter, each asking for a single token (``max_completion_tokens``
or ``max_tokens`` 1), so a check costs a few dozen tokens at most; ``estimate`` says how
many before anything is sent. The two limits are tried first, and the other requests use
the one the model took. What the server refuses (a 400 naming the parameter, or the 404 a
chat model gets on ``/v1/completions``) and what it accepts are remembered in the
``RefusalStore``, and ``playground.capabilities`` applies them from then on.

A failure that says nothing about a parameter (the key refused, the server down, a rate
limit) ends the check: ``CheckFailed`` carries it with what was found before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from playground import errors, runner
from playground.catalog import Price, lookup
from playground.connection import Connection
from playground.refusals import COMPLETIONS_ENDPOINT, RefusalStore, from_error
from playground.tokens import estimate_tokens

MESSAGE = 'Answer with the JSON {"ok": true}.'  # JSON mode wants "JSON" in the messages
PROMPT = "OK"
MESSAGE_OVERHEAD = 8  # the chat template's tokens around one message, about
LIMITS = ("max_completion_tokens", "max_tokens")

Verdict = Literal["accepted", "refused", "unclear"]
Send = Callable[[Connection, str, dict[str, Any]], runner.RunResult]


@dataclass(frozen=True)
class Probe:
    """One request: the parameter it tries and the values it sends besides the limit."""

    param: str
    values: dict[str, Any] = field(default_factory=dict)
    endpoint: str = "chat"


PROBES: tuple[Probe, ...] = (
    Probe("max_completion_tokens"),
    Probe("max_tokens"),
    Probe("reasoning_effort", {"reasoning_effort": "low"}),
    Probe("verbosity", {"verbosity": "low"}),
    Probe("temperature", {"temperature": 0.5}),
    Probe("top_p", {"top_p": 0.5}),
    Probe("presence_penalty", {"presence_penalty": 0.5}),
    Probe("frequency_penalty", {"frequency_penalty": 0.5}),
    Probe("logprobs", {"logprobs": True}),
    Probe("response_format", {"response_format": {"type": "json_object"}}),
    Probe(COMPLETIONS_ENDPOINT, endpoint="completions"),
)


@dataclass(frozen=True)
class Finding:
    param: str
    verdict: Verdict
    message: str = ""


@dataclass(frozen=True)
class CheckEstimate:
    requests: int
    tokens: int
    cost: float | None  # US dollars, None when the model has no price

    def summary(self, model: str) -> str:
        cost = (f"at most ${self.cost:.6f}" if self.cost is not None
                else "cost unknown (no price for it)")
        return (f"Checking {model} sends {self.requests} requests of one token each: about "
                f"{self.tokens:,} tokens in all, {cost}.")


class CheckFailed(errors.PlaygroundError):
    """The check stopped on a failure that says nothing about a parameter."""

    def __init__(self, error: errors.PlaygroundError, findings: list[Finding]):
        super().__init__(f"The check stopped after {len(findings)} of {len(PROBES)} requests: "
                         f"{error.message}", hint=error.hint)
        self.error, self.findings = error, findings


def estimate(model: str, prices: dict[str, Price]) -> CheckEstimate:
    prompt = max(estimate_tokens(MESSAGE), estimate_tokens(PROMPT)) + MESSAGE_OVERHEAD
    count = len(PROBES)
    price = lookup(prices, model)
    cost = None if price is None else count * (
        prompt * price.input_per_million + price.output_per_million) / 1_000_000
    return CheckEstimate(count, count * (prompt + 1), cost)


def check(conn: Connection, model: str, store: RefusalStore,
          send: Send = runner.run) -> Iterator[Finding]:
    """Send the probes one after another, remembering each finding; yields them as they come.

    Raises ``CheckFailed`` on a failure that is no refusal.
    """
    findings: list[Finding] = []
    limit = LIMITS[0]
    for probe in PROBES:
        if probe.param in LIMITS:
            name = probe.param
        elif probe.endpoint == "completions":
            name = "max_tokens"
        else:
            name = limit
        finding = _probe(conn, model, store, send, probe, name)
        if isinstance(finding, errors.PlaygroundError):
            raise CheckFailed(finding, findings)
        if probe.param == LIMITS[0] and finding.verdict != "accepted":
            limit = LIMITS[1]
        findings.append(finding)
        yield finding


def _probe(conn: Connection, model: str, store: RefusalStore, send: Send, probe: Probe,
           limit: str) -> Finding | errors.PlaygroundError:
    values = {**probe.values, limit: 1}
    content = ({"prompt": PROMPT} if probe.endpoint == "completions"
               else {"messages": [{"role": "user", "content": MESSAGE}]})
    request = {"model": model, **content, **values}
    try:
        result = send(conn, probe.endpoint, request)
    except errors.PlaygroundError as exc:
        learned = from_error(probe.endpoint, request, exc)
        if learned is not None:
            store.record(conn, model, learned)
            return Finding(learned.param, "refused", exc.message)
        if isinstance(exc, errors.BadRequest):
            return Finding(probe.param, "unclear", exc.message)
        return exc
    if result.error is not None:
        return result.error
    store.accept(conn, model, probe.param)
    return Finding(probe.param, "accepted")
