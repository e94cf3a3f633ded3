"""Parameter widgets drawn from the specs in ``playground.params``.

Each widget starts at the API's default, so an untouched widget sends nothing. Number
fields with open or wide ranges are plain number inputs without bounds: a value out of
range reaches ``params.validate``, whose message is shown under the field, instead of being
silently clamped by the widget.

Widget values live in session state under ``widget_key``; ``set_values`` writes them (a
preset being loaded) before the widgets are drawn. Defaults are put into session state
rather than passed as ``value=``, so that both can happen without Streamlit's warning.

Given what the model accepts (``playground.capabilities``), a control the model refuses is
disabled, with the reason and the way forward under it, and its value is not sent (a value
another parameter replaces, max_tokens on a reasoning model, is sent under that name).
"Send anyway" enables them all and sends what they hold, as typed.

The ranges are the model's where they depend on it (``Capabilities.limits``): the output
limits from the context length the model list gives, or OpenAI's documented limits; the
local server's larger number of alternatives. Shown in the field's placeholder, and
checked before sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground import runner, tokens
from playground.capabilities import Capabilities, Refusal
from playground.connection import Connection
from playground.errors import InvalidParameters
from playground.params import MAX_STOP_SEQUENCES, FieldError, ModelLimits, ParamSpec, specs_for
from ui.common import models, response_format, state, token_view
from ui.common.text import plain

# Shown first; the rest go in a "More parameters" expander.
COMMON = ("max_tokens", "max_completion_tokens", "reasoning_effort", "verbosity",
          "temperature", "top_p", "n", "stream", "stop")
OWN_PANEL = ("response_format",)  # drawn in an expander of its own

STOP_CHOICES = ("\\n", "\\n\\n", ".", "###")  # as shown: escapes for line breaks
STOP_HELP = (" Pick or type up to 4 (Enter adds one); write \\n for a line break and \\t "
             "for a tab.")
LOGIT_BIAS_HELP = (" One per line: a token id or the token's text, then the bias, e.g. "
                   "`hello -100`. Quote text to keep its spaces: `\" hello\" -100`. Text is "
                   "converted to ids with the endpoint's tokenizer, when it has one.")


@dataclass
class ParamInputs:
    """What the user set, and a place under each widget for its error.

    A widget left at the API's default gives None ("not set"), like a parameter never
    sent: otherwise best_of's default of 1 would fail "best_of >= n" as soon as n is 2.
    ``values["logit_bias"]`` is the API's map when every entry is a token id; token text
    needs the endpoint's tokenizer, which ``build_request`` calls.
    """

    values: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, Any] = field(default_factory=dict)
    endpoint: str = "completions"
    logit_bias: tokens.ParsedBias = field(default_factory=tokens.ParsedBias)
    accepts: Capabilities | None = None
    refused: dict[str, Refusal] = field(default_factory=dict)
    send_anyway: bool = False
    problems: list[FieldError] = field(default_factory=list)
    limits: ModelLimits | None = None

    def show_errors(self, errors: list[FieldError], fallback=st) -> None:
        """Each error under its field; errors of fields not drawn here go to ``fallback``."""
        for error in errors:
            self.slots.get(error.field, fallback).error(plain(error.message))

    def build_request(self, conn: Connection, model: str | None, **content) -> dict[str, Any]:
        """``runner.build_request`` with token text converted; ``InvalidParameters`` names
        every field at fault at once."""
        values, problems = self._resolve(conn, model)
        problems = self.problems + problems
        accepts = None if self.send_anyway else self.accepts
        try:
            request = runner.build_request(self.endpoint, model, values, accepts=accepts,
                                           limits=self.limits, **content)
        except InvalidParameters as exc:
            named = {problem.field for problem in problems}
            raise InvalidParameters(
                problems + [e for e in exc.errors if e.field not in named]) from None
        if problems:
            raise InvalidParameters(problems)
        return request

    @property
    def specs(self) -> dict[str, ParamSpec]:
        return specs_for(self.endpoint, self.limits)

    def _resolve(self, conn: Connection, model: str | None) -> tuple[dict, list[FieldError]]:
        values = dict(self.values)
        parsed = self.logit_bias
        if not parsed.needs_tokenizer and not parsed.problems:
            return values, []
        values["logit_bias"] = None  # its problems are reported here, not by validate
        if parsed.problems:
            return values, _bias_errors(parsed.problems)
        if not model:
            return values, _bias_errors(["Choose a model first: token text is converted "
                                         "with its tokenizer."])
        resolved = tokens.resolve_logit_bias(parsed, tokens.tokenizer(conn, model))
        if resolved.problems:
            return values, _bias_errors(resolved.problems)
        values["logit_bias"] = resolved.bias or None
        if "logit_bias" in self.slots:
            self.slots["logit_bias"].caption(plain("Token ids: " + "; ".join(
                f"{token_view.quoted(text)} → {', '.join(map(str, ids))}"
                for text, ids in resolved.texts.items())))
        return values, []


def _bias_errors(problems) -> list[FieldError]:
    return [FieldError("logit_bias", f"logit_bias: {problem}") for problem in problems]


def widget_key(endpoint: str, name: str) -> str:
    return f"params.{endpoint}.{name}"


def render(endpoint: str, columns: int = 2, accepts: Capabilities | None = None) -> ParamInputs:
    """Draw one widget per parameter of the endpoint; returns their values. With
    ``accepts``, the controls the model refuses are disabled and say why."""
    listed = models.context_length()
    inputs = ParamInputs(endpoint=endpoint, accepts=accepts,
                         limits=accepts.limits(listed) if accepts else ModelLimits(listed))
    specs = inputs.specs
    if accepts is not None:
        effort = st.session_state.get(widget_key(endpoint, "reasoning_effort"))
        inputs.refused = accepts.refusals(specs, {"reasoning_effort": effort})
    if inputs.refused:
        inputs.send_anyway = st.checkbox(
            "Send anyway", key=widget_key(endpoint, "send_anyway"),
            help="Enable the controls this model refuses and send what they hold, as typed: "
                 "the server may have changed, and this is a playground.")
    common = [spec for name, spec in specs.items() if name in COMMON]
    more = [spec for name, spec in specs.items() if name not in COMMON + OWN_PANEL]
    _grid(endpoint, common, inputs, columns)
    with st.expander("More parameters"):
        _grid(endpoint, more, inputs, columns)
    for name in OWN_PANEL:
        if name in specs:
            with st.expander(specs[name].label):
                _own_panel(endpoint, specs[name], inputs)
    return inputs


def _own_panel(endpoint: str, spec: ParamSpec, inputs: ParamInputs) -> None:
    disabled = spec.name in inputs.refused and not inputs.send_anyway
    value, problems = response_format.render(endpoint, spec, disabled=disabled)
    inputs.values[spec.name] = None if disabled else value
    inputs.problems += problems
    inputs.slots[spec.name] = st.container()
    _refusal_note(spec.name, inputs)


def _refusal_note(name: str, inputs: ParamInputs) -> None:
    refused = inputs.refused.get(name)
    if refused is None:
        return
    if inputs.send_anyway:
        st.caption(plain(f"Sent anyway: {refused.reason}"))
    else:
        st.caption(plain(f"{refused.reason} {refused.way_forward}"))


def set_values(endpoint: str, values: dict[str, Any]) -> None:
    """Put every parameter's widget at the given value, the others at their defaults.

    Call it before the widgets are drawn (from a callback, or above them on the page).
    """
    for name, spec in specs_for(endpoint).items():
        value = values.get(name)
        if name in OWN_PANEL:
            response_format.set_value(endpoint, value)
            continue
        st.session_state[widget_key(endpoint, name)] = (
            widget_default(spec) if value is None else to_widget(spec, value))


def widget_default(spec: ParamSpec) -> Any:
    """The widget state that stands for "not set"."""
    if spec.value_type == "stop":
        return []
    if spec.value_type in ("text", "logit_bias"):
        return ""
    if spec.value_type == "float":
        return float(spec.default)
    if spec.value_type == "bool":
        return bool(spec.default)
    return spec.default


def to_widget(spec: ParamSpec, value: Any) -> Any:
    """A request value as its widget holds it."""
    if spec.value_type == "stop":
        return [escape_stop(s) for s in ([value] if isinstance(value, str) else value)]
    if spec.value_type == "logit_bias":
        return tokens.format_logit_bias(value)
    if spec.value_type == "float":
        return float(value)
    return value


def _grid(endpoint: str, specs: list[ParamSpec], inputs: ParamInputs, columns: int) -> None:
    cells = st.columns(columns)
    for position, spec in enumerate(specs):
        with cells[position % columns]:
            disabled = spec.name in inputs.refused and not inputs.send_anyway
            value = _widget(endpoint, spec, inputs, disabled)
            kept = not disabled or spec.replaced_by is not None
            inputs.values[spec.name] = None if value == spec.default or not kept else value
            inputs.slots[spec.name] = st.container()
            _refusal_note(spec.name, inputs)


def _widget(endpoint: str, spec: ParamSpec, inputs: ParamInputs, disabled: bool) -> Any:
    key = widget_key(endpoint, spec.name)
    st.session_state.setdefault(key, widget_default(spec))
    common = {"key": key, "help": spec.help, "persist_state": state.PERSIST,
              "disabled": disabled}
    if spec.value_type == "choice":
        offered = (inputs.accepts.choices(spec.name) if inputs.accepts and not inputs.send_anyway
                   else spec.choices)
        if st.session_state[key] not in offered:
            st.session_state[key] = None
        return st.selectbox(spec.label, [None, *offered], format_func=_choice_text, **common)
    if spec.value_type == "float":
        return st.slider(spec.label, min_value=float(spec.minimum), max_value=float(spec.maximum),
                         step=spec.step, **common)
    if spec.value_type == "int":
        placeholder = f"not set ({spec.range_text()})"
        return st.number_input(spec.label, value=None, step=1, placeholder=placeholder, **common)
    if spec.value_type == "bool":
        return st.checkbox(spec.label, **common)
    if spec.value_type == "stop":
        chosen = st.session_state[key]
        options = [*STOP_CHOICES, *(s for s in chosen if s not in STOP_CHOICES)]
        return parse_stop(st.multiselect(
            spec.label, options, accept_new_options=True, max_selections=MAX_STOP_SEQUENCES,
            placeholder="none", select_all=False, **{**common, "help": spec.help + STOP_HELP}))
    if spec.value_type == "logit_bias":
        text = st.text_area(spec.label, height=68,
                            placeholder=tokens.example_logit_bias(models.vocab_size()),
                            **{**common, "help": spec.help + LOGIT_BIAS_HELP})
        inputs.logit_bias = tokens.parse_logit_bias(text)
        return logit_bias_value(inputs.logit_bias, text)
    return st.text_input(spec.label, **common) or None


def _choice_text(choice: str | None) -> str:
    return "the model's default" if choice is None else choice


def escape_stop(sequence: str) -> str:
    return sequence.replace("\n", "\\n").replace("\t", "\\t")


def parse_stop(value: str | list[str] | None) -> list[str] | None:
    """Stop sequences from the widget (a list, or text with one per line), with \\n and \\t
    written as escapes; None when there are none."""
    items = (value or "").splitlines() if isinstance(value, str) or value is None else value
    sequences = [item.replace("\\n", "\n").replace("\\t", "\t") for item in items if item]
    return sequences or None


def logit_bias_value(parsed: tokens.ParsedBias, text: str | None) -> Any:
    """The API's map when it needs no tokenizer; otherwise the text as typed, so that
    ``params.validate`` names the field if the value is used as it is."""
    if parsed.needs_tokenizer or parsed.problems:
        return text
    return parsed.by_id() or None
