"""The local server as the app itself starts it: the real launcher, not PLAYGROUND_LOCAL_URL.

One app session starts the server, shows its address, sends a completion, sees the server
killed and restarted on its next request, and shows a model file that fails to load by its
path. The server listens on loopback only. A stand-in server (tests/crashing_server.py,
run through PLAYGROUND_LOCAL_SERVER_COMMAND) that dies with SIGSEGV shows the crash on
Completions, in Test connection and on the Models page, and the next try working.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.local import launcher
from ui.chat import keys as chat_keys
from ui.common import pages, params, state
from ui.common.errors import LOG_TAIL_LABEL
from ui.completions import keys as completions_keys

APP = Path(__file__).resolve().parents[2] / "app.py"
STAND_IN = Path(__file__).resolve().parents[1] / "crashing_server.py"
CRASHED = "The local model server crashed (SIGSEGV) while answering; it has been restarted."


@pytest.fixture
def own_launcher(data_dir, clean_environment, navigation_mode, monkeypatch):
    """A launcher of this test's own, on a port of its own; stopped afterwards."""
    monkeypatch.delenv(launcher.URL_VARIABLE, raising=False)
    monkeypatch.delenv(launcher.COMMAND_VARIABLE, raising=False)
    monkeypatch.setenv(launcher.PORT_VARIABLE, str(launcher.free_port()))
    monkeypatch.setattr(launcher, "_server", None)
    try:
        yield
    finally:
        if launcher._server is not None:
            launcher._server.stop()


@pytest.fixture
def launched(own_launcher, data_dir):
    """The app with its own launcher, and a broken model file in the data folder."""
    models = data_dir / "models"
    models.mkdir()
    (models / "broken.gguf").write_bytes(b"GGUF but not really a model")
    return AppTest.from_file(str(APP), default_timeout=180)


@pytest.fixture
def crashing(own_launcher, tmp_path, monkeypatch):
    """The app on the stand-in that crashes on the first request to ``path`` after the
    returned marker file is deleted (it exists at first)."""

    def on(path: str) -> tuple[AppTest, Path]:
        marker = tmp_path / "armed-once"
        marker.touch()
        command = [sys.executable, str(STAND_IN), "--crash-on", path,
                   "--armed-while-missing", str(marker)]
        monkeypatch.setenv(launcher.COMMAND_VARIABLE, shlex.join(command))
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at, marker

    return on


def run(at, prompt: str):
    at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input(prompt)
    at.get_by_key(params.widget_key("completions", "max_tokens")).set_value(3)
    at.get_by_key(params.widget_key("completions", "temperature")).set_value(0.0)
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def outputs(at) -> list[str]:
    return [code.value for code in at.code if code.language == "plaintext"]


def shown(elements) -> str:
    return " ".join(element.value.replace("\\", "") for element in elements)


def assert_crash_shown(at, within, request: str) -> None:
    """The crash's message, hint, log path and log tail, where ``within`` shows them."""
    assert CRASHED in shown(within.error), shown(at.error)
    captions = shown(within.caption)
    assert "PLAYGROUND_SAFE_ENGINE=1" in captions
    assert "Server log: " in captions and "local-server.log" in captions
    (tail,) = [e for e in within.expander if e.label == LOG_TAIL_LABEL]
    assert f"crashing_server: {request}: SIGSEGV" in tail.code[0].value
    assert "Traceback" not in shown(at.error)


def listening_hosts(port: int) -> set[str]:
    """The addresses a TCP port listens on, from /proc/net/tcp (IPv4) and tcp6."""
    hosts = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, _remote, status = line.split()[1:4]
            address, port_hex = local.split(":")
            if int(port_hex, 16) == port and status == "0A":  # LISTEN
                hosts.add(address)
    return hosts


def test_a_killed_server_is_restarted_and_a_broken_model_is_named(launched, data_dir):
    at = launched
    at.run()
    assert not at.exception
    assert "broken" in at.sidebar.selectbox(key=state.MODEL).options
    server = launcher.local_server()
    first = server.process
    port = int(server.base_url.split(":")[2].split("/")[0])
    assert server.base_url == f"http://127.0.0.1:{port}/v1" and port == server.preferred_port
    captions = shown(at.sidebar.caption)
    assert f"Endpoint: {server.base_url}" in captions
    assert f"python -m playground.local --port {port}" in captions
    if Path("/proc/net/tcp").exists():
        assert listening_hosts(port) == {"0100007F"}, "listens on 127.0.0.1 only"

    run(at, "Hello")
    (text,) = outputs(at)
    assert text.strip() and not at.error
    (python,) = [code.value for code in at.code if code.language == "python"]
    assert f'base_url="{server.base_url}"' in python, "View code uses the address shown"

    first.kill()
    first.wait(timeout=10)
    run(at, "Hello again")
    assert server.process is not first and server.process.poll() is None
    assert outputs(at) and not at.error, [e.value for e in at.error]

    at.sidebar.selectbox(key=state.MODEL).select("broken").run()
    run(at, "Hello")
    errors = shown(at.error)
    assert errors.startswith("The local server could not load the model (500)")
    assert str(data_dir / "models" / "broken.gguf") in errors
    assert any("replace or remove it" in c.value for c in at.caption)
    assert "Traceback" not in errors
    assert (data_dir / "local-server.log").exists()


def test_a_crash_on_completions_is_shown_as_one_and_the_next_run_works(crashing):
    at, marker = crashing("/v1/completions")
    marker.unlink()
    run(at, "Hello")
    assert_crash_shown(at, at.main, "POST /v1/completions")
    assert not outputs(at)
    prompt = at.text_area(key=completions_keys.COMPLETIONS_PROMPT)
    assert prompt.value == "Hello", "what was typed stays"

    run(at, "Hello")
    assert outputs(at) == ["stand-in reply"] and not at.error


def test_test_connection_reports_a_crash(crashing):
    at, marker = crashing("/v1/models")
    marker.unlink()
    next(b for b in at.sidebar.button if b.label == "Test connection").click().run()
    assert not at.exception
    assert_crash_shown(at, at.sidebar, "GET /v1/models")

    next(b for b in at.sidebar.button if b.label == "Test connection").click().run()
    assert "Connected: 1 models" in shown(at.sidebar.success)


def test_the_models_page_reports_a_crash(crashing):
    at, marker = crashing("/v1/models/")
    marker.unlink()
    at.switch_page(pages.MODELS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert_crash_shown(at, at.main, "GET /v1/models/crash-model")
    assert list(at.dataframe[0].value["id"]) == ["crash-model"], "the list is still shown"


def test_a_crash_in_chat_is_shown_and_the_next_message_is_answered(crashing):
    at, marker = crashing("/v1/chat/completions")
    at.switch_page(pages.CHAT).run()
    marker.unlink()
    at.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello").run()
    assert not at.exception, [e.value for e in at.exception]
    assert_crash_shown(at, at.main, "POST /v1/chat/completions")

    at.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello again").run()
    assert not at.error, shown(at.error)
    assert "stand-in reply" in [block.value for message in at.chat_message
                                for block in message.code]
