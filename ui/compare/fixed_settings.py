"""The Compare page's fixed settings: every parameter that is not an axis, the same in
every cell.

Drawn from the parameter specs like the other pages' widgets, under keys of their own, and
left out: ``n`` (samples per cell replaces it), ``seed`` (the fixed seed option replaces it),
and every parameter chosen as an axis. A widget at the API's default sends nothing.
Widget defaults go into session state before the widgets are drawn (not as ``value=``), so
``set_values`` can fill them from a saved run or the Chat page.

logit_bias is typed as on the Completions page (``playground.tokens``): token ids or token
text, one per line, text converted with the tokenizer of the sidebar's model. Reasoning
effort and verbosity offer every value of the declaration (a grid may span models), and
response_format is the Chat page's control (``ui.common.response_format``) under keys of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground import tokens
from playground.connection import Connection
from playground.params import ParamSpec, specs_for
from ui.common import models, params, response_format, state
from ui.common.text import plain

NOT_FIXED = frozenset({"n", "seed"})
# A grid multiplies every token it asks for, so the page starts max_tokens at a small bound
# instead of "unbounded"; the field shows it and the user may clear it.
START_MAX_TOKENS = 64
TOKEN_IDS = "compare.logit_bias_ids"  # (base URL, model, text) -> ids, asked once a session
RESPONSE_FORMAT = "compare"  # the response_format control's own keys on this page


@dataclass
class Fixed:
    values: dict[str, Any] = field(default_factory=dict)
    readable: bool = True  # False while logit_bias cannot be read (said under the field)


def key(endpoint: str, name: str) -> str:
    return f"compare.fixed.{endpoint}.{name}"


def default(param: ParamSpec) -> Any:
    """A widget's start value: "not set", but for max_tokens."""
    return START_MAX_TOKENS if param.name == "max_tokens" else not_set(param)


def not_set(param: ParamSpec) -> Any:
    """The widget state that sends nothing (stop sequences are typed as text here)."""
    return "" if param.value_type == "stop" else params.widget_default(param)


def set_values(endpoint: str, values: dict[str, Any]) -> None:
    """Put every fixed widget at the given value, the others at "not set" (max_tokens too:
    a saved grid without it had it cleared). Call it before the widgets are drawn."""
    for name, param in specs_for(endpoint).items():
        if name in NOT_FIXED:
            continue
        value = values.get(name)
        if param.value_type == "response_format":
            response_format.set_value(RESPONSE_FORMAT, value)
            continue
        st.session_state[key(endpoint, name)] = (
            not_set(param) if value is None else widget_value(param, value))


def widget_value(param: ParamSpec, value: Any) -> Any:
    """A request value as the Compare widget holds it."""
    if param.value_type == "stop":
        return "\n".join(params.to_widget(param, value))
    return params.to_widget(param, value)


def render(endpoint: str, axis_names: set[str], conn: Connection, model: str | None) -> Fixed:
    """Draw the widgets; returns the values set away from the API's defaults."""
    shown = [param for name, param in specs_for(endpoint).items()
             if name not in NOT_FIXED and name not in axis_names]
    fixed = Fixed()
    with st.expander("Fixed settings: the same in every cell"):
        columns = st.columns(3)
        small = [param for param in shown if param.value_type != "response_format"]
        for position, param in enumerate(small):
            with columns[position % 3]:
                _keep(fixed, param, _widget(endpoint, param, conn, model, fixed))
        for param in shown:
            if param.value_type == "response_format":  # a schema editor needs the whole width
                _keep(fixed, param, _response_format(param, fixed))
    return fixed


def _keep(fixed: Fixed, param: ParamSpec, value: Any) -> None:
    if value is not None and value != param.default:
        fixed.values[param.name] = value


def take_response_format(source: str) -> None:
    """Copy another page's response_format control (``source``: its endpoint) into this
    page's (before the widgets are drawn)."""
    for part in ("kind", "template", "name", "strict", "schema"):
        if response_format.key(source, part) in st.session_state:
            st.session_state[response_format.key(RESPONSE_FORMAT, part)] = \
                st.session_state[response_format.key(source, part)]


def _widget(endpoint: str, param: ParamSpec, conn: Connection, model: str | None,
            fixed: Fixed):
    common = {"key": key(endpoint, param.name), "help": param.help,
              "persist_state": state.PERSIST}
    st.session_state.setdefault(common["key"], default(param))
    if param.value_type == "choice":
        if st.session_state[common["key"]] not in param.choices:
            st.session_state[common["key"]] = None
        return st.selectbox(param.label, [None, *param.choices],
                            format_func=lambda choice: choice or "the model's default", **common)
    if param.value_type == "float":
        return st.slider(param.label, min_value=float(param.minimum),
                         max_value=float(param.maximum), step=param.step, **common)
    if param.value_type == "int":
        return st.number_input(param.label, step=1,
                               placeholder=f"not set ({param.range_text()})", **common)
    if param.value_type == "bool":
        return st.checkbox(param.label, **common)
    if param.value_type == "stop":
        return parse_stop(st.text_area(param.label, height=68, **common,
                                       placeholder="one per line; \\n is a line break"))
    if param.value_type == "logit_bias":
        text = st.text_area(param.label, height=68, placeholder=tokens.example_logit_bias(
                                models.vocab_size(conn, model)),
                            **{**common, "help": param.help + params.LOGIT_BIAS_HELP})
        return _logit_bias(text, conn, model, fixed)
    return st.text_input(param.label, **common) or None


def _response_format(param: ParamSpec, fixed: Fixed) -> dict[str, Any] | None:
    value, problems = response_format.render(RESPONSE_FORMAT, param)
    for problem in problems:
        st.error(plain(problem.message))
    if problems:
        fixed.readable = False
    return value


def parse_stop(text: str | None) -> list[str] | None:
    """Stop sequences, one per line, with \\n and \\t written as escapes; None when empty."""
    sequences = [line.replace("\\n", "\n").replace("\\t", "\t")
                 for line in (text or "").splitlines() if line]
    return sequences or None


def _logit_bias(text: str | None, conn: Connection, model: str | None, fixed: Fixed):
    """The API's map; token text converted with the sidebar model's tokenizer. A problem is
    said under the field and holds the grid back."""
    parsed = tokens.parse_logit_bias(text)
    problems = list(parsed.problems)
    if not problems and parsed.needs_tokenizer and not model:
        problems.append("Choose a model first: token text is converted with its tokenizer.")
    if problems:
        for problem in problems:
            st.error(plain(f"logit_bias: {problem}"))
        fixed.readable = False
        return None
    if not parsed.needs_tokenizer:
        return handed_over_bias(parsed)
    resolved = tokens.resolve_logit_bias(parsed, _cached_tokenizer(conn, model))
    if resolved.problems:
        for problem in resolved.problems:
            st.error(plain(f"logit_bias: {problem}"))
        fixed.readable = False
        return None
    st.caption(plain("Token ids for " + model + ": " + "; ".join(
        f"{text!r} → {', '.join(map(str, ids))}" for text, ids in resolved.texts.items())))
    return resolved.bias or None


def handed_over_bias(parsed: tokens.ParsedBias) -> dict[str, int | float] | None:
    """The API's map for a parse that needs no tokenizer; None when there is nothing to
    send or the text could not be read (its problems are said under the field)."""
    if parsed.problems or parsed.needs_tokenizer:
        return None
    return parsed.by_id() or None


def _cached_tokenizer(conn: Connection, model: str) -> tokens.Tokenize:
    known = st.session_state.setdefault(TOKEN_IDS, {})
    tokenize = tokens.tokenizer(conn, model)

    def cached(text: str) -> list[int]:
        place = (conn.name, conn.base_url, model, text)
        if place not in known:
            known[place] = tokenize(text)
        return known[place]
    return cached
