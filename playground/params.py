"""Sampling and request parameters as data.

One table drives the widgets, the validation before sending, the code export and the help
texts. Defaults are the API's own: a widget starts at the default, and a parameter is only
sent when the user moved it away from the default (see ``requests.build_request``).

The help texts are meant to be right where many tutorials are wrong: top_p is nucleus
sampling over 0-1 (not a second temperature), n is the number of choices returned (not a
sampling knob), and a penalty of 0 means no penalty at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Endpoint = Literal["completions", "chat"]
Kind = Literal["float", "int", "bool", "text", "stop", "logit_bias"]

BOTH: frozenset[str] = frozenset({"completions", "chat"})
COMPLETIONS: frozenset[str] = frozenset({"completions"})
CHAT: frozenset[str] = frozenset({"chat"})

MAX_STOP_SEQUENCES = 4
MAX_LOGIT_BIAS_ENTRIES = 300


@dataclass(frozen=True)
class ParamSpec:
    """One request parameter: its type, allowed range, API default and help text."""

    name: str
    label: str
    kind: Kind
    help: str
    endpoints: frozenset[str] = BOTH
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    def range_text(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"{_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.minimum is not None:
            return f"at least {_fmt(self.minimum)}"
        return ""


def _fmt(number: float) -> str:
    if isinstance(number, int):
        return str(number) if number.bit_length() <= 64 else "a number too large to use"
    return str(int(number)) if number.is_integer() else str(number)


SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "max_tokens", "Max tokens", "int",
        "The most tokens the model may generate for each choice. The prompt's tokens plus "
        "this must fit in the model's context length. Completions default to 16; chat, "
        "when unset, may use whatever context is left.",
        default=None, minimum=1, maximum=131072, step=1,
    ),
    ParamSpec(
        "temperature", "Temperature", "float",
        "Scales the logits before sampling, 0 to 2. 0 always picks the most likely token "
        "(greedy, repeatable); 1 samples from the model's own distribution; above 1 makes "
        "unlikely tokens likelier and the text more random. Change this or top_p, "
        "usually not both.",
        default=1.0, minimum=0.0, maximum=2.0, step=0.05,
    ),
    ParamSpec(
        "top_p", "Top p", "float",
        "Nucleus sampling, 0 to 1: sample only among the most likely tokens whose "
        "probabilities add up to top_p. 1 keeps every token; 0.1 keeps only the top 10% "
        "of probability mass. It is not a second temperature and never goes above 1.",
        default=1.0, minimum=0.0, maximum=1.0, step=0.05,
    ),
    ParamSpec(
        "n", "Choices (n)", "int",
        "How many separate choices to generate for the prompt. It does not change how "
        "each one is sampled; every choice costs its own completion tokens.",
        default=1, minimum=1, maximum=8, step=1,
    ),
    ParamSpec(
        "presence_penalty", "Presence penalty", "float",
        "-2 to 2, 0 means no penalty. Subtracted once from a token's logit as soon as the "
        "token has appeared in the output, nudging the model towards new topics. Negative "
        "values encourage repetition.",
        default=0.0, minimum=-2.0, maximum=2.0, step=0.1,
    ),
    ParamSpec(
        "frequency_penalty", "Frequency penalty", "float",
        "-2 to 2, 0 means no penalty. Subtracted from a token's logit once for every time "
        "the token already appeared in the output, so frequent tokens are penalised more: "
        "it curbs verbatim repetition.",
        default=0.0, minimum=-2.0, maximum=2.0, step=0.1,
    ),
    ParamSpec(
        "stop", "Stop sequences", "stop",
        f"Up to {MAX_STOP_SEQUENCES} strings; generation ends just before the first one "
        "appears, and the stop text itself is not returned.",
        default=None,
    ),
    ParamSpec(
        "seed", "Seed", "int",
        "Ask for repeatable sampling: the same seed with the same settings and prompt "
        "should give the same text. Best effort at hosted APIs; exact on the local models.",
        default=None, minimum=0, maximum=2**63 - 1, step=1,
    ),
    ParamSpec(
        "logit_bias", "Logit bias", "logit_bias",
        "Map of token id to a bias from -100 to 100 added to that token's logit before "
        "sampling. -100 effectively bans a token, 100 effectively forces it.",
        default=None, minimum=-100, maximum=100,
    ),
    ParamSpec(
        "user", "User id", "text",
        "An identifier for the end user, passed through for abuse monitoring. It does not "
        "change the output.",
        default=None,
    ),
    ParamSpec(
        "stream", "Stream", "bool",
        "Send tokens as they are generated instead of all at once at the end.",
        default=False,
    ),
    ParamSpec(
        "suffix", "Suffix", "text",
        "Text that comes after the completion (fill in the middle). Only models trained "
        "for it accept this.",
        endpoints=COMPLETIONS, default=None,
    ),
    ParamSpec(
        "echo", "Echo prompt", "bool",
        "Return the prompt in front of the completion (with its token log-probabilities "
        "when logprobs is set).",
        endpoints=COMPLETIONS, default=False,
    ),
    ParamSpec(
        "logprobs", "Log-probabilities", "int",
        "0 to 5: return the log-probability of each generated token and of this many most "
        "likely alternatives at each position.",
        endpoints=COMPLETIONS, default=None, minimum=0, maximum=5, step=1,
    ),
    ParamSpec(
        "best_of", "Best of", "int",
        "Generate this many candidates on the server and return the n with the highest "
        "mean log-probability. Must be at least n; every candidate costs tokens.",
        endpoints=COMPLETIONS, default=1, minimum=1, maximum=20, step=1,
    ),
    ParamSpec(
        "logprobs", "Log-probabilities", "bool",
        "Return the log-probability of each generated token.",
        endpoints=CHAT, default=False,
    ),
    ParamSpec(
        "top_logprobs", "Top log-probabilities", "int",
        "0 to 20: at each position also return this many most likely alternatives. "
        "Needs logprobs on.",
        endpoints=CHAT, default=None, minimum=0, maximum=20, step=1,
    ),
)


def specs_for(endpoint: str) -> dict[str, ParamSpec]:
    """The parameters one endpoint accepts, by name, in display order."""
    return {spec.name: spec for spec in SPECS if endpoint in spec.endpoints}


def spec(endpoint: str, name: str) -> ParamSpec:
    return specs_for(endpoint)[name]


@dataclass(frozen=True)
class FieldError:
    """A value the user gave that cannot be sent, with a message naming the field."""

    field: str
    message: str


@dataclass
class _Checker:
    endpoint: str
    errors: list[FieldError] = field(default_factory=list)

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def number(self, spec: ParamSpec, value: Any) -> None:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and isinstance(value, float) and not math.isfinite(value):
            is_number = False
        if spec.kind == "int" and not (is_number and (isinstance(value, int) or value.is_integer())):
            self.fail(spec.name, f"{spec.name} must be a whole number, {spec.range_text()}.")
            return
        if not is_number:
            self.fail(spec.name, f"{spec.name} must be a number, {spec.range_text()}.")
            return
        low, high = spec.minimum, spec.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(
                spec.name,
                f"{spec.name} must be {spec.range_text()}; got {_fmt(value)}.",
            )

    def stop(self, value: Any) -> None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) for s in items):
            self.fail("stop", "stop must be a string or a list of strings.")
        elif len(items) > MAX_STOP_SEQUENCES:
            self.fail("stop", f"stop takes at most {MAX_STOP_SEQUENCES} sequences; got {len(items)}.")
        elif any(s == "" for s in items):
            self.fail("stop", "stop sequences must not be empty strings.")

    def logit_bias(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.fail("logit_bias", "logit_bias must map token ids to numbers from -100 to 100.")
            return
        if len(value) > MAX_LOGIT_BIAS_ENTRIES:
            self.fail("logit_bias", f"logit_bias takes at most {MAX_LOGIT_BIAS_ENTRIES} entries.")
        for key, bias in value.items():
            if not is_token_id(key):
                self.fail("logit_bias", f"logit_bias keys must be token ids (whole numbers >= 0); got {key!r}.")
            elif isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
                self.fail("logit_bias", f"logit_bias for token {key} must be -100 to 100; got {bias!r}.")


def is_token_id(key: Any) -> bool:
    """A logit_bias key: a whole number >= 0 written in ASCII digits ("²" is not one)."""
    text = str(key)
    return text.isascii() and text.isdigit()


def validate(endpoint: str, values: dict[str, Any]) -> list[FieldError]:
    """Check request parameters against the specs; an empty list means they can be sent.

    Unknown names and ``None`` values are ignored (``None`` means "not set").
    """
    specs = specs_for(endpoint)
    checker = _Checker(endpoint)
    for name, value in values.items():
        spec_ = specs.get(name)
        if spec_ is None or value is None:
            continue
        if spec_.kind in ("float", "int"):
            checker.number(spec_, value)
        elif spec_.kind == "bool" and not isinstance(value, bool):
            checker.fail(name, f"{name} must be true or false.")
        elif spec_.kind == "text" and not isinstance(value, str):
            checker.fail(name, f"{name} must be text.")
        elif spec_.kind == "stop":
            checker.stop(value)
        elif spec_.kind == "logit_bias":
            checker.logit_bias(value)
    _check_combinations(endpoint, values, checker)
    return checker.errors


def _check_combinations(endpoint: str, values: dict[str, Any], checker: _Checker) -> None:
    failed = {error.field for error in checker.errors}
    n, best_of = values.get("n"), values.get("best_of")
    # best_of at its default (1) is never sent, so it cannot conflict with n.
    if endpoint == "completions" and best_of not in (None, 1) and not {"n", "best_of"} & failed:
        if best_of < (n or 1):
            checker.fail("best_of", f"best_of must be at least n ({n}); got {best_of}.")
        if best_of > 1 and values.get("stream"):
            checker.fail("best_of", "best_of above 1 cannot be combined with stream.")
    if endpoint == "chat" and values.get("top_logprobs") is not None and not values.get("logprobs"):
        checker.fail("top_logprobs", "top_logprobs needs logprobs switched on.")
