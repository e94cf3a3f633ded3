"""The connection's models, fetched once per connection per session.

Listing is a network call (and for the local connection may start the server), so the
result is kept in session state keyed by the resolved connection; "Refresh" forgets it.
"""

from __future__ import annotations

import streamlit as st

from playground import connection
from playground.connection import Connection
from ui import state

STARTING_LOCAL = "Starting the local models…"


def _spinner_text(conn: Connection) -> str:
    return STARTING_LOCAL if conn.kind == "local" else f"Listing the models of {conn.name}…"


def models_of(conn: Connection) -> list[dict]:
    """The models the connection reports; raises ``PlaygroundError``."""
    cache = st.session_state[state.MODEL_LISTS]
    if conn not in cache:
        with st.spinner(_spinner_text(conn)):
            cache[conn] = connection.list_models(conn)
    return cache[conn]


def details_of(conn: Connection, model_id: str) -> dict:
    """Everything ``GET /models/{id}`` returns for one model; raises ``PlaygroundError``."""
    cache = st.session_state[state.MODEL_DETAILS]
    if (conn, model_id) not in cache:
        with st.spinner(_spinner_text(conn)):
            cache[(conn, model_id)] = connection.retrieve_model(conn, model_id)
    return cache[(conn, model_id)]


def forget(conn: Connection) -> None:
    st.session_state[state.MODEL_LISTS].pop(conn, None)
    details = st.session_state[state.MODEL_DETAILS]
    for key in [key for key in details if key[0] == conn]:
        del details[key]
