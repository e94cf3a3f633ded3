"""The sidebar: connection picker, key handling, saved connections, model picker."""

from __future__ import annotations

import json

import pytest
from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto

from playground.connection import Connection, mask_key, preset
from ui.common import state
from ui.common.sidebar import key_caption

KEY = "sk-test-0123456789abcdefWXYZ"


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _shown_text(at) -> str:
    """Everything the page shows, except what sits in text inputs (the key's own field)."""
    return "\n".join(str(element.proto) for element in _walk(at._tree)
                     if hasattr(element, "proto") and element.type != "text_input")


def _text(elements) -> str:
    """What the user reads: the shown values without the escapes that keep them plain."""
    return "\n".join(element.value.replace("\\", "") for element in elements)


def _captions(at) -> str:
    return _text(at.sidebar.caption)


def _choose(at, name: str):
    return at.sidebar.selectbox(key=state.CONNECTION_NAME).select(name).run()


def _button(at, label: str):
    return next(button for button in at.button if button.label == label)


def test_local_connection_needs_no_key_fields(app):
    assert not app.sidebar.text_input
    assert "no key" in _captions(app)


def test_openai_without_a_key_says_so_and_shows_no_traceback(app):
    _choose(app, "OpenAI")
    assert not app.exception
    key_input = app.sidebar.text_input(key=state.connection_field("api_key", "OpenAI"))
    assert key_input.proto.type == TextInputProto.PASSWORD
    assert "Key: not set" in _captions(app)
    assert "needs an API key" in _text(app.sidebar.error)
    # Without a model list the id can still be typed.
    assert app.sidebar.text_input(key=f"{state.MODEL_TYPED}::OpenAI")


def test_typed_key_is_masked_used_and_never_written(app, local_env, data_dir, clean_environment):
    _choose(app, "OpenAI")
    app.sidebar.text_input(key=state.connection_field("base_url", "OpenAI")).input(local_env)
    app.sidebar.text_input(key=state.connection_field("api_key", "OpenAI")).input(KEY).run()
    assert f"Key: {mask_key(KEY)} (typed in the sidebar)" in _captions(app)
    assert f"Endpoint: {local_env}" in _captions(app)
    # The typed base URL took effect: the models come from the local server.
    assert "smollm2-135m-instruct" in app.sidebar.selectbox(key=state.MODEL).options

    app.sidebar.text_input(key=state.SAVE_AS).input("Work gateway")
    _button(app, "Save connection").click().run()
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Work gateway"
    assert f"Key: {mask_key(KEY)} (typed in the sidebar)" in _captions(app)

    saved = json.loads((data_dir / "connections.json").read_text())
    assert [(c["name"], c["base_url"], c["kind"]) for c in saved] == [
        ("Work gateway", local_env, "openai")]
    assert KEY not in _shown_text(app)
    for folder in (data_dir, clean_environment):
        for path in folder.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path


def test_key_from_the_environment_or_secrets_is_named_as_such(app, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-000000000000001111")
    _choose(app, "OpenAI")
    assert "Key: sk-…1111 (from OPENAI_API_KEY in the environment or .env)" in _captions(app)
    app.secrets["OPENAI_API_KEY"] = "sk-secret-00000000002222"
    app.run()
    assert "Key: sk-…2222 (from .streamlit/secrets.toml)" in _captions(app)


def test_key_from_a_dotenv_file(app, clean_environment):
    (clean_environment / ".env").write_text("OPENAI_API_KEY=sk-dotenv-0000000003333\n")
    _choose(app, "OpenAI")
    assert "Key: sk-…3333 (from OPENAI_API_KEY in the environment or .env)" in _captions(app)


@pytest.mark.parametrize("source, words", [
    ("typed", "typed in the sidebar"),
    ("connection", "given with the connection"),
    ("secrets", "from .streamlit/secrets.toml"),
    ("environment", "from OPENAI_API_KEY in the environment or .env"),
])
def test_key_caption_names_the_source_resolve_reported(source, words):
    conn = Connection("OpenAI", kind="openai", api_key=KEY, key_source=source)
    assert key_caption(conn) == f"Key: {mask_key(KEY)} ({words})"


def test_key_caption_without_a_key():
    assert key_caption(preset("OpenAI")) == "Key: not set"
    assert key_caption(preset("Ollama")) == "Key: none (this server may not need one)"


def test_a_keyless_server_says_it_may_not_need_a_key(app):
    _choose(app, "Ollama")
    assert "Key: none (this server may not need one)" in _captions(app)


def test_delete_a_saved_connection_falls_back_to_local(app, local_env, data_dir):
    _choose(app, "vLLM")
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(local_env)
    app.sidebar.text_input(key=state.SAVE_AS).input("My vLLM")
    _button(app, "Save connection").click().run()
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "My vLLM"
    _button(app, "Delete connection").click().run()
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Local models"
    assert "My vLLM" not in app.sidebar.selectbox(key=state.CONNECTION_NAME).options
    assert json.loads((data_dir / "connections.json").read_text()) == []


def test_local_models_cannot_be_overwritten(app):
    _choose(app, "Ollama")
    app.sidebar.text_input(key=state.SAVE_AS).input("Local models")
    _button(app, "Save connection").click().run()
    assert "built in" in _text(app.sidebar.info)
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Ollama"


def test_test_connection_reports_success_and_failure(app, recorder):
    _button(app, "Test connection").click().run()
    assert _text(app.sidebar.success).startswith("Connected: 2 models")
    _choose(app, "llama.cpp server")
    recorder.shutdown()
    recorder.server_close()
    app.sidebar.text_input(key=state.connection_field("base_url", "llama.cpp server")).input(
        recorder.base_url).run()
    _button(app, "Test connection").click().run()
    assert not app.exception
    assert "Could not connect" in _text(app.sidebar.error)
    assert "Check the base URL" in _captions(app)


def test_model_choice_survives_page_switches(app):
    app.sidebar.selectbox(key=state.MODEL).select("gemma-3-270m").run()
    app.switch_page("pages/models.py").run()
    app.switch_page("pages/completions.py").run()
    assert app.sidebar.selectbox(key=state.MODEL).value == "gemma-3-270m"


def test_models_are_listed_once_until_refreshed(app, recorder):
    _choose(app, "LM Studio")
    app.sidebar.text_input(key=state.connection_field("base_url", "LM Studio")).input(
        recorder.base_url).run()
    app.switch_page("pages/models.py").run()
    app.switch_page("pages/completions.py").run()
    listings = [path for _, path, _ in recorder.requests if path == "/v1/models"]
    assert listings == ["/v1/models"]
    _button(app, "Refresh models").click().run()
    _button(app, "Test connection").click().run()
    listings = [path for _, path, _ in recorder.requests if path == "/v1/models"]
    assert len(listings) == 4  # refresh lists again; the test lists, and so does the picker
