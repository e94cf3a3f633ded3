"""The session-state keys every page shares (the sidebar's, the model lists, the ledger's),
and the factories that give them their defaults. Each page's own keys are in its
package's ``keys.py``.

Widgets whose value must survive a page switch, or a run that does not draw them, are drawn
with ``persist_state="session"`` (see ``PERSIST``).
"""

from __future__ import annotations

import streamlit as st

from playground.connection import LOCAL_NAME

PERSIST = "session"

# Widget keys of the sidebar.
CONNECTION_NAME = "sidebar.connection"
MODEL = "sidebar.model"
MODEL_TYPED = "sidebar.model_typed"    # + "::" + connection name
SAVE_AS = "sidebar.save_as"


def connection_field(field: str, connection_name: str) -> str:
    """Widget key of a connection's base_url, api_key, organization, timeout or
    max_retries field."""
    return f"sidebar.{field}::{connection_name}"


# Plain keys.
PENDING_MODEL = "pending_model"        # a model another page chose, applied on the next run
MODEL_LISTS = "model_lists"            # Connection -> list of model dicts, or the failure
MODEL_DETAILS = "model_details"        # (Connection, model id) -> retrieve() dict, or the failure
CONNECTION_REPORTS = "connection_reports"  # Connection -> ConnectionReport
SIDEBAR_NOTICE = "sidebar_notice"      # a message from a sidebar callback, shown once
SESSION_ID = "session_id"              # random id of this browser session (ledger rows)
LEDGER_NOTICES_SHOWN = "ledger_notices_shown"  # damaged ledger files this session was told of


def default_connection_name() -> str:
    return LOCAL_NAME


def init() -> None:
    """Give every plain key its default once per session."""
    defaults = {
        MODEL_LISTS: dict,
        MODEL_DETAILS: dict,
        CONNECTION_REPORTS: dict,
    }
    for key, factory in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = factory()


def send_model(model_id: str) -> None:
    """Ask the sidebar to select this model on the next run (its widget is drawn already)."""
    st.session_state[PENDING_MODEL] = model_id
