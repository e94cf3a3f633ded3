"""View code: the request just sent, as a Python script and as a curl command.

The snippets come from ``playground.codegen``, which never sees the key: both read
``OPENAI_API_KEY`` when they run.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from playground import codegen
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.common.errors import show_error


def render(conn: Connection, endpoint: str, request: dict[str, Any]) -> None:
    """An expander with a Python tab and a curl tab, each with a copy button."""
    with st.expander("View code", icon=":material/code:"):
        try:
            snippets = codegen.snippets_for(conn, endpoint, request)
        except PlaygroundError as exc:
            show_error(exc)
            return
        st.caption("The exact request, with the key read from OPENAI_API_KEY when it runs.")
        python, curl = st.tabs(["Python", "curl"])
        python.code(snippets.python, language="python")
        curl.code(snippets.curl, language="bash")
