"""The Recorder a page sends its requests through, tied to this browser session, and the
ledger it records into."""

from __future__ import annotations

import uuid

import streamlit as st

from playground.ledger.damage import SetAside
from playground.ledger.writer import Ledger, shared_ledger
from playground.recording import Recorder
from ui.common import state


def session_id() -> str:
    """A random id for this browser session, so its running total can be told apart."""
    if state.SESSION_ID not in st.session_state:
        st.session_state[state.SESSION_ID] = uuid.uuid4().hex
    return st.session_state[state.SESSION_ID]


def recorder(page: str) -> Recorder:
    """Records to the ledger (``PLAYGROUND_DB``, else the data folder's)."""
    return Recorder(page=page, session=session_id())


def default_ledger() -> Ledger:
    """The ledger of the machine's choice: ``PLAYGROUND_DB``, else the data folder's
    ``history.sqlite3``."""
    return shared_ledger()


def new_notices(opened: Ledger) -> list[SetAside]:
    """The damaged files the ledger set aside that this session has not been told of yet;
    from now on they count as told."""
    told = st.session_state.setdefault(state.LEDGER_NOTICES_SHOWN, set())
    fresh = [notice for notice in opened.notices if notice.moved_to not in told]
    told.update(notice.moved_to for notice in fresh)
    return fresh
