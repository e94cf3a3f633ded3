"""The app's launcher starts the local server once, reuses it, and restarts it if it died."""

from __future__ import annotations

import sys

import openai
import pytest

from playground.errors import LocalServerFailed
from playground.local.launcher import URL_VARIABLE, LocalServer


@pytest.fixture
def server(data_dir, monkeypatch):
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    launched = LocalServer()
    yield launched
    launched.stop()


def test_starts_on_a_free_loopback_port_and_is_reused(server):
    url = server.ensure_running()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    pid = server.process.pid
    assert server.ensure_running() == url
    assert server.process.pid == pid
    models = openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()
    assert "smollm2-135m-instruct" in [m.id for m in models]


def test_a_killed_server_is_started_again(server):
    server.ensure_running()
    server.process.kill()
    server.process.wait()
    url = server.ensure_running()
    assert server.process.poll() is None
    assert openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()


def test_an_external_server_is_used_instead(server, monkeypatch):
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:9/v1")
    assert server.ensure_running() == "http://127.0.0.1:9/v1"
    assert server.process is None


def test_a_server_that_cannot_start_is_reported_with_its_log(data_dir, monkeypatch):
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    broken = LocalServer(command=[sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(LocalServerFailed) as caught:
        broken.ensure_running(timeout=30)
    assert "exited with code 3" in str(caught.value)
    assert "local-server.log" in caught.value.hint
    assert broken.process is None
