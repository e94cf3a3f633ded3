"""AppTest fixtures: the app on the shared local test server, and a recording endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"
OPENAI_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID")


@pytest.fixture
def clean_environment(tmp_path, monkeypatch):
    """No OpenAI settings from the machine, no .env or secrets.toml from the repo."""
    for name in OPENAI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def navigation_mode(monkeypatch):
    """Make AppTest run app.py on every run, as the server does.

    Because of the ``pages/`` folder, AppTest re-enters Streamlit's older multipage mode
    before each run and, after ``switch_page``, runs the page file without app.py (which
    ``ui.common.pages.within_app`` then runs). The server leaves that mode for good once
    ``st.navigation`` has run. The older mode itself is tested on purpose in test_pages.py.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def app(local_env, data_dir, clean_environment, navigation_mode) -> AppTest:
    """The app after its first run, on the Completions page with the local models."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.requests: list[tuple[str, str, dict]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def posts(self) -> list[tuple[str, dict]]:
        return [(path, body) for method, path, body in self.requests if method == "POST"]


class _RecordingHandler(BaseHTTPRequestHandler):
    """Lists one completions-only model; answers every POST with one choice, recording it."""

    server: _Recorder

    def do_GET(self):
        self.server.requests.append(("GET", self.path, {}))
        model = {"id": "recorded-model", "object": "model", "created": 0, "owned_by": "test",
                 "endpoints": ["completions"]}
        self._answer(model if self.path.endswith(model["id"]) else
                     {"object": "list", "data": [model]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(("POST", self.path, body))
        self._answer({"id": "cmpl-1", "object": "text_completion", "created": 0,
                      "model": body.get("model", ""),
                      "choices": [{"index": 0, "text": "recorded", "finish_reason": "stop",
                                   "logprobs": None}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def _answer(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    """A loopback endpoint that records every request it gets."""
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
