"""The Compare page's fixed settings: every parameter that is not an axis, the same in
every cell.

Drawn from the parameter specs like the other pages' widgets, under keys of their own, and
left out: ``n`` (samples per cell replaces it), ``seed`` (the fixed seed option replaces it),
and every parameter chosen as an axis. A widget at the API's default sends nothing.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from playground.params import ParamSpec, specs_for
from ui import state

NOT_FIXED = frozenset({"n", "seed"})
# A grid multiplies every token it asks for, so the page starts max_tokens at a small bound
# instead of "unbounded"; the field shows it and the user may clear it.
START_MAX_TOKENS = 64


def render(endpoint: str, axis_names: set[str]) -> dict[str, Any]:
    """Draw the widgets; returns the values set away from the API's defaults."""
    shown = [param for name, param in specs_for(endpoint).items()
             if name not in NOT_FIXED and name not in axis_names]
    values = {}
    with st.expander("Fixed settings: the same in every cell"):
        columns = st.columns(3)
        for position, param in enumerate(shown):
            with columns[position % 3]:
                value = _widget(endpoint, param)
            if value is not None and value != param.default:
                values[param.name] = value
    return values


def _widget(endpoint: str, param: ParamSpec):
    common = {"key": f"compare.fixed.{endpoint}.{param.name}", "help": param.help,
              "persist_state": state.PERSIST}
    if param.kind == "float":
        return st.slider(param.label, min_value=float(param.minimum),
                         max_value=float(param.maximum), value=float(param.default),
                         step=param.step, **common)
    if param.kind == "int":
        start = START_MAX_TOKENS if param.name == "max_tokens" else param.default
        return st.number_input(param.label, value=start, step=1,
                               placeholder=f"not set ({param.range_text()})", **common)
    if param.kind == "bool":
        return st.checkbox(param.label, value=bool(param.default), **common)
    if param.kind == "stop":
        return parse_stop(st.text_area(param.label, height=68, **common,
                                       placeholder="one per line; \\n is a line break"))
    if param.kind == "logit_bias":
        return parse_logit_bias(st.text_input(param.label, **common,
                                              placeholder='{"50256": -100}'))
    return st.text_input(param.label, **common) or None


def parse_stop(text: str | None) -> list[str] | None:
    """Stop sequences, one per line, with \\n and \\t written as escapes; None when empty."""
    sequences = [line.replace("\\n", "\n").replace("\\t", "\t")
                 for line in (text or "").splitlines() if line]
    return sequences or None


def parse_logit_bias(text: str | None):
    """A JSON object of token id to bias. Text that is not JSON is passed on as it is, so
    that validation names the field rather than the page guessing."""
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: "[[[[…" nested deep
        return text
