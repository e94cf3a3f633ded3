"""The app's launcher: one server on a stable port, reused, and a crash reported as a crash.

The real server shows the port and the restart; a stand-in (tests/crashing_server.py) that
kills itself with SIGSEGV, at load or on a request, shows how crashes reach the core's
callers: the runner, Test connection and the model listing.
"""

from __future__ import annotations

import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from playground import connection, runner
from playground.connection import LOCAL_NAME, list_models, preset, retrieve_model
from playground.errors import LocalServerCrashed, LocalServerFailed
from playground.local import launcher
from playground.local.launcher import (
    COMMAND_VARIABLE,
    DEFAULT_PORT,
    PORT_VARIABLE,
    URL_VARIABLE,
    LocalServer,
    cause_of,
    free_port,
)

STAND_IN = Path(__file__).resolve().parents[1] / "crashing_server.py"
CRASHED = "The local model server crashed (SIGSEGV) while answering; it has been restarted."
LOCAL = preset(LOCAL_NAME)


def stand_in(*options: str) -> list[str]:
    return [sys.executable, str(STAND_IN), *options]


@pytest.fixture
def no_external(data_dir, monkeypatch):
    for name in (URL_VARIABLE, COMMAND_VARIABLE, PORT_VARIABLE):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(no_external):
    launched = LocalServer(port=free_port())
    yield launched
    launched.stop()


@pytest.fixture
def app_server(no_external, monkeypatch):
    """Makes the app's own launcher one running the given stand-in command."""
    made: list[LocalServer] = []

    def install(*options: str) -> LocalServer:
        made.append(LocalServer(command=stand_in(*options), port=free_port()))
        monkeypatch.setattr(launcher, "_server", made[-1])
        return made[-1]

    yield install
    for launched in made:
        launched.stop()


def complete(stream: bool = False) -> runner.RunResult:
    request = runner.build_request("completions", "crash-model", {"stream": stream},
                                   prompt="Hello")
    return runner.run(LOCAL, "completions", request)


def test_listens_on_the_port_it_prefers_and_is_reused(server):
    url = server.ensure_running()
    assert url == f"http://127.0.0.1:{server.preferred_port}/v1" == server.planned_url()
    assert not server.fell_back
    pid = server.process.pid
    assert server.ensure_running() == url
    assert server.process.pid == pid
    models = openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()
    assert "smollm2-135m-instruct" in [m.id for m in models]


def test_a_killed_server_is_started_again_at_the_same_address(server):
    url = server.ensure_running()
    server.process.kill()
    server.process.wait()
    assert server.ensure_running() == url
    assert server.process.poll() is None
    assert openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()
    assert [crash.cause for crash in server.crashes] == ["SIGKILL"]


def test_an_external_server_is_used_instead(server, monkeypatch):
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:9/v1")
    assert server.ensure_running() == "http://127.0.0.1:9/v1"
    assert server.planned_url() == "http://127.0.0.1:9/v1"
    assert URL_VARIABLE in server.address_note()
    assert server.process is None


def test_the_default_port_is_stable_and_the_variables_choose_another(no_external, monkeypatch):
    assert LocalServer().preferred_port == DEFAULT_PORT
    monkeypatch.setenv(PORT_VARIABLE, "9123")
    assert LocalServer().preferred_port == 9123
    monkeypatch.setenv(PORT_VARIABLE, "eighty")
    with pytest.raises(LocalServerFailed, match="PLAYGROUND_LOCAL_PORT='eighty' is not a port"):
        LocalServer()
    monkeypatch.setenv(COMMAND_VARIABLE, f"'{sys.executable}' {STAND_IN} --crash-on /x")
    assert LocalServer(port=1).command == stand_in("--crash-on", "/x")


def test_a_taken_port_falls_back_to_a_free_one_and_says_so(no_external):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        fallback = LocalServer(command=stand_in(), port=busy)
        try:
            url = fallback.ensure_running(timeout=30)
            assert fallback.fell_back and fallback.port != busy
            assert url == f"http://127.0.0.1:{fallback.port}/v1"
            note = fallback.address_note()
            assert f"Port {busy} is taken" in note
            assert f"python -m playground.local --port {fallback.port}" in note
            assert openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()
        finally:
            fallback.stop()


def test_a_server_that_cannot_start_is_reported_with_its_log(no_external):
    broken = LocalServer(command=[sys.executable, "-c", "print('no engine'); raise SystemExit(3)"],
                         port=free_port())
    with pytest.raises(LocalServerCrashed) as caught:
        broken.ensure_running(timeout=30)
    assert str(caught.value) == "The local model server crashed (exit code 3) while starting."
    assert caught.value.log_path.endswith("local-server.log")
    assert caught.value.log_tail == "no engine"
    assert broken.process is None


def test_return_codes_in_words():
    assert cause_of(-11) == "SIGSEGV"
    assert cause_of(-9) == "SIGKILL"
    assert cause_of(3) == "exit code 3"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_crash_while_answering_is_named_with_the_log_and_the_next_run_works(
        app_server, data_dir, tmp_path, stream):
    server = app_server("--crash-on", "/v1/completions",
                        "--armed-while-missing", str(tmp_path / "crashed-once"))
    with pytest.raises(LocalServerCrashed) as caught:
        complete(stream)
    crash = caught.value
    assert str(crash) == CRASHED
    assert "PLAYGROUND_SAFE_ENGINE=1" in crash.hint
    assert "crashing_server: POST /v1/completions: SIGSEGV" in crash.log_tail
    assert crash.log_tail.count("\n") < launcher.LOG_TAIL_LINES
    assert crash.log_path == str(data_dir / "local-server.log")
    assert server.process is not None and server.process.poll() is None, "restarted at once"
    assert complete(stream).text == "stand-in reply"


def test_requests_out_together_name_the_one_crash_behind_them(app_server, tmp_path):
    server = app_server("--crash-on", "/v1/completions",
                        "--armed-while-missing", str(tmp_path / "crashed-once"))
    server.ensure_running()

    def outcome(_) -> str:
        try:
            return complete().text
        except LocalServerCrashed as crash:
            return str(crash)

    with ThreadPoolExecutor(4) as pool:  # as a Compare grid's cells are sent
        outcomes = list(pool.map(outcome, range(4)))
    assert CRASHED in outcomes
    assert set(outcomes) <= {CRASHED, "stand-in reply"}
    assert len(server.crashes) == 1 and server.process.poll() is None


def test_test_connection_and_the_model_list_report_a_crash(app_server, tmp_path):
    marker = tmp_path / "crashed-once"
    app_server("--crash-on", "/v1/models", "--armed-while-missing", str(marker))
    report = connection.check_connection(LOCAL)
    assert not report.ok and report.error_kind == "LocalServerCrashed"
    assert report.message == CRASHED
    assert "GET /v1/models: SIGSEGV" in report.error.log_tail
    assert connection.check_connection(LOCAL).ok

    marker.unlink()
    with pytest.raises(LocalServerCrashed, match="crashed \\(SIGSEGV\\) while answering"):
        list_models(LOCAL)
    assert [model["id"] for model in list_models(LOCAL)] == ["crash-model"]


def test_a_model_s_details_report_a_crash(app_server, tmp_path):
    app_server("--crash-on", "/v1/models/", "--armed-while-missing", str(tmp_path / "once"))
    with pytest.raises(LocalServerCrashed) as caught:
        retrieve_model(LOCAL, "crash-model")
    assert str(caught.value) == CRASHED
    assert "GET /v1/models/crash-model: SIGSEGV" in caught.value.log_tail
    assert retrieve_model(LOCAL, "crash-model")["id"] == "crash-model"


def test_a_crash_at_load_is_named_and_the_next_start_is_tried(app_server, tmp_path):
    server = app_server("--crash-at-load", "--armed-while-missing", str(tmp_path / "once"))
    with pytest.raises(LocalServerCrashed) as caught:
        server.ensure_running(timeout=30)
    assert str(caught.value) == "The local model server crashed (SIGSEGV) while starting."
    assert "crashing_server: at load: SIGSEGV" in caught.value.log_tail
    assert "loading on port" in caught.value.log_tail
    assert server.ensure_running(timeout=30) == server.base_url


def test_three_crashes_at_load_within_a_minute_stop_the_restarts(app_server):
    server = app_server("--crash-at-load")
    for _ in range(2):
        with pytest.raises(LocalServerCrashed, match="while starting"):
            server.ensure_running(timeout=30)
    for _ in range(2):  # the third crash, then no fourth start
        with pytest.raises(LocalServerCrashed) as caught:
            server.ensure_running(timeout=30)
        assert str(caught.value) == ("The local model server crashed 3 times within a minute "
                                     "(last: SIGSEGV while starting), so it is not started "
                                     "again.")
        assert "PLAYGROUND_SAFE_ENGINE=1" in caught.value.hint
        assert "restart the app" in caught.value.hint
    assert server.process is None
    assert Path(caught.value.log_path).read_text().count("at load: SIGSEGV") == 3


def test_three_crashes_while_answering_are_not_restarted_in_a_loop(app_server):
    server = app_server("--crash-on", "/v1/completions")
    for _ in range(2):
        with pytest.raises(LocalServerCrashed, match="it has been restarted"):
            complete()
    with pytest.raises(LocalServerCrashed) as caught:
        complete()
    assert "crashed 3 times within a minute (last: SIGSEGV while answering)" in str(caught.value)
    assert "PLAYGROUND_SAFE_ENGINE=1" in caught.value.hint
    assert server.process is None
    with pytest.raises(LocalServerCrashed, match="not started again"):
        server.ensure_running()
    with pytest.raises(LocalServerCrashed, match="not started again"):
        complete()
