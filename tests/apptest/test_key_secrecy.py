"""The API key, through a whole session: sent where it belongs, and nowhere else.

A distinctive key (not shaped like an OpenAI key, so no pattern-based scrubbing can hide a
leak) is typed in the sidebar for a connection to the fault server, which records the
Authorization header of every request and, asked for a 401, quotes the key back as a
careless gateway might. The session then uses every page: runs, streams, errors, a saved
connection, a preset and its share link, a conversation, a compare run, prices, and every
export. Afterwards the key must appear in none of: the files of the data folder and the
working folder (SQLite files and their journals included), the exports, the URLs, the logs
and output, and anything drawn on any page, other than the password field it was typed in.
"""

from __future__ import annotations

import logging
import uuid

import pytest
import streamlit.elements.widgets.button as button_module
from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto

from fault_server import FaultServer
from playground.connection import mask_key
from ui.chat import keys as chat_keys
from ui.common import pages, params, state
from ui.completions import keys as completions_keys
from ui.usage import keys as usage_keys

KEY = f"gwkey-{uuid.uuid4().hex}"  # no "sk-" shape: only real care keeps it out
SAVED = "Keyed gateway"


@pytest.fixture
def downloads(monkeypatch) -> list[bytes]:
    """The data of every download button drawn (deferred ones made as if clicked)."""
    captured: list[bytes] = []
    original = button_module.marshall_file

    def marshall_file(coordinates, data, *args, **kwargs):
        value = data() if callable(data) else data
        captured.append(value.encode() if isinstance(value, str) else bytes(value))
        return original(coordinates, data, *args, **kwargs)

    monkeypatch.setattr(button_module, "marshall_file", marshall_file)
    return captured


def rendered(at, *, except_keys: set[str]) -> str:
    """Every element's protobuf text, leaving out the widgets named in ``except_keys``."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "key", None) not in except_keys:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def button(at, label: str):
    return next(b for b in at.button if b.label.startswith(label))


def test_a_whole_session_never_leaks_the_key(app, data_dir, clean_environment, downloads,
                                            caplog, capfd):
    caplog.set_level(logging.DEBUG)
    server = FaultServer(echo_key=True, retry_after=0.05)
    key_fields = {state.connection_field("api_key", name) for name in ("vLLM", SAVED)}
    seen: list[str] = []  # everything drawn, and every URL, page after page

    def look(at) -> None:
        assert not at.exception, [e.value for e in at.exception]
        seen.append(rendered(at, except_keys=key_fields))
        seen.append(repr(dict(at.query_params)))

    with server as base_url:
        at = app
        # The sidebar: the key typed, masked, used; the connection saved without it.
        at.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
        at.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(base_url)
        at.sidebar.text_input(key=state.connection_field("api_key", "vLLM")).input(KEY).run()
        key_input = at.sidebar.text_input(key=state.connection_field("api_key", "vLLM"))
        assert key_input.proto.type == TextInputProto.PASSWORD
        assert any(f"Key: {mask_key(KEY)}" in c.value.replace("\\", "") for c in at.sidebar.caption)
        at.sidebar.text_input(key=state.SAVE_AS).input(SAVED)
        button(at, "Save connection").click().run()
        assert at.sidebar.selectbox(key=state.CONNECTION_NAME).value == SAVED
        button(at, "Test connection").click().run()
        assert at.sidebar.success
        look(at)

        # Completions: a run, a stream, View code, a preset, the share link, an error.
        at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
        at.get_by_key(params.widget_key("completions", "max_tokens")).set_value(5)
        button(at, "Run").click().run()
        look(at)
        at.get_by_key(params.widget_key("completions", "stream")).check()
        at.text_input(key=completions_keys.preset_field("name", "completions")).input(
            "keyed preset")
        button(at, "Save preset").click().run()
        button(at, "Run").click().run()
        look(at)
        server.fault = "401"
        button(at, "Run").click().run()
        assert any("401" in e.value for e in at.error)
        look(at)
        server.fault = "ok"

        # Chat: a reply, a failure, the exports.
        at.switch_page(pages.CHAT).run()
        at.run()
        at.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello").run()
        look(at)
        server.fault = "401"
        at.chat_input(key=chat_keys.CHAT_INPUT).set_value("Again").run()
        assert any("401" in e.value for e in at.error)
        look(at)
        server.fault = "ok"
        at.run()
        look(at)

        # Compare: a grid, a failed cell, a saved run, the exports.
        at.switch_page(pages.COMPARE).run()
        at.run()
        at.text_area(key="compare.user").input("Describe the sea.").run()
        server.faults_by_model["fault-model-b"] = "401"
        at.multiselect(key="compare.vary").set_value(["model"]).run()
        at.multiselect(key="compare.axis.model").set_value(["fault-model", "fault-model-b"]).run()
        button(at, "Run grid").click().run()
        assert any("401" in e.value for e in at.error)
        at.text_input(key="compare.save_name").input("keyed run").run()
        button(at, "Save run").click().run()
        look(at)

        # Models, prices, and the usage history with its export.
        at.switch_page(pages.MODELS).run()
        at.run()
        assert at.dataframe
        button(at, "Save prices").click().run()
        look(at)
        at.switch_page(pages.USAGE).run()
        at.run()
        at.checkbox(key=usage_keys.USAGE_CSV_BODIES).check().run()
        look(at)

    # The key went where it belongs: every request to the gateway carried it.
    authorizations = {received.authorization for received in server.requests}
    assert authorizations == {f"Bearer {KEY}"}, "the key typed was sent, and only it"
    assert len(server.requests) >= 10

    # ... and nowhere else.
    assert len(downloads) >= 5, "chat JSON and Markdown, compare CSV and JSON, usage CSV"
    assert any(b"Hello" in data for data in downloads), "the exports hold the session"
    for number, data in enumerate(downloads):
        assert KEY.encode() not in data, f"download {number}"
    files = [path for folder in (data_dir, clean_environment) for path in folder.rglob("*")
             if path.is_file()]
    names = {path.name for path in files}
    assert {"connections.json", "presets.json", "history.sqlite3"} <= names, names
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    for number, text in enumerate(seen):
        assert KEY not in text, f"look {number} shows the key"
    assert "key hidden" in "".join(seen), "the quoted key was hidden, not the error dropped"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    out, err = capfd.readouterr()
    assert KEY not in logged and KEY not in out and KEY not in err


ENV_KEY = f"sk-env-{uuid.uuid4().hex}"
TYPED_KEY = f"sk-typed-{uuid.uuid4().hex}"


def use_every_page(at, conn_name: str) -> None:
    """Test connection, a Completions run, a Chat message and a Compare run (the Compare
    run from the local models, naming a model of ``conn_name``)."""
    button(at, "Test connection").click().run()
    at.switch_page(pages.COMPLETIONS).run()
    at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    button(at, "Run").click().run()
    at.switch_page(pages.CHAT).run()
    at.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello").run()
    at.switch_page(pages.COMPARE).run()
    at.text_area(key="compare.user").input("Describe the sea.").run()
    button(at, "Run grid").click().run()
    at.sidebar.selectbox(key=state.CONNECTION_NAME).select("Local models").run()
    at.multiselect(key="compare.vary").set_value(["model"]).run()
    at.multiselect(key="compare.axis.model").set_value([f"fault-model @ {conn_name}"]).run()
    button(at, "Run grid").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.sidebar.selectbox(key=state.CONNECTION_NAME).select(conn_name).run()


def test_a_typed_base_url_gets_a_typed_key_never_the_configured_one(app, monkeypatch):
    """The owner's key from the environment stays with OpenAI's address: a visitor who types
    their own server as the OpenAI connection's base URL receives no key, on any page, until
    they type one; then that one."""
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-owner")
    catcher = FaultServer()
    with catcher as base_url:
        at = app
        at.sidebar.selectbox(key=state.CONNECTION_NAME).select("OpenAI").run()
        captions = " ".join(c.value.replace("\\", "") for c in at.sidebar.caption)
        assert "Key: sk-…" in captions  # the owner's key, bound to OpenAI's address
        at.sidebar.text_input(key=state.connection_field("base_url", "OpenAI")).input(
            base_url).run()
        captions = " ".join(c.value.replace("\\", "") for c in at.sidebar.caption)
        assert ("Key: not set. The key from OPENAI_API_KEY in the environment or .env is only "
                "sent to https://api.openai.com/v1; type a key for this address.") in captions
        at.text_input(key=f"{state.MODEL_TYPED}::OpenAI").input("fault-model").run()
        use_every_page(at, "OpenAI")
        errors = " ".join(e.value.replace("\\", "") for e in at.error)
        assert "is only sent to https://api.openai.com/v1" in errors
        sent = [(r.authorization, r.headers.get("openai-organization"))
                for r in catcher.requests]
        assert all(ENV_KEY not in str(headers) for headers in sent), sent
        assert all("org-owner" not in str(r.headers) for r in catcher.requests)

        at.sidebar.text_input(key=state.connection_field("api_key", "OpenAI")).input(
            TYPED_KEY).run()
        before = len(catcher.requests)
        use_every_page(at, "OpenAI")
        typed = catcher.requests[before:]
        assert {r.authorization for r in typed} == {f"Bearer {TYPED_KEY}"}
        runs = [r.path for r in typed if r.path in ("/v1/completions", "/v1/chat/completions")]
        assert set(runs) == {"/v1/completions", "/v1/chat/completions"}, runs
        assert len(runs) >= 4, runs  # a completion, a chat reply, the cells of two grids
    assert all(ENV_KEY not in str(r.headers) for r in catcher.requests)
