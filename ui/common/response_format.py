"""The response_format control: text, JSON mode, or a JSON schema edited by hand or from a
template.

The schema is typed as JSON text; text that does not parse is reported under the control
(and nothing is sent) rather than lost, and stays in the editor to be corrected.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from playground.params import FieldError, ParamSpec
from playground.structured import TEMPLATES
from ui.common import state

KINDS = {"text": "Text", "json_object": "JSON mode", "json_schema": "JSON schema"}
FIRST_TEMPLATE = next(iter(TEMPLATES))


def key(endpoint: str, part: str) -> str:
    return f"params.{endpoint}.response_format.{part}"


def render(endpoint: str, spec: ParamSpec, *, disabled: bool = False
           ) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Draw the control; returns the value to send (None: text) and what keeps it from
    being sent."""
    _defaults(endpoint)
    common = {"disabled": disabled, "persist_state": state.PERSIST}
    kind = st.radio(spec.label, list(KINDS), format_func=KINDS.get, horizontal=True,
                    key=key(endpoint, "kind"), help=spec.help, **common)
    if kind == "text":
        return None, []
    if kind == "json_object":
        st.caption("JSON mode: some valid JSON object. Mention JSON in the messages, or "
                   "OpenAI refuses the request.")
        return {"type": "json_object"}, []
    chosen, use = st.columns([3, 1], vertical_alignment="bottom")
    chosen.selectbox("Template", list(TEMPLATES), key=key(endpoint, "template"), **common)
    use.button("Use", key=key(endpoint, "use"), on_click=use_template, args=(endpoint,),
               disabled=disabled, help="Replace the schema and its name with the template.")
    name = st.text_input("Schema name", key=key(endpoint, "name"), **common,
                         help="1 to 64 letters, digits, _ or -; the model sees it.")
    strict = st.checkbox("Strict", key=key(endpoint, "strict"), **common,
                         help="The reply always conforms to the schema; the schema must "
                              "then follow strict mode's rules.")
    text = st.text_area("JSON schema", key=key(endpoint, "schema"), height=220, **common)
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [FieldError("response_format", f"The schema is not JSON: {exc.msg} "
                                 f"(line {exc.lineno}, column {exc.colno}).")]
    except RecursionError:
        return None, [FieldError("response_format", "The schema is nested too deep to read.")]
    return {"type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": strict}}, []


def use_template(endpoint: str) -> None:
    """Put the chosen template into the editor (a callback: before the widgets are drawn)."""
    name = st.session_state.get(key(endpoint, "template")) or FIRST_TEMPLATE
    st.session_state[key(endpoint, "name")] = name.replace(" ", "_")
    st.session_state[key(endpoint, "schema")] = json.dumps(TEMPLATES[name], indent=2)


def set_value(endpoint: str, value: dict[str, Any] | None) -> None:
    """Put the control at a request's value (a preset being loaded, say)."""
    kind = (value or {}).get("type", "text")
    st.session_state[key(endpoint, "kind")] = kind if kind in KINDS else "text"
    declared = (value or {}).get("json_schema")
    if kind == "json_schema" and isinstance(declared, dict):
        st.session_state[key(endpoint, "name")] = str(declared.get("name") or "")
        st.session_state[key(endpoint, "strict")] = declared.get("strict") is True
        st.session_state[key(endpoint, "schema")] = json.dumps(declared.get("schema"), indent=2)


def _defaults(endpoint: str) -> None:
    st.session_state.setdefault(key(endpoint, "kind"), "text")
    st.session_state.setdefault(key(endpoint, "template"), FIRST_TEMPLATE)
    st.session_state.setdefault(key(endpoint, "strict"), True)
    if key(endpoint, "schema") not in st.session_state:
        use_template(endpoint)
