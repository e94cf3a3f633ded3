"""A structured reply checked against its schema, shown as a tree with violations marked."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from playground.chat import Conversation
from playground.structured import CheckedReply, Violation, check_reply
from ui.common.text import plain

MARK = ":red[✗]"


def render_last_reply(conversation: Conversation, response_format: dict[str, Any] | None) -> None:
    """Check the last reply when a JSON response format is set."""
    kind = (response_format or {}).get("type")
    reply = conversation.last_reply
    if kind not in ("json_object", "json_schema") or reply is None or not reply.content:
        return
    schema = ((response_format.get("json_schema") or {}).get("schema")
              if kind == "json_schema" else None)
    checked = check_reply(reply.content, schema)
    title = "Structured reply: " + _verdict(checked, schema)
    with st.expander(title, expanded=not checked.valid):
        if checked.not_json:
            st.error(plain(checked.not_json))
            return
        if schema is not None:
            st.caption("Checked against the schema set now, with the jsonschema library.")
        st.markdown("\n".join(tree_lines(checked.value, checked.violations)))


def _verdict(checked: CheckedReply, schema: dict | None) -> str:
    if checked.not_json:
        return "not JSON"
    if schema is None:
        return "valid JSON"
    count = len(checked.violations)
    return "conforms to the schema" if not count else f"{count} violation{'s' * (count > 1)}"


def tree_lines(value: Any, violations: list[Violation]) -> list[str]:
    """Markdown list lines, one per member or item, each violation under the node it is
    about (a missing property under its object)."""
    by_path: dict[tuple, list[str]] = {}
    for violation in violations:
        by_path.setdefault(tuple(violation.path), []).append(violation.message)
    lines = [f"{MARK} {plain(message)}" for message in by_path.get((), [])]
    _node(value, (), 0, None, by_path, lines, root=True)
    return lines


def _node(value: Any, path: tuple, depth: int, label: str | None, by_path: dict,
          lines: list[str], *, root: bool = False) -> None:
    indent = "  " * depth
    name = "" if label is None else f"**{plain(label)}**: "
    container = isinstance(value, (dict, list))
    shown = (("{…}" if isinstance(value, dict) else "[…]") if container
             else plain(json.dumps(value, ensure_ascii=False)))
    marks = "" if root else "".join(f" {MARK} {plain(m)}" for m in by_path.get(path, []))
    if not root or not container:
        lines.append(f"{indent}- {name}{shown}{marks}")
    children = (value.items() if isinstance(value, dict)
                else enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        _node(child, (*path, key), depth if root else depth + 1,
              f"[{key}]" if isinstance(key, int) else str(key), by_path, lines)
