"""Every session-state key of the app, and the factories that give them their defaults.

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


def preset_field(field: str, endpoint: str) -> str:
    """Keys of an endpoint's presets panel: "pick" and "name" (widgets), "link" (the
    shared link last applied or written), "notice" (a callback's message, shown once) and
    "saved" (the preset just saved, picked on the next run)."""
    return f"presets.{field}::{endpoint}"


# Plain keys.
PENDING_MODEL = "pending_model"        # a model another page chose, applied on the next run
MODEL_LISTS = "model_lists"            # Connection -> list of model dicts, or the failure
MODEL_DETAILS = "model_details"        # (Connection, model id) -> retrieve() dict, or the failure
CONNECTION_REPORTS = "connection_reports"  # Connection -> ConnectionReport
SIDEBAR_NOTICE = "sidebar_notice"      # a message from a sidebar callback, shown once
COMPLETIONS_RESULT = "completions.result"  # the last output.Outcome of the Completions page
COMPLETIONS_PROMPT = "completions.prompt"  # widget key of the Completions prompt
SESSION_ID = "session_id"              # random id of this browser session (ledger rows)
COMPARE_RESULT = "compare.result"      # the Compare page's GridResult, filled in as cells end
COMPARE_CANCEL = "compare.cancel"      # set by the Compare page's Cancel button
LEDGER_NOTICES_SHOWN = "ledger_notices_shown"  # damaged ledger files this session was told of

# Widget keys of the Usage page.
USAGE_PERIOD = "usage.period"
USAGE_DATES = "usage.dates"
USAGE_MODELS = "usage.models"
USAGE_CONNECTIONS = "usage.connections"
USAGE_PAGES = "usage.pages"
USAGE_BUCKET = "usage.bucket"
USAGE_TABLE = "usage.table"            # the request table's row selection
USAGE_TABLE_PAGE = "usage.table_page"
USAGE_CSV_BODIES = "usage.csv_bodies"

# The Chat page: plain keys, then widget keys.
CHAT_CONVERSATION = "chat.conversation"  # the open playground.chat.Conversation
CHAT_EDITOR = "chat.editor"            # ("edit", message id) or ("insert", id after or None)
CHAT_SEND = "chat.send"                # set when this run should ask for a reply
CHAT_PENDING = "chat.pending"          # ui.chat.send.Pending: where the reply in flight goes
CHAT_OUTCOME = "chat.outcome"          # the ui.common.output.Outcome of the reply in flight
CHAT_FAILURE = "chat.failure"          # the last send's PlaygroundError, shown once
CHAT_NOTICE = "chat.notice"            # a callback's message, shown once
CHAT_COUNTERS = "chat.counters"        # (Connection, model) -> playground.chat token counter
CHAT_EXAMPLE = "chat.example"          # the tutorial example's two answers
CHAT_INPUT = "chat.input"
CHAT_SYSTEM = "chat.system"
CHAT_TITLE = "chat.title"
CHAT_POLICY = "chat.policy"
CHAT_LIMIT = "chat.limit"
CHAT_EDIT_ROLE = "chat.edit.role"
CHAT_EDIT_TEXT = "chat.edit.text"


def chat_action(action: str, item: str) -> str:
    """Key of a Chat page button acting on one message, choice or saved conversation."""
    return f"chat.{action}::{item}"


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
