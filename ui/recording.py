"""The Recorder a page sends its requests through, tied to this browser session."""

from __future__ import annotations

import uuid

import streamlit as st

from playground.recording import Recorder
from ui import state


def session_id() -> str:
    """A random id for this browser session, so its running total can be told apart."""
    if state.SESSION_ID not in st.session_state:
        st.session_state[state.SESSION_ID] = uuid.uuid4().hex
    return st.session_state[state.SESSION_ID]


def recorder(page: str) -> Recorder:
    """Records to the ledger (``PLAYGROUND_DB``, else the data folder's)."""
    return Recorder(page=page, session=session_id())
