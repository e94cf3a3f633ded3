"""The sidebar every page shares: which endpoint, with which key, and which model.

It resolves the chosen connection (typed values > secrets.toml > environment/.env > preset;
a configured key only for the base URL configured with it) and returns it, with the timeout
and retries set for it in this session, and the chosen model. A key typed here lives in
session state only: saving a connection stores its name, URL, organization, timeout and
retries, never its key.

Every page script calls ``render()`` itself, first, and works with the connection and model
it returns.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import streamlit as st

from playground import connection
from playground.connection import (
    LOCAL_NAME,
    Connection,
    ConnectionReport,
    KeySource,
    SavedConnections,
)
from playground.errors import PlaygroundError
from playground.ledger.records import UsageRecord
from playground.ledger.schema import DB_FILENAME, DB_VARIABLE
from playground.local.launcher import local_server
from playground.settings import DATA_DIR_VARIABLE
from ui.common import models, recording, state, usage_total
from ui.common.errors import show_error
from ui.common.text import plain

TEST_PAGE = "Test connection"  # the page a connection test is recorded under
KEY_HELP = ("Kept in this browser session only; never written to disk. Leave empty to use "
            "OPENAI_API_KEY from .streamlit/secrets.toml, the environment or .env, which is "
            "only sent to the base URL set beside it (OPENAI_BASE_URL, or OpenAI's).")
KEY_SOURCES: dict[KeySource, str] = {  # connection.resolve's key_source, in words
    "typed": "typed in the sidebar",
    "connection": "given with the connection",
    "secrets": "from .streamlit/secrets.toml",
    "environment": "from OPENAI_API_KEY in the environment or .env",
}
# httpx's read timeout, which the SDK's timeout sets, counts between two parts of an answer.
TIMEOUT_HELP = ("Seconds to wait for the answer before the request fails: for all of it, or, "
                "streaming, for each next part. Connecting gets at most "
                f"{connection.CONNECT_TIMEOUT:g} s of it; each retry gets the full time again. "
                "Used from the next request on.")
RETRIES_HELP = ("How many times the OpenAI SDK sends a failed request again by itself, waiting "
                "longer before each try (or as long as Retry-After asks): after a connection "
                "error, a timeout, or a 408, 409, 429 or 5xx answer. 0 means one try only.")


class Selection(NamedTuple):
    connection: Connection  # resolved: key included, in memory only
    model: str | None


def render(*, running_total: bool = True) -> Selection:
    """Draw the sidebar; returns the resolved connection and the chosen model.

    ``running_total`` shows this session's requests at its foot (the Usage page, which
    shows every total in full, turns it off).
    """
    state.init()
    with st.sidebar:
        conn = _pick_connection()
        resolved = _resolve(conn)
        if conn.kind != "local":
            _save_or_delete(conn)
        _test(resolved)
        model = _pick_model(resolved)
        _data_settings()
        usage_total.show(running_total)
    return Selection(resolved, model)


def _pick_connection() -> Connection:
    saved = SavedConnections()
    conns = {conn.name: conn for conn in connection.all_connections(saved)}
    if st.session_state.get(state.CONNECTION_NAME) not in conns:
        st.session_state[state.CONNECTION_NAME] = state.default_connection_name()
    name = st.selectbox("Connection", list(conns), key=state.CONNECTION_NAME,
                        persist_state=state.PERSIST,
                        help="Local models need no key or network. Others need their "
                             "server running, or a key for OpenAI.")
    notice = st.session_state.pop(state.SIDEBAR_NOTICE, None)
    if notice:
        st.info(plain(notice))
    for problem in saved.problems:  # of a hand-edited connections.json
        st.warning(plain(problem), icon=":material/warning:")
    return conns[name]


def _field(label: str, conn: Connection, field: str, **kwargs) -> None:
    """A text field of the connection's; ``as_typed`` reads what it holds."""
    st.text_input(label, key=state.connection_field(field, conn.name),
                  persist_state=state.PERSIST, **kwargs)


def _resolve(conn: Connection) -> Connection:
    if conn.kind == "local":
        st.caption("Small models served on this machine: no key, no network.")
        _local_endpoint()
        return connection.resolve(conn)
    _field("Base URL", conn, "base_url", placeholder=conn.base_url or "")
    _field("API key", conn, "api_key", type="password", help=KEY_HELP, autocomplete="off")
    _field("Organization (optional)", conn, "organization",
           placeholder=conn.organization or "OPENAI_ORG_ID")
    resolved = as_typed(conn)  # reads what the fields just drawn hold
    st.caption(plain(key_caption(resolved)))
    st.caption(plain(f"Endpoint: {resolved.base_url}"))
    return _with_limits(resolved)


def _local_endpoint() -> None:
    """The local server's address (code snippets use it too), and how to serve the same
    models there without the app."""
    try:
        server = local_server()
        url = server.planned_url()
    except PlaygroundError as exc:  # PLAYGROUND_LOCAL_PORT is no port number
        show_error(exc)
        return
    st.caption(plain(f"Endpoint: {url}"))
    st.caption(server.address_note())


def _with_limits(conn: Connection) -> Connection:
    """The connection with the timeout and retries set for it in this session (at first,
    its saved ones)."""
    with st.expander("Timeouts and retries"):
        low, high = connection.TIMEOUT_LIMITS
        timeout = st.number_input("Timeout (seconds)", min_value=low, max_value=high,
                                  value=conn.timeout, step=1.0, format="%g",
                                  key=state.connection_field("timeout", conn.name),
                                  persist_state=state.PERSIST, help=TIMEOUT_HELP)
        low, high = connection.RETRY_LIMITS
        retries = st.number_input("Retries", min_value=low, max_value=high,
                                  value=conn.max_retries, step=1,
                                  key=state.connection_field("max_retries", conn.name),
                                  persist_state=state.PERSIST, help=RETRIES_HELP)
    return replace(conn, timeout=timeout, max_retries=retries)


def read_secrets() -> dict[str, str]:
    """Top-level values of .streamlit/secrets.toml; empty when there is no (readable) file."""
    if not st.secrets.load_if_toml_exists():
        return {}
    return {name: str(value) for name, value in st.secrets.to_dict().items()
            if isinstance(value, (str, int, float))}


def key_caption(conn: Connection) -> str:
    """The masked key of a resolved connection and, in words, where resolve found it, or
    which configured key it held back for belonging to another address."""
    if conn.key_withheld:
        withheld = conn.key_withheld
        return (f"Key: not set. The key {KEY_SOURCES[withheld.source]} is only sent to "
                f"{withheld.bound_to}; type a key for this address.")
    if not conn.api_key:
        return "Key: not set" if conn.needs_key else "Key: none (this server may not need one)"
    return f"Key: {connection.mask_key(conn.api_key)} ({KEY_SOURCES[conn.key_source]})"


def _save_or_delete(conn: Connection) -> None:
    saved_names = {saved.name for saved in SavedConnections().load()}
    with st.expander("Save this connection"):
        st.text_input("Save as", key=state.SAVE_AS, placeholder=conn.name,
                      persist_state=state.PERSIST,
                      help="Saves the name, base URL, organization, timeout and retries; "
                           "never the key.")
        st.button("Save connection", on_click=_save, args=(conn,), width="stretch")
        if conn.name in saved_names:
            st.button("Delete connection", on_click=_delete, args=(conn.name,),
                      width="stretch")


def _typed(field: str, name: str) -> str | None:
    return (st.session_state.get(state.connection_field(field, name)) or "").strip() or None


def as_typed(conn: Connection) -> Connection:
    """``conn`` resolved as the sidebar resolves it, with what this session typed for it
    (key, base URL, organization, timeout, retries), drawing nothing: for connections other
    than the sidebar's, such as those a Compare grid's model axis names."""
    if conn.kind == "local":
        return connection.resolve(conn)
    return connection.resolve(
        replace(conn, organization=_typed("organization", conn.name) or conn.organization,
                **_typed_limits(conn.name)),
        typed_key=_typed("api_key", conn.name), typed_base_url=_typed("base_url", conn.name),
        secrets=read_secrets(), environment=connection.environment_settings())


def _typed_limits(name: str) -> dict[str, float | int]:
    """The timeout and retries set for the connection this session, where they were set."""
    return {field: value for field in ("timeout", "max_retries")
            if (value := st.session_state.get(state.connection_field(field, name))) is not None}


def _save(conn: Connection) -> None:
    """Button callback: it runs before the next run draws the widgets it changes."""
    name = (st.session_state.get(state.SAVE_AS) or "").strip() or conn.name
    if name == LOCAL_NAME:
        st.session_state[state.SIDEBAR_NOTICE] = f"{LOCAL_NAME!r} is built in; choose another name."
        return
    saved = replace(conn, name=name, api_key=None,
                    base_url=_typed("base_url", conn.name) or conn.base_url,
                    organization=_typed("organization", conn.name) or conn.organization,
                    **_typed_limits(conn.name))
    store = SavedConnections()
    try:
        store.save(saved)
    except OSError as exc:
        st.session_state[state.SIDEBAR_NOTICE] = f"Could not save the connection: {exc}"
        return
    # The key typed for the old name stays with this session under the new name.
    key = _typed("api_key", conn.name)
    if key and name != conn.name:
        st.session_state[state.connection_field("api_key", name)] = key
    st.session_state[state.CONNECTION_NAME] = name
    st.session_state[state.SAVE_AS] = ""
    st.session_state[state.SIDEBAR_NOTICE] = " ".join([f"Saved {name!r} (without its key).",
                                                       *store.problems])


def _delete(name: str) -> None:
    """Button callback; the picker falls back to the preset of that name, or Local models."""
    store = SavedConnections()
    try:
        store.delete(name)
    except OSError as exc:
        st.session_state[state.SIDEBAR_NOTICE] = f"Could not delete the connection: {exc}"
        return
    st.session_state[state.SIDEBAR_NOTICE] = " ".join([f"Deleted {name!r}.", *store.problems])


def _test(conn: Connection) -> None:
    reports = st.session_state[state.CONNECTION_REPORTS]
    if st.button("Test connection", width="stretch"):
        models.forget(conn)  # a new test deserves a fresh model list too
        spinner = models.STARTING_LOCAL if conn.kind == "local" else f"Testing {conn.name}…"
        with st.spinner(spinner):
            reports[conn] = connection.check_connection(conn)
        _record_test(reports[conn], conn)
    report = reports.get(conn)
    if report is None:
        return
    if report.ok:
        st.success(plain(report.message), icon=":material/check_circle:")
    else:
        show_error(report.error)


def _record_test(report: ConnectionReport, conn: Connection) -> None:
    """A test is a request too: it goes to the usage ledger (page "Test connection")."""
    try:
        recording.default_ledger().record(UsageRecord.from_connection_test(
            report, page=TEST_PAGE, connection=conn, session=recording.session_id()))
    except PlaygroundError as exc:
        st.caption(plain(f"Not recorded in the usage history: {exc.message}"))


def _data_settings() -> None:
    """Where the usage history is (the machine decides: shown, never typed here), and, once
    per session, each damaged history file that was set aside."""
    try:
        opened = recording.default_ledger()
    except PlaygroundError as exc:
        with st.expander("Data"):
            st.caption(plain(f"Usage history unavailable: {exc.message} {exc.hint or ''}"))
        return
    for notice in recording.new_notices(opened):
        st.warning(plain(f"{notice.message} {notice.hint}"), icon=":material/warning:")
    with st.expander("Data"):
        st.caption(plain(f"Usage history: {opened.path}"), help=(
            "Every request, saved conversation and Compare run is kept in this SQLite file. "
            f"It is set where the app runs, never from the browser: {DB_VARIABLE} "
            f"names the file, else it is {DB_FILENAME} in the data folder "
            f"({DATA_DIR_VARIABLE}, else ~/.parameter-playground)."))


def _pick_model(conn: Connection) -> str | None:
    try:
        ids = [str(model["id"]) for model in models.models_of(conn) if model.get("id")]
    except PlaygroundError as exc:
        tested = st.session_state[state.CONNECTION_REPORTS].get(conn)
        if tested is None or tested.ok:  # a failed test above already shows the failure
            show_error(exc)
        ids = []
    pending = st.session_state.pop(state.PENDING_MODEL, None)
    if ids:
        if pending in ids:
            st.session_state[state.MODEL] = pending
        elif st.session_state.get(state.MODEL) not in ids:
            st.session_state[state.MODEL] = ids[0]
        options = ids if conn.kind == "local" else sorted(ids)
        model = st.selectbox("Model", options, key=state.MODEL, persist_state=state.PERSIST)
        if models.is_base_model(models.entry_of(conn, model)):
            st.info(models.BASE_MODEL_NOTE, icon=":material/notes:")
    else:
        # Without a list (server down, endpoint without /models) an id can still be typed.
        key = f"{state.MODEL_TYPED}::{conn.name}"
        if pending:
            st.session_state[key] = pending
        typed = st.text_input("Model id", key=key, persist_state=state.PERSIST,
                              help="The connection listed no models; type a model id.")
        model = (typed or "").strip() or None
    st.button("Refresh models", on_click=models.forget, args=(conn,), width="stretch")
    return model
