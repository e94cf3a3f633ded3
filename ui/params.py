"""Parameter widgets drawn from the specs in ``playground.params``.

Each widget starts at the API's default, so an untouched widget sends nothing. Number
fields with open or wide ranges are plain number inputs without bounds: a value out of
range reaches ``params.validate``, whose message is shown under the field, instead of being
silently clamped by the widget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground.params import FieldError, ParamSpec, specs_for
from ui import state
from ui.text import plain

# Shown first; the rest go in a "More parameters" expander.
COMMON = ("max_tokens", "temperature", "top_p", "n", "stream", "stop")

STOP_HELP = " One per line; write \\n for a line break and \\t for a tab."


@dataclass
class ParamInputs:
    """What the user set, and a place under each widget for its error.

    A widget left at the API's default gives None ("not set"), like a parameter never
    sent: otherwise best_of's default of 1 would fail "best_of >= n" as soon as n is 2.
    """

    values: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, Any] = field(default_factory=dict)

    def show_errors(self, errors: list[FieldError], fallback=st) -> None:
        """Each error under its field; errors of fields not drawn here go to ``fallback``."""
        for error in errors:
            self.slots.get(error.field, fallback).error(plain(error.message))


def widget_key(endpoint: str, name: str) -> str:
    return f"params.{endpoint}.{name}"


def render(endpoint: str, columns: int = 2) -> ParamInputs:
    """Draw one widget per parameter of the endpoint; returns their values."""
    inputs = ParamInputs()
    specs = specs_for(endpoint)
    common = [spec for name, spec in specs.items() if name in COMMON]
    more = [spec for name, spec in specs.items() if name not in COMMON]
    _grid(endpoint, common, inputs, columns)
    with st.expander("More parameters"):
        _grid(endpoint, more, inputs, columns)
    return inputs


def _grid(endpoint: str, specs: list[ParamSpec], inputs: ParamInputs, columns: int) -> None:
    cells = st.columns(columns)
    for position, spec in enumerate(specs):
        with cells[position % columns]:
            value = _widget(endpoint, spec)
            inputs.values[spec.name] = None if value == spec.default else value
            inputs.slots[spec.name] = st.container()


def _widget(endpoint: str, spec: ParamSpec) -> Any:
    key = widget_key(endpoint, spec.name)
    common = {"key": key, "help": spec.help, "persist_state": state.PERSIST}
    if spec.kind == "float":
        return st.slider(spec.label, min_value=float(spec.minimum), max_value=float(spec.maximum),
                         value=float(spec.default), step=spec.step, **common)
    if spec.kind == "int":
        placeholder = f"not set ({spec.range_text()})"
        return st.number_input(spec.label, value=spec.default, step=1,
                               placeholder=placeholder, **common)
    if spec.kind == "bool":
        return st.checkbox(spec.label, value=bool(spec.default), **common)
    if spec.kind == "stop":
        return parse_stop(st.text_area(spec.label, height=68, **{**common, "help": spec.help + STOP_HELP}))
    if spec.kind == "logit_bias":
        return parse_logit_bias(st.text_input(spec.label, placeholder='{"50256": -100}', **common))
    return st.text_input(spec.label, **common) or None


def parse_stop(text: str | None) -> list[str] | None:
    """Stop sequences, one per line, with \\n and \\t written as escapes; None when empty."""
    lines = [line for line in (text or "").splitlines() if line]
    sequences = [line.replace("\\n", "\n").replace("\\t", "\t") for line in lines]
    return sequences or None


def parse_logit_bias(text: str | None) -> Any:
    """A JSON object of token id to bias; text that is not JSON is passed on as text, so
    that validation names the field instead of the page guessing."""
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
