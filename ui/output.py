"""Showing what a model returned: always as plain text, never as markdown or HTML.

Model output is untrusted text; ``st.code`` with no language shows it character for
character (wrapped), whatever markdown, HTML or script it contains.
"""

from __future__ import annotations

import streamlit as st

from playground.runner import RunResult
from ui.errors import show_error
from ui.text import plain


def show_text(text: str) -> None:
    st.code(text, language=None, wrap_lines=True)


class LiveText:
    """The runner's ``on_text`` callback: redraws each choice's text as deltas arrive."""

    def __init__(self):
        self.placeholder = st.empty()
        self.texts: dict[int, str] = {}

    def __call__(self, index: int, delta: str) -> None:
        self.texts[index] = self.texts.get(index, "") + delta
        with self.placeholder.container():
            for choice in sorted(self.texts):
                show_text(self.texts[choice])

    def clear(self) -> None:
        self.placeholder.empty()


def show_result(result: RunResult) -> None:
    """Every choice with its finish reason, then usage and timing."""
    if result.incomplete:
        st.warning("The output is incomplete: the stream ended early.")
    if result.error is not None:
        show_error(result.error)
    for choice in result.choices:
        if len(result.choices) > 1:
            st.markdown(f"**Choice {choice.index}**")
        show_text(choice.text)
        st.caption(plain(f"finish_reason: {choice.finish_reason or 'none'}"))
    usage = result.usage or {}
    cells = st.columns(5)
    cells[0].metric("Prompt tokens", usage.get("prompt_tokens", "–"))
    cells[1].metric("Completion tokens", usage.get("completion_tokens", "–"))
    cells[2].metric("Total tokens", usage.get("total_tokens", "–"))
    cells[3].metric("Latency", f"{result.latency:.2f} s")
    first = result.time_to_first_token
    cells[4].metric("First token", f"{first:.2f} s" if first is not None else "–",
                    help="Time to the first streamed text; only measured when streaming.")
