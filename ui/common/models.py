"""The connection's models, fetched once per connection per session.

Listing is a network call (and for the local connection may start the server), so the
result is kept in session state keyed by the resolved connection; "Refresh" forgets it.
A failure is kept too: otherwise every widget change would wait for the same refused
connection (with the SDK's retries) again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from playground import connection
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.common import state

STARTING_LOCAL = "Starting the local models…"
BASE_MODEL_NOTE = ("A base model: trained to continue text, not to follow instructions or to "
                   "chat. Use it on Completions, for raw continuations and to see what "
                   "temperature and the penalties do to them; in Chat its replies make little "
                   "sense.")
KNOWN_BASE_MODELS = ("davinci-002", "babbage-002")  # OpenAI's, whose listing says nothing


def _spinner_text(conn: Connection) -> str:
    return STARTING_LOCAL if conn.kind == "local" else f"Listing the models of {conn.name}…"


def _cached(cache: dict, key, conn: Connection, fetch: Callable[[], Any]) -> Any:
    if key not in cache:
        with st.spinner(_spinner_text(conn)):
            try:
                cache[key] = fetch()
            except PlaygroundError as exc:
                cache[key] = exc
    if isinstance(cache[key], PlaygroundError):
        raise cache[key]
    return cache[key]


def models_of(conn: Connection) -> list[dict]:
    """The models the connection reports; raises ``PlaygroundError``."""
    return _cached(st.session_state[state.MODEL_LISTS], conn, conn,
                   lambda: connection.list_models(conn))


def list_failure(conn: Connection) -> PlaygroundError | None:
    """Why the connection's model list, already asked for, failed; None when it did not."""
    listed = st.session_state[state.MODEL_LISTS].get(conn)
    return listed if isinstance(listed, PlaygroundError) else None


def require_model(conn: Connection, model: str | None) -> None:
    """Raise the one error that explains a missing model when the connection itself failed,
    pointing to the sidebar that shows the failure: the fields are not at fault then."""
    failure = list_failure(conn)
    if model or failure is None:
        return
    raise PlaygroundError(
        f"No model to send to: {conn.name} could not list its models ({failure.kind}).",
        hint="The sidebar says what went wrong with the connection. Fix it there and click "
             "Test connection, or type a model id under Model id.")


def is_base_model(entry: dict | None) -> bool:
    """A pretrained model not tuned to chat: as the endpoint's own description says (the
    local server's does), or one of OpenAI's base models."""
    if not entry:
        return False
    described = str(entry.get("description") or "").lower()
    return "base model" in described or str(entry.get("id")) in KNOWN_BASE_MODELS


def how_it_runs(entry: dict) -> str | None:
    """What the local server says of how it computes a model (its ``threads`` and its
    ``parallel_sequences``), in words; None for a server that says neither."""
    threads, sequences = _count(entry.get("threads")), _count(entry.get("parallel_sequences"))
    parts = []
    if threads:
        parts.append(f"computes on {threads} CPU thread{'s' if threads > 1 else ''}")
    if sequences == 1:
        parts.append("decodes one request at a time")
    elif sequences:
        parts.append(f"decodes up to {sequences} requests together (each choice of n counts)")
    return f"On this server it {' and '.join(parts)}." if parts else None


def entry_of(conn: Connection, model: str | None) -> dict | None:
    """The model's entry in its connection's model list, when that list was fetched."""
    listed = st.session_state[state.MODEL_LISTS].get(conn)
    if not model or not isinstance(listed, list):
        return None
    return next((entry for entry in listed if entry.get("id") == model), None)


def vocab_size(conn: Connection | None = None, model: str | None = None) -> int | None:
    """The vocabulary size of a model (by default the sidebar's), when its connection's
    model list, already fetched, gives one (the local server's does)."""
    return _listed_number("vocab_size", conn, model)


def context_length(conn: Connection | None = None, model: str | None = None) -> int | None:
    """The context length of a model (by default the sidebar's), when its connection's
    model list, already fetched, gives one (the local server's does)."""
    return _listed_number("context_length", conn, model)


def _listed_number(name: str, conn: Connection | None, model: str | None) -> int | None:
    connection_name = conn.name if conn is not None else st.session_state.get(
        state.CONNECTION_NAME)
    model = model or st.session_state.get(state.MODEL)
    for listed_by, listed in (st.session_state.get(state.MODEL_LISTS) or {}).items():
        if listed_by.name == connection_name and isinstance(listed, list):
            value = next((entry.get(name) for entry in listed if entry.get("id") == model),
                         None)
            return _count(value)
    return None


def _count(value: Any) -> int | None:
    """A count a server listed: a positive integer (not a bool, not a string), else None."""
    return value if type(value) is int and value > 0 else None


def details_of(conn: Connection, model_id: str) -> dict:
    """Everything ``GET /models/{id}`` returns for one model; raises ``PlaygroundError``."""
    return _cached(st.session_state[state.MODEL_DETAILS], (conn, model_id), conn,
                   lambda: connection.retrieve_model(conn, model_id))


def forget(conn: Connection) -> None:
    st.session_state[state.MODEL_LISTS].pop(conn, None)
    details = st.session_state[state.MODEL_DETAILS]
    for key in [key for key in details if key[0] == conn]:
        del details[key]
