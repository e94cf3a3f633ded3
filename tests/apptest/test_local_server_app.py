"""The local server as the app itself starts it: the real launcher, not PLAYGROUND_LOCAL_URL.

One app session starts the server, sends a completion, sees the server killed and restarted
on its next request, and shows a model file that fails to load by its path. The server
listens on loopback only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.local import launcher
from ui import params, state

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def launched(data_dir, clean_environment, navigation_mode, monkeypatch):
    """The app with its own launcher, and a broken model file in the data folder."""
    monkeypatch.delenv(launcher.URL_VARIABLE, raising=False)
    monkeypatch.setattr(launcher, "_server", None)  # a launcher of this test's own
    models = data_dir / "models"
    models.mkdir()
    (models / "broken.gguf").write_bytes(b"GGUF but not really a model")
    at = AppTest.from_file(str(APP), default_timeout=180)
    try:
        yield at
    finally:
        if launcher._server is not None:
            launcher._server.stop()


def run(at, prompt: str):
    at.text_area(key=state.COMPLETIONS_PROMPT).input(prompt)
    at.get_by_key(params.widget_key("completions", "max_tokens")).set_value(3)
    at.get_by_key(params.widget_key("completions", "temperature")).set_value(0.0)
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def outputs(at) -> list[str]:
    return [code.value for code in at.code if code.language == "plaintext"]


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
    assert server.base_url.startswith("http://127.0.0.1:")
    if Path("/proc/net/tcp").exists():
        assert listening_hosts(port) == {"0100007F"}, "listens on 127.0.0.1 only"

    run(at, "Hello")
    (text,) = outputs(at)
    assert text.strip() and not at.error

    first.kill()
    first.wait(timeout=10)
    run(at, "Hello again")
    assert server.process is not first and server.process.poll() is None
    assert outputs(at) and not at.error, [e.value for e in at.error]

    at.sidebar.selectbox(key=state.MODEL).select("broken").run()
    run(at, "Hello")
    shown = " ".join(e.value.replace("\\", "") for e in at.error)
    assert shown.startswith("The local server could not load the model (500)")
    assert str(data_dir / "models" / "broken.gguf") in shown
    assert any("replace or remove it" in c.value for c in at.caption)
    assert "Traceback" not in shown
    assert (data_dir / "local-server.log").exists()
