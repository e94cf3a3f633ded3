"""What the chosen model accepts, for the pages: read before the controls are drawn, and
learned from a refusal after a request fails.

The remembered refusals live in the history file; when it cannot be read or written, the
built-in profiles still apply and the page says what was not remembered.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from playground import capabilities, refusals
from playground.capabilities import Capabilities
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.common.text import plain


def load(conn: Connection, model: str | None) -> Capabilities:
    try:
        return capabilities.for_model(conn, model)
    except PlaygroundError as exc:
        st.caption(plain(f"Refusals remembered earlier are not applied: {exc}"))
        return Capabilities(model or "", capabilities.profile_for(conn, model))


def learn(conn: Connection, model: str | None, endpoint: str, request: dict[str, Any],
          error: Exception) -> refusals.Learned | None:
    """Remember what ``error`` says the model refused; returns it, None when nothing."""
    try:
        return refusals.learn(conn, model or "", endpoint, request, error)
    except PlaygroundError as exc:
        st.toast(plain(f"The refusal is not remembered: {exc}"))
        return None
