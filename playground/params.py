"""Sampling and request parameters as data.

One table drives the widgets, the validation before sending, the code export and the help
texts. Defaults are the API's own: a widget starts at the default, and a parameter is only
sent when the user moved it away from the default (see ``runner.build_request``).

The help texts are meant to be right where many tutorials are wrong: top_p is nucleus
sampling over 0-1 (not a second temperature), n is the number of choices returned (not a
sampling knob), and a penalty of 0 means no penalty at all.

Each parameter also names the model families that accept it (``FAMILIES``): OpenAI's
reasoning models refuse the sampling parameters while they reason and want
``max_completion_tokens`` instead of ``max_tokens``; ``playground.capabilities`` applies
this to a connection's model. ``python -m playground.params_reference`` writes the README's
parameter reference from this table.

A parameter's range can depend on the chosen model (``ModelLimits``), for the widgets and
``validate`` alike (``for_model``). The output limits (max_tokens, max_completion_tokens)
are ``bounded_by_model``: their ranges here are a ceiling, narrowed to the model's limit
where it is known (its context length, or the most it may write). The number of
alternatives per position (Completions' logprobs, Chat's top_logprobs) has a
``local_maximum``: the local server returns up to 100, where OpenAI stops at 5 and 20, so
that the distribution view sees most of the probability at every position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from playground import structured

Endpoint = Literal["completions", "chat"]
ValueType = Literal["float", "int", "bool", "text", "stop", "logit_bias", "choice",
                    "response_format"]

BOTH: frozenset[str] = frozenset({"completions", "chat"})
COMPLETIONS: frozenset[str] = frozenset({"completions"})
CHAT: frozenset[str] = frozenset({"chat"})

MAX_STOP_SEQUENCES = 4
MAX_LOGIT_BIAS_ENTRIES = 300
LOCAL_ALTERNATIVES = 100

FAMILIES: dict[str, str] = {
    "classic": "models that do not reason: gpt-4.1, gpt-4o, the local models and most "
               "compatible servers' models",
    "reasoning": "reasoning models while they reason: the o-series, gpt-5, and gpt-5.1 and "
                 "later at a reasoning effort above \"none\"",
    "effort_none": "reasoning models at reasoning effort \"none\" (gpt-5.1 and later "
                   "default to it)",
}
ALL_FAMILIES: frozenset[str] = frozenset(FAMILIES)
NOT_REASONING: frozenset[str] = frozenset({"classic", "effort_none"})
REASONING_MODELS: frozenset[str] = frozenset({"reasoning", "effort_none"})
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
VERBOSITIES = ("low", "medium", "high")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ParamSpec:
    """One request parameter: its type, allowed range or ``choices``, API default, help
    text, the endpoints and model ``families`` that accept it, and the parameter that
    replaces it where a family refuses it (``replaced_by``).

    ``local_maximum`` is the larger maximum the local server takes, an extension of the
    API (see ``ModelLimits``)."""

    name: str
    label: str
    value_type: ValueType
    help: str
    endpoints: frozenset[str] = BOTH
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    families: frozenset[str] = ALL_FAMILIES
    choices: tuple[str, ...] = ()
    replaced_by: str | None = None
    bounded_by_model: bool = False
    local_maximum: float | None = None
    range_words: str | None = None  # the range in words, where the numbers say too little

    def range_text(self) -> str:
        if self.range_words:
            return self.range_words
        if self.minimum is not None and self.maximum is not None:
            local = (f" ({_fmt(self.local_maximum)} on the local server)"
                     if self.local_maximum is not None else "")
            return f"{_fmt(self.minimum)} to {_fmt(self.maximum)}{local}"
        if self.minimum is not None:
            return f"at least {_fmt(self.minimum)}"
        if self.choices:
            return ", ".join(f'"{choice}"' for choice in self.choices)
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
        "when unset, may use whatever context is left. Reasoning models refuse it: they "
        "take max_completion_tokens.",
        default=None, minimum=1, maximum=131072, step=1,
        families=frozenset({"classic"}), replaced_by="max_completion_tokens",
        bounded_by_model=True,
    ),
    ParamSpec(
        "max_completion_tokens", "Max completion tokens", "int",
        "Today's name for max_tokens on chat: the most tokens the model may generate for "
        "each choice, its hidden reasoning tokens included, so a reasoning model given too "
        "few may spend them all thinking and answer nothing. Reasoning models only take "
        "this one; older compatible servers may only know max_tokens.",
        endpoints=CHAT, default=None, minimum=1, maximum=131072, step=1,
        bounded_by_model=True,
    ),
    ParamSpec(
        "reasoning_effort", "Reasoning effort", "choice",
        "How much a reasoning model thinks before it answers: more effort, better answers "
        "to hard questions, more (billed) reasoning tokens and a longer wait. Unset, the "
        "model's default: medium for the o-series and gpt-5, none for gpt-5.1 and later. "
        "At \"none\" a reasoning model also takes temperature, top_p, the penalties and "
        "logprobs. Models that do not reason refuse it.",
        endpoints=CHAT, default=None, choices=REASONING_EFFORTS, families=REASONING_MODELS,
    ),
    ParamSpec(
        "verbosity", "Verbosity", "choice",
        "How long and detailed the visible answer is, low to high (the API's default is "
        "medium); it does not change the reasoning. The gpt-5 family takes it; the "
        "o-series and models that do not reason refuse it.",
        endpoints=CHAT, default=None, choices=VERBOSITIES, families=REASONING_MODELS,
    ),
    ParamSpec(
        "response_format", "Response format", "response_format",
        "text (the default); JSON mode ({\"type\": \"json_object\"}: some valid JSON object, "
        "and the messages must mention JSON); or a JSON schema ({\"type\": \"json_schema\", "
        "\"json_schema\": {\"name\", \"schema\", \"strict\": true}}): with strict, the reply "
        "always conforms to the schema.",
        endpoints=CHAT, default=None,
    ),
    ParamSpec(
        "temperature", "Temperature", "float",
        "Scales the logits before sampling, 0 to 2. 0 always picks the most likely token "
        "(greedy, repeatable); 1 samples from the model's own distribution; above 1 makes "
        "unlikely tokens likelier and the text more random. Change this or top_p, "
        "usually not both.",
        default=1.0, minimum=0.0, maximum=2.0, step=0.05,
        families=NOT_REASONING,
    ),
    ParamSpec(
        "top_p", "Top p", "float",
        "Nucleus sampling, 0 to 1: sample only among the most likely tokens whose "
        "probabilities add up to top_p. 1 keeps every token; 0.1 keeps only the top 10% "
        "of probability mass. It is not a second temperature and never goes above 1.",
        default=1.0, minimum=0.0, maximum=1.0, step=0.05,
        families=NOT_REASONING,
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
        families=NOT_REASONING,
    ),
    ParamSpec(
        "frequency_penalty", "Frequency penalty", "float",
        "-2 to 2, 0 means no penalty. Subtracted from a token's logit once for every time "
        "the token already appeared in the output, so frequent tokens are penalised more: "
        "it curbs verbatim repetition.",
        default=0.0, minimum=-2.0, maximum=2.0, step=0.1,
        families=NOT_REASONING,
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
        range_words="0 or more",
    ),
    ParamSpec(
        "logit_bias", "Logit bias", "logit_bias",
        "Map of token id to a bias from -100 to 100 added to that token's logit before "
        "sampling. -100 effectively bans a token, 100 effectively forces it.",
        default=None, minimum=-100, maximum=100, families=NOT_REASONING,
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
        "likely alternatives at each position. The local server takes up to "
        f"{LOCAL_ALTERNATIVES}, for the distribution view.",
        endpoints=COMPLETIONS, default=None, minimum=0, maximum=5, step=1,
        local_maximum=LOCAL_ALTERNATIVES,
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
        endpoints=CHAT, default=False, families=NOT_REASONING,
    ),
    ParamSpec(
        "top_logprobs", "Top log-probabilities", "int",
        "0 to 20: at each position also return this many most likely alternatives. "
        f"Needs logprobs on. The local server takes up to {LOCAL_ALTERNATIVES}, for the "
        "distribution view.",
        endpoints=CHAT, default=None, minimum=0, maximum=20, step=1,
        families=NOT_REASONING, local_maximum=LOCAL_ALTERNATIVES,
    ),
)


@dataclass(frozen=True)
class ModelLimits:
    """Where the chosen model's ranges differ from the declaration: the most tokens one
    request may ask it to write (``tokens``, None when not known), and whether its server
    is the local one (``local_server``), which takes each parameter's ``local_maximum``."""

    tokens: int | None = None
    local_server: bool = False


LOCAL_SERVER = ModelLimits(local_server=True)


def specs_for(endpoint: str, limits: ModelLimits | None = None) -> dict[str, ParamSpec]:
    """The parameters one endpoint accepts, by name, in display order; with ``limits``,
    as they hold for that model (``for_model``). A copy of a table worked out once: every
    request asks for it twice."""
    return dict(_specs_for(endpoint, limits))


@lru_cache(maxsize=64)
def _specs_for(endpoint: str, limits: ModelLimits | None) -> dict[str, ParamSpec]:
    return {spec.name: for_model(spec, limits) for spec in SPECS
            if endpoint in spec.endpoints}


def for_model(spec: ParamSpec, limits: ModelLimits | None) -> ParamSpec:
    """The spec as it holds for a model with these limits (None: not known, the spec as
    declared)."""
    if limits is None or spec.maximum is None:
        return spec
    if spec.bounded_by_model and limits.tokens is not None:
        high = max(int(spec.minimum or 1), min(limits.tokens, int(spec.maximum)))
        return replace(spec, maximum=high,
                       range_words=f"{_fmt(spec.minimum)} to {_fmt(high)} for this model")
    if spec.local_maximum is not None and limits.local_server:
        return replace(spec, maximum=spec.local_maximum, local_maximum=None,
                       range_words=f"{_fmt(spec.minimum)} to {_fmt(spec.local_maximum)} on "
                                   "the local server")
    return spec


def spec(endpoint: str, name: str, limits: ModelLimits | None = None) -> ParamSpec:
    return specs_for(endpoint, limits)[name]


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
        whole = is_number and (isinstance(value, int) or value.is_integer())
        if spec.value_type == "int" and not whole:
            self.fail(spec.name, f"{spec.name} must be a whole number, {spec.range_text()}.")
            return
        if not is_number:
            self.fail(spec.name, f"{spec.name} must be a number, {spec.range_text()}.")
            return
        low, high = spec.minimum, spec.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            within = spec.range_text()
            if high is not None and value > high and _fmt(high) not in within:
                within += f", at most {_fmt(high)}"
            self.fail(spec.name, f"{spec.name} must be {within}; got {_fmt(value)}.")

    def stop(self, value: Any) -> None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) for s in items):
            self.fail("stop", "stop must be a string or a list of strings.")
        elif len(items) > MAX_STOP_SEQUENCES:
            self.fail("stop",
                      f"stop takes at most {MAX_STOP_SEQUENCES} sequences; got {len(items)}.")
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
                self.fail("logit_bias", "logit_bias keys must be token ids "
                                        f"(whole numbers >= 0); got {key!r}.")
            elif (isinstance(bias, bool) or not isinstance(bias, (int, float))
                  or not -100 <= bias <= 100):
                self.fail("logit_bias",
                          f"logit_bias for token {key} must be -100 to 100; got {bias!r}.")


    def response_format(self, value: Any) -> None:
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in RESPONSE_FORMATS:
            self.fail("response_format", 'response_format must be {"type": "text"}, '
                      '{"type": "json_object"} or {"type": "json_schema", "json_schema": {…}}.')
            return
        if kind != "json_schema":
            return
        declared = value.get("json_schema")
        if not isinstance(declared, dict):
            self.fail("response_format", "A json_schema response_format needs json_schema: "
                      '{"name", "schema", "strict"}.')
            return
        name = declared.get("name")
        if not isinstance(name, str) or not SCHEMA_NAME.fullmatch(name):
            self.fail("response_format", "response_format: the schema's name must be 1 to 64 "
                      f"letters, digits, _ or -; got {name!r}.")
        if not isinstance(declared.get("strict", False), bool):
            self.fail("response_format", "response_format: strict must be true or false.")
        for problem in structured.schema_problems(declared.get("schema"),
                                                  strict=declared.get("strict") is True):
            self.fail("response_format", f"response_format: {problem}")


def is_token_id(key: Any) -> bool:
    """A logit_bias key: a whole number >= 0 written in ASCII digits ("²" is not one)."""
    text = str(key)
    return text.isascii() and text.isdigit()


def validate(endpoint: str, values: dict[str, Any],
             limits: ModelLimits | None = None) -> list[FieldError]:
    """Check request parameters against the specs; an empty list means they can be sent.

    Unknown names and ``None`` values are ignored (``None`` means "not set"). With
    ``limits`` (the model's, where known), the ranges are the model's (``for_model``).
    """
    specs = specs_for(endpoint, limits)
    checker = _Checker(endpoint)
    for name, value in values.items():
        spec_ = specs.get(name)
        if spec_ is None or value is None:
            continue
        if spec_.value_type in ("float", "int"):
            checker.number(spec_, value)
        elif spec_.value_type == "bool" and not isinstance(value, bool):
            checker.fail(name, f"{name} must be true or false.")
        elif spec_.value_type == "text" and not isinstance(value, str):
            checker.fail(name, f"{name} must be text.")
        elif spec_.value_type == "stop":
            checker.stop(value)
        elif spec_.value_type == "logit_bias":
            checker.logit_bias(value)
        elif spec_.value_type == "choice" and value not in spec_.choices:
            checker.fail(name, f"{name} must be one of {spec_.range_text()}; got {value!r}.")
        elif spec_.value_type == "response_format":
            checker.response_format(value)
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
