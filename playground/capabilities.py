"""What a connection's model accepts, known before anything is sent.

Three sources, the later winning:

1. Built-in profiles of OpenAI's current families, written from OpenAI's documentation
   (checked ``CHECKED``). A model's id names its family whatever the connection, since
   gateways serve OpenAI's models under the same ids (a ``provider/`` prefix is ignored).
2. The local server's models: every classic parameter, no reasoning.
3. What the server refused before, or accepted when the model was checked
   (``playground.refusals``, ``playground.model_check``).

A model without a profile on another server is assumed to take everything until it
refuses something. ``Capabilities.refusal`` says why a parameter would be refused and what
to do instead; the pages disable the control and show both, and still let the user send
anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from playground.connection import Connection
from playground.params import REASONING_MODELS, SPECS, ModelLimits, ParamSpec, specs_for
from playground.refusals import COMPLETIONS_ENDPOINT, UNSUPPORTED_VALUE, Learned, RefusalStore

CHECKED = "2026-11"
OPENAI_DOCS = f"OpenAI's documentation, checked {CHECKED}"


@dataclass(frozen=True)
class Profile:
    """A model family: whether it reasons, its reasoning efforts and default, whether it
    takes verbosity, whether it serves the legacy ``/v1/completions``, its context
    window and most output tokens per request as OpenAI's model pages state them (recorded
    2026-11; a model id's dated snapshots share its family's), and whether it is served by
    the local server, which takes the larger ranges the declaration allows it."""

    family: str
    efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    verbosity: bool = False
    legacy_completions: bool = False
    source: str = OPENAI_DOCS
    context_window: int | None = None
    max_output: int | None = None
    local_server: bool = False

    @property
    def reasoning(self) -> bool:
        return bool(self.efforts)


GPT_5_1 = Profile("gpt-5.1 and later", ("none", "low", "medium", "high"), "none", True,
                  context_window=400_000, max_output=128_000)
GPT_5 = Profile("gpt-5", ("minimal", "low", "medium", "high"), "medium", True,
                context_window=400_000, max_output=128_000)
O_SERIES = Profile("o-series", ("low", "medium", "high"), "medium",
                   context_window=200_000, max_output=100_000)
GPT_4 = Profile("gpt-4.1 and gpt-4o")
GPT_4_1 = Profile(GPT_4.family, context_window=1_047_576, max_output=32_768)
GPT_4O = Profile(GPT_4.family, context_window=128_000, max_output=16_384)
LOCAL = Profile("the local models", legacy_completions=True, source="the local server",
                local_server=True)

PROFILES: tuple[tuple[re.Pattern[str], Profile], ...] = (
    (re.compile(r"gpt-5(\.\d+)?-chat"), Profile("gpt-5 chat (does not reason)",
                                                context_window=128_000, max_output=16_384)),
    (re.compile(r"gpt-5\.\d"), GPT_5_1),
    (re.compile(r"gpt-5"), GPT_5),
    (re.compile(r"o\d"), O_SERIES),
    (re.compile(r"gpt-4\.1"), GPT_4_1),
    (re.compile(r"gpt-4o|chatgpt-4o"), GPT_4O),
    (re.compile(r"gpt-4|gpt-3\.5-turbo"), GPT_4),
)
SPECS_BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in SPECS}


def profile_for(conn: Connection, model: str | None) -> Profile | None:
    if conn.kind == "local":
        return LOCAL
    if not model:
        return None
    model_id = model.rsplit("/", 1)[-1]
    return next((profile for pattern, profile in PROFILES if pattern.match(model_id)), None)


@dataclass(frozen=True)
class Refusal:
    """Why a parameter would be refused, and the way forward."""

    param: str
    reason: str
    way_forward: str
    learned: bool = False


@dataclass
class Capabilities:
    model: str
    profile: Profile | None = None
    learned: list[Learned] = field(default_factory=list)
    accepted: list[Learned] = field(default_factory=list)

    def limits(self, context_length: int | None = None) -> ModelLimits:
        """The model's ranges: the most tokens one request may ask it to write (the context
        length its endpoint lists, ``context_length``, else the profile's most output tokens
        or context window; None when none is known), and whether the local server serves
        it."""
        if self.profile is None:
            return ModelLimits(context_length or None)
        return ModelLimits(
            context_length or self.profile.max_output or self.profile.context_window,
            local_server=self.profile.local_server)

    @property
    def legacy_completions(self) -> bool:
        if any(item.param == COMPLETIONS_ENDPOINT for item in self.learned):
            return False
        if any(item.param == COMPLETIONS_ENDPOINT for item in self.accepted):
            return True
        return self.profile is None or self.profile.legacy_completions

    def completions_reason(self) -> str:
        """Why the model has no ``/v1/completions``, in words."""
        learned = next((i for i in self.learned if i.param == COMPLETIONS_ENDPOINT), None)
        if learned is not None:
            return f"The server said so on {learned.learned_at[:10]}: {learned.message}"
        return (f"OpenAI serves no model on /v1/completions any more (its last one, "
                f"gpt-3.5-turbo-instruct, was shut down on 2026-09-28); {self.model} is a "
                f"chat model ({self.profile.family}, from {self.profile.source}).")

    def effort(self, values: dict[str, Any]) -> str | None:
        """The reasoning effort the request would run at (None: a model that does not reason,
        or one whose default is not known)."""
        chosen = values.get("reasoning_effort")
        if self.profile is None:
            return chosen
        return (chosen or self.profile.default_effort) if self.profile.reasoning else None

    def choices(self, name: str) -> tuple[str, ...]:
        """The values of a choice parameter the model takes."""
        spec = SPECS_BY_NAME[name]
        allowed = spec.choices
        if name == "reasoning_effort" and self.profile is not None and self.profile.reasoning:
            allowed = self.profile.efforts
        refused = {item.value for item in self.learned
                   if item.param == name and item.code == UNSUPPORTED_VALUE}
        return tuple(choice for choice in allowed if choice not in refused)

    def refusal(self, name: str, values: dict[str, Any]) -> Refusal | None:
        """Why ``name`` would be refused with these other values, or None."""
        learned = self._learned(name, values)
        if learned is not None:
            return learned
        if any(item.param == name and item.effort == _effort_key(name, values)
               for item in self.accepted):
            return None
        spec = SPECS_BY_NAME.get(name)
        if self.profile is None or spec is None:
            return None
        mode = self._mode(values)
        if mode not in spec.families:
            return Refusal(name, self._why(spec, mode, values), self._way_forward(spec))
        if name == "verbosity" and not self.profile.verbosity:
            return Refusal(name, f"{self.model} ({self.profile.family}) does not take verbosity.",
                           "Leave it unset; the gpt-5 family takes it.")
        return None

    def refusals(self, names, values: dict[str, Any]) -> dict[str, Refusal]:
        return {name: refused for name in names
                if (refused := self.refusal(name, values)) is not None}

    def _mode(self, values: dict[str, Any]) -> str:
        if not self.profile.reasoning:
            return "classic"
        return "effort_none" if self.effort(values) == "none" else "reasoning"

    def _why(self, spec: ParamSpec, mode: str, values: dict[str, Any]) -> str:
        family = f"{self.model} ({self.profile.family})"
        if spec.replaced_by:
            return (f"{family} refuses {spec.name}: a reasoning model's limit counts its "
                    f"reasoning tokens too, and is called {spec.replaced_by}.")
        if mode == "classic":
            return f"{family} does not reason, so it refuses {spec.name}."
        return (f"{family} refuses {spec.name} while it reasons (at reasoning effort "
                f"\"{self.effort(values)}\").")

    def _way_forward(self, spec: ParamSpec) -> str:
        if spec.replaced_by:
            return (f"Set {SPECS_BY_NAME[spec.replaced_by].label} instead; a value here is "
                    f"sent as {spec.replaced_by}.")
        if spec.families <= REASONING_MODELS:
            return "Leave it unset, or choose a reasoning model (gpt-5, o4-mini)."
        if "none" in self.profile.efforts:
            return 'Set reasoning effort to "none" to use it.'
        return "Leave it at its default, or choose a model that does not reason (gpt-4.1)."

    def _learned(self, name: str, values: dict[str, Any]) -> Refusal | None:
        effort = _effort_key(name, values)
        for item in self.learned:
            if item.param != name or item.effort != effort:
                continue
            spec = SPECS_BY_NAME.get(name)
            if item.code == UNSUPPORTED_VALUE and spec is not None and spec.value_type == "choice":
                continue  # only that value is refused: ``choices`` leaves it out
            return Refusal(name, f"The server refused {name} for {self.model} on "
                                 f"{item.learned_at[:10]}: {item.message}",
                           "Leave it unset, or tick Send anyway to try again.", learned=True)
        return None


def _effort_key(name: str, values: dict[str, Any]) -> str:
    """The effort a finding about ``name`` is kept under (``playground.refusals``): the one
    sent, but none for reasoning effort itself."""
    return "" if name == "reasoning_effort" else values.get("reasoning_effort") or ""


def for_model(conn: Connection, model: str | None,
              store: RefusalStore | None = None) -> Capabilities:
    """Everything known about what ``model`` on ``conn`` accepts."""
    if not model:
        return Capabilities("", profile_for(conn, model))
    store = store or RefusalStore()
    return Capabilities(model, profile_for(conn, model), store.for_model(conn, model),
                        store.accepted(conn, model))


@dataclass(frozen=True)
class Foreseen:
    """A refusal the grid's requests would meet, and in how many of them."""

    model: str
    refusal: Refusal
    requests: int


def foreseen(endpoint: str, requests: Iterable[tuple[str, dict[str, Any]]],
             accepts_for: Callable[[str], Capabilities | None]) -> list[Foreseen]:
    """What the models would refuse of the values the requests set (``(model, values)``
    pairs; ``accepts_for(model)`` None when nothing is known), counted per refusal.

    A value at the API's default is not sent, so it is never refused; nor is one sent
    under another name (max_tokens to a reasoning model); a choice the model does not
    take (reasoning effort "minimal" on an o-series model) is.
    """
    specs = specs_for(endpoint)
    found: dict[tuple[str, str], Foreseen] = {}
    for model, values in requests:
        accepts = accepts_for(model)
        if accepts is None:
            continue
        sent = {name: value for name, value in values.items()
                if name in specs and value is not None and value != specs[name].default}
        refused = accepts.refusals([name for name in sent if not _renamed(specs[name], sent)],
                                   values)
        for name in sent:
            if specs[name].value_type == "choice" and name not in refused \
                    and sent[name] not in accepts.choices(name):
                refused[name] = Refusal(
                    name, f"{model} does not take {name} \"{sent[name]}\".",
                    f"Use one of {', '.join(accepts.choices(name)) or 'none'}.")
        for refusal in refused.values():
            key = (model, refusal.reason)
            earlier = found.get(key)
            found[key] = Foreseen(model, refusal, (earlier.requests if earlier else 0) + 1)
    return list(found.values())


def _renamed(spec: ParamSpec, sent: dict[str, Any]) -> bool:
    return spec.replaced_by is not None and spec.replaced_by not in sent
