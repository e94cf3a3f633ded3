"""Every network and endpoint fault, through the core as the pages call it: ``Recorder.run``.

Each case is a real HTTP exchange with the fault server (or a refused, unresolvable or
unaccepting address, all on loopback). Every failure must leave as a ``PlaygroundError``
whose message says what happened and whose hint says what to do; streams keep what arrived;
retries are bounded and counted at the server; every request lands in the ledger.
"""

from __future__ import annotations

import time

import pytest

from fault_server import UNRESOLVABLE_URL, FaultServer, Unaccepting, closed_port_url
from playground import errors
from playground.connection import Connection, check_connection, list_models
from playground.recording import Recorder

CHAT = {"model": "fault-model", "messages": [{"role": "user", "content": "Say something"}]}
PROMPT = {"model": "fault-model", "prompt": "Once upon a time"}
REPLY = FaultServer().reply


@pytest.fixture(scope="module")
def server():
    with FaultServer(hang_seconds=3.0, retry_after=0.1) as url:
        yield url


@pytest.fixture
def recorder(tmp_path) -> Recorder:
    return Recorder(page="Reliability", ledger_path=tmp_path / "ledger.sqlite3")


def conn_to(url: str, *, timeout: float = 1.0, retries: int = 0) -> Connection:
    return Connection("Faulty", base_url=url, api_key="sk-reliability-test-key-0001",
                      timeout=timeout, max_retries=retries)


def ledger_rows(recorder: Recorder) -> list[dict]:
    assert recorder.usage_ledger.flush(10)
    with recorder.usage_ledger.reading() as db:
        db.row_factory = None
        cursor = db.execute("SELECT status, error_kind, error_message FROM requests ORDER BY id")
        return [dict(zip(("status", "error_kind", "error_message"), row)) for row in cursor]


def with_fault(request: dict, fault: str, **extra) -> dict:
    return {**request, **extra, "extra_headers": {"X-Fault": fault}}


def fails(recorder: Recorder, conn: Connection, request: dict, endpoint: str = "chat"):
    with pytest.raises(errors.PlaygroundError) as raised:
        recorder.run(conn, endpoint, request)
    error = raised.value
    assert error.hint, "every failure says what to do"
    assert "Traceback" not in str(error) and "<html" not in str(error).lower()
    return error


# Faults answered over HTTP: (behaviour, error class, words of the message, words of the hint)
STATUS_CASES = [
    ("401", errors.AuthenticationFailed, "refused the API key (401)", "Check the API key"),
    ("403", errors.PermissionDenied, "Access denied (403)", "may not use this model"),
    ("404", errors.ModelNotFound, "Not found (404)", "Pick a model"),
    ("400", errors.BadRequest, "(400) [temperature]", "Change the named parameter"),
    ("413", errors.ContextTooLong, "Too long for the model's context (413)", "Shorten the prompt"),
    ("context", errors.ContextTooLong, "maximum context length", "Shorten the prompt"),
    ("429", errors.RateLimited, "Rate limited (429)", "Wait a moment"),
    ("429-retry-after", errors.RateLimited, "Rate limited (429)", "Wait a moment"),
    ("500", errors.ServerFailed, "The server failed (500)", "try again"),
    ("502", errors.ServerFailed, "The server failed (502) and sent no API error", "try again"),
    ("503", errors.ServerFailed, "The server failed (503)", "try again"),
    ("not-json", errors.ServerFailed, "not JSON", "try again"),
]


@pytest.mark.parametrize("endpoint, request_", [("chat", CHAT), ("completions", PROMPT)],
                         ids=["chat", "completions"])
@pytest.mark.parametrize("fault, kind, message, hint", STATUS_CASES,
                         ids=[case[0] for case in STATUS_CASES])
def test_an_http_fault_is_a_clear_error_and_is_recorded(server, recorder, endpoint, request_,
                                                        fault, kind, message, hint):
    error = fails(recorder, conn_to(server), with_fault(request_, fault), endpoint)
    assert type(error) is kind
    assert message in str(error) and hint in error.hint
    (row,) = ledger_rows(recorder)
    assert (row["status"], row["error_kind"]) == ("error", kind.__name__)


def test_an_unknown_model_is_model_not_found_naming_it(server, recorder):
    error = fails(recorder, conn_to(server), {**CHAT, "model": "no-such-model"})
    assert type(error) is errors.ModelNotFound
    assert "no-such-model" in str(error) and "Models page" in error.hint


def test_the_400_names_the_parameter(server, recorder):
    error = fails(recorder, conn_to(server), with_fault(CHAT, "400"))
    assert error.param == "temperature"


def test_retry_after_is_kept_for_the_message(server, recorder):
    error = fails(recorder, conn_to(server), with_fault(CHAT, "429-retry-after"))
    assert error.retry_after == pytest.approx(0.1)


# Faults below HTTP -------------------------------------------------------------------------

def test_connection_refused(recorder):
    error = fails(recorder, conn_to(closed_port_url()), CHAT)
    assert type(error) is errors.ConnectionFailed
    assert "Could not connect to the endpoint" in str(error) and "refused" in str(error)
    assert "base URL" in error.hint and "running" in error.hint
    assert ledger_rows(recorder)[0]["error_kind"] == "ConnectionFailed"


def test_dns_failure_says_the_host_name_does_not_resolve(recorder):
    error = fails(recorder, conn_to(UNRESOLVABLE_URL), CHAT)
    assert type(error) is errors.ConnectionFailed
    assert "no-such-host.invalid" in str(error) and "does not resolve" in str(error)
    assert "host name" in error.hint


def test_connect_timeout_is_bounded_by_the_connections_timeout(recorder):
    with Unaccepting() as url:
        started = time.perf_counter()
        error = fails(recorder, conn_to(url, timeout=0.5), CHAT)
        elapsed = time.perf_counter() - started
    assert type(error) is errors.RequestTimedOut
    assert elapsed < 2.0, f"a 0.5 s connection waited {elapsed:.1f} s to connect"
    assert "connect" in str(error) and "reachable" in error.hint


def test_read_timeout_of_a_response_that_never_starts(server, recorder):
    started = time.perf_counter()
    error = fails(recorder, conn_to(server, timeout=0.5), with_fault(CHAT, "hang"))
    assert time.perf_counter() - started < 2.0
    assert type(error) is errors.RequestTimedOut
    assert "timed out" in str(error) and "raise the timeout" in error.hint


def test_a_body_cut_midway_says_the_connection_broke(server, recorder):
    error = fails(recorder, conn_to(server), with_fault(CHAT, "cut"))
    assert type(error) is errors.ConnectionFailed
    assert "broke off before" in str(error) and "Could not connect" not in str(error)
    assert "send again" in error.hint


# Streams -----------------------------------------------------------------------------------

STREAM = {"stream": True, "stream_options": {"include_usage": True}}


@pytest.mark.parametrize("endpoint, request_", [("chat", CHAT), ("completions", PROMPT)],
                         ids=["chat", "completions"])
def test_a_stream_cut_midway_keeps_what_arrived_marked_incomplete(server, recorder, endpoint,
                                                                  request_):
    arrived: list[str] = []
    result = recorder.run(conn_to(server), endpoint, with_fault(request_, "cut", **STREAM),
                          on_text=lambda index, delta: arrived.append(delta))
    assert result.incomplete and isinstance(result.error, errors.StreamInterrupted)
    assert result.text and REPLY.startswith(result.text) and result.text != REPLY
    assert "".join(arrived) == result.text == result.error.partial
    assert "broke off" in str(result.error) and "Could not connect" not in str(result.error)
    assert "kept and marked incomplete" in result.error.hint
    (row,) = ledger_rows(recorder)
    assert (row["status"], row["error_kind"]) == ("incomplete", "StreamInterrupted")


@pytest.mark.parametrize("fault", ["cut-quiet", "cut-mid-event"])
@pytest.mark.parametrize("endpoint, request_", [("chat", CHAT), ("completions", PROMPT)],
                         ids=["chat", "completions"])
def test_a_stream_cut_where_http_cannot_tell_is_recorded_incomplete(server, recorder, endpoint,
                                                                    request_, fault):
    result = recorder.run(conn_to(server), endpoint, with_fault(request_, fault, **STREAM))
    assert result.incomplete and isinstance(result.error, errors.StreamInterrupted)
    assert result.text and REPLY.startswith(result.text) and result.text != REPLY
    assert result.usage is None, "the usage chunk never came"
    assert "no finish reason" in str(result.error)
    assert "kept and marked incomplete" in result.error.hint
    (row,) = ledger_rows(recorder)
    assert (row["status"], row["error_kind"]) == ("incomplete", "StreamInterrupted")
    assert "no finish reason" in row["error_message"]


@pytest.mark.parametrize("fault", ["cut-quiet", "cut-mid-event"])
def test_a_body_cut_where_http_cannot_tell_is_a_server_failure(server, recorder, fault):
    error = fails(recorder, conn_to(server), with_fault(CHAT, fault))
    assert type(error) is errors.ServerFailed
    assert "ends midway through its JSON" in str(error) and "not JSON" not in str(error)
    assert "send again" in error.hint
    assert ledger_rows(recorder)[0]["error_kind"] == "ServerFailed"


def test_a_hanging_stream_is_bounded_by_the_connections_timeout(server, recorder):
    started = time.perf_counter()
    result = recorder.run(conn_to(server, timeout=0.5), "chat",
                          with_fault(CHAT, "hang", **STREAM))
    assert time.perf_counter() - started < 2.0, "the fault server hangs for 3 s"
    assert result.incomplete and result.text and REPLY.startswith(result.text)
    assert isinstance(result.error, errors.StreamInterrupted)
    assert "timed out" in str(result.error)
    assert "before the server answered" not in str(result.error), "it had answered, in part"


def test_a_stream_that_is_not_events_is_an_error_not_an_empty_reply(server, recorder):
    error = fails(recorder, conn_to(server), with_fault(CHAT, "not-json", **STREAM))
    assert type(error) is errors.ServerFailed
    assert "stream" in str(error)
    assert ledger_rows(recorder)[0]["error_kind"] == "ServerFailed"


# Retries -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, least_seconds", [("429", 0.5), ("429-retry-after", 0.15)])
def test_a_rate_limit_is_retried_with_backoff_up_to_the_limit_then_reported(
        recorder, fault, least_seconds):
    fault_server = FaultServer(fault=fault, retry_after=0.1)
    with fault_server as url:
        started = time.perf_counter()
        error = fails(recorder, conn_to(url, retries=2), CHAT)
        elapsed = time.perf_counter() - started
    assert type(error) is errors.RateLimited
    assert fault_server.count("/chat/completions") == 3, "one request and two retries"
    times = [received.at for received in fault_server.requests]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 0.08 for gap in gaps), f"retries wait between attempts: {gaps}"
    assert least_seconds <= elapsed < 5.0
    assert len(ledger_rows(recorder)) == 1, "the retries are one request to the user"


def test_a_rate_limit_that_clears_within_the_retries_succeeds(recorder):
    fault_server = FaultServer(fail_first=2, fail_with="429-retry-after", retry_after=0.05)
    with fault_server as url:
        result = recorder.run(conn_to(url, retries=2), "chat", CHAT)
    assert result.text == REPLY
    assert [r.behaviour for r in fault_server.requests] == ["429-retry-after"] * 2 + ["ok"]
    assert ledger_rows(recorder)[0]["status"] == "ok"


@pytest.mark.parametrize("fault", ["500", "502", "503"])
def test_server_errors_are_retried_to_the_limit(recorder, fault):
    fault_server = FaultServer(fault=fault)
    with fault_server as url:
        fails(recorder, conn_to(url, retries=1), CHAT)
    assert fault_server.count("/chat/completions") == 2


def test_a_client_error_is_not_retried(recorder):
    fault_server = FaultServer(fault="401")
    with fault_server as url:
        fails(recorder, conn_to(url, retries=2), CHAT)
    assert fault_server.count("/chat/completions") == 1


def test_after_a_fault_the_same_connection_works_at_once(server, recorder):
    conn = conn_to(server)
    for fault in ("503", "cut", "hang", "not-json"):
        try:
            recorder.run(conn, "chat", with_fault(CHAT, fault, **STREAM))
        except errors.PlaygroundError:
            pass
        assert recorder.run(conn, "chat", CHAT).text == REPLY


def test_the_key_goes_to_the_server_and_nowhere_in_the_ledger(recorder, tmp_path):
    fault_server = FaultServer()
    conn = conn_to("")
    with fault_server as url:
        conn = conn_to(url)
        for fault in ("ok", "401", "cut", "400"):
            try:
                recorder.run(conn, "chat", with_fault(CHAT, fault, **STREAM))
            except errors.PlaygroundError as error:
                assert conn.api_key not in str(error)
    assert {r.authorization for r in fault_server.requests} == {f"Bearer {conn.api_key}"}
    assert recorder.usage_ledger.flush(10) and recorder.usage_ledger.count() == 4
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert conn.api_key.encode() not in path.read_bytes(), path


# Listing models (the sidebar, the Models page, Test connection) ---------------------------

LISTING_CASES = [
    ("401", errors.AuthenticationFailed, "(401)", "Check the API key"),
    ("403", errors.PermissionDenied, "(403)", "access"),
    ("404", errors.ModelNotFound, "lists no models", "Check the base URL"),
    ("500", errors.ServerFailed, "(500)", "try again"),
    ("502", errors.ServerFailed, "(502) and sent no API error", "try again"),
    ("not-json", errors.ServerFailed, "not JSON", "try again"),
    ("cut", errors.ConnectionFailed, "broke off before", "send again"),
    ("hang", errors.RequestTimedOut, "timed out", "raise the timeout"),
]


@pytest.mark.parametrize("fault, kind, message, hint", LISTING_CASES,
                         ids=[case[0] for case in LISTING_CASES])
def test_a_listing_failure_is_a_clear_error_and_a_clear_report(fault, kind, message, hint):
    with FaultServer(fault=fault, hang_seconds=2.0) as url:
        conn = conn_to(url, timeout=0.5)
        with pytest.raises(errors.PlaygroundError) as raised:
            list_models(conn)
        report = check_connection(conn)
    error = raised.value
    assert type(error) is kind and message in str(error) and hint in error.hint
    assert not report.ok and report.error_kind == kind.__name__
    assert message in report.message and hint in report.hint


def test_a_server_that_quotes_the_key_back_never_gets_it_into_a_message(recorder):
    with FaultServer(fault="401", echo_key=True) as url:
        conn = conn_to(url)
        for stream in (False, True):
            error = fails(recorder, conn, {**CHAT, **(STREAM if stream else {})})
            assert conn.api_key not in str(error) and "[key hidden]" in str(error)
        with pytest.raises(errors.AuthenticationFailed) as raised:
            list_models(conn)
        assert conn.api_key not in str(raised.value)
        assert conn.api_key not in check_connection(conn).message


def test_a_rate_limited_compare_cell_fails_alone_after_bounded_attempts():
    from playground.compare import Axis, Grid, run_grid

    server = FaultServer(faults_by_model={"fault-model-b": "429-retry-after"}, retry_after=0.05)
    with server as url:
        conn = conn_to(url, retries=1)
        grid = Grid("chat", {"max_tokens": 3},
                    [Axis.parse("model", "fault-model, fault-model-b")],
                    connection=conn.name, messages=CHAT["messages"])
        result = run_grid(grid, lambda name: conn, max_workers=2, rate_limit_requeues=1)
    ok, limited = result.cells
    assert ok.status == "ok" and ok.samples[0].text == "The quick brown"  # max_tokens 3
    assert limited.status == "failed" and isinstance(limited.error, errors.RateLimited)
    attempts = sum(1 for r in server.requests if r.model == "fault-model-b")
    assert attempts == 2 * 2, "one SDK retry, within one requeue of the cell: four, no more"
