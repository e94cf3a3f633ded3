"""``errors.from_openai`` on exceptions the real SDK raises against loopback fault servers.

Nothing in the SDK is patched: each case is a real HTTP answer from a tiny server in a
thread, so a change in how the SDK builds its exceptions shows up here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from playground import errors


def _api_error(message: str, *, param: str | None = None, code: str | None = None,
               kind: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": param,
                                 "code": code}}).encode()


# first path segment -> (status, extra headers, body, content type)
ROUTES: dict[str, tuple[int, dict[str, str], bytes, str]] = {
    "401": (401, {}, _api_error("Incorrect API key provided: sk-…abcd.", code="invalid_api_key"),
            "application/json"),
    "403": (403, {}, _api_error("You are not allowed to use this model."), "application/json"),
    "404": (404, {}, _api_error("The model 'nope' does not exist.", param="model",
                                code="model_not_found"), "application/json"),
    "400": (400, {}, _api_error("-1 is less than the minimum of 0", param="temperature",
                                code="invalid_value"), "application/json"),
    "400ctx": (400, {}, _api_error("This model's maximum context length is 8192 tokens.",
                                   param="messages", code="context_length_exceeded"),
               "application/json"),
    "413": (413, {}, _api_error("Request too large."), "application/json"),
    "422": (422, {}, _api_error("Unprocessable value.", param="stop"), "application/json"),
    "429": (429, {"Retry-After": "7"}, _api_error("Rate limit reached.", kind="requests"),
            "application/json"),
    "429date": (429, {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"},
                _api_error("Rate limit reached."), "application/json"),
    "500": (500, {}, _api_error("The server had an error while processing your request.",
                                kind="server_error"), "application/json"),
    "500json": (500, {}, _api_error("Could not parse the upstream model's JSON answer.",
                                    kind="server_error"), "application/json"),
    "502": (502, {}, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append((self.command, self.path))  # type: ignore[attr-defined]
        route = self.path.strip("/").split("/")[0]
        if route == "slow":
            time.sleep(1.5)
            status, headers, ctype = 200, {}, "application/json"
            body = b'{"object": "list", "data": []}'
        else:
            status, headers, body, ctype = ROUTES[route]
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout case)

    do_GET = do_POST = _answer  # noqa: N815 - the names http.server calls

    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="module")
def fault_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sdk_error(server, route: str, *, timeout: float = 5.0) -> openai.OpenAIError:
    """Make one real chat request through the SDK and return what it raised."""
    host, port = server.server_address
    client = openai.OpenAI(base_url=f"http://{host}:{port}/{route}/v1", api_key="sk-test",
                           max_retries=0, timeout=timeout)
    with pytest.raises(openai.OpenAIError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    return raised.value


def translate(server, route: str, **kwargs) -> errors.PlaygroundError:
    error = errors.from_openai(sdk_error(server, route, **kwargs))
    assert isinstance(error, errors.PlaygroundError)
    assert error.hint, "every error reaching the UI carries a hint"
    return error


def test_401_is_authentication_failed(fault_server):
    error = translate(fault_server, "401")
    assert type(error) is errors.AuthenticationFailed
    assert error.status == 401
    assert "401" in str(error) and "Incorrect API key provided" in str(error)
    assert "API key" in error.hint


def test_403_is_permission_denied(fault_server):
    error = translate(fault_server, "403")
    assert type(error) is errors.PermissionDenied
    assert error.status == 403 and "not allowed to use this model" in str(error)


def test_404_is_model_not_found(fault_server):
    error = translate(fault_server, "404")
    assert type(error) is errors.ModelNotFound
    assert "does not exist" in str(error) and error.status == 404


def test_400_names_the_param(fault_server):
    error = translate(fault_server, "400")
    assert type(error) is errors.BadRequest
    assert error.param == "temperature"
    assert "[temperature]" in str(error) and "less than the minimum" in str(error)
    assert error.status == 400


def test_400_context_length_code_is_context_too_long(fault_server):
    error = translate(fault_server, "400ctx")
    assert type(error) is errors.ContextTooLong
    assert isinstance(error, errors.BadRequest)
    assert error.param == "messages" and "maximum context length" in str(error)
    assert "Shorten the prompt" in error.hint


def test_413_is_context_too_long(fault_server):
    error = translate(fault_server, "413")
    assert type(error) is errors.ContextTooLong
    assert error.status == 413 and "Request too large" in str(error)


def test_422_is_a_bad_request(fault_server):
    error = translate(fault_server, "422")
    assert type(error) is errors.BadRequest and error.param == "stop"


def test_429_keeps_retry_after(fault_server):
    error = translate(fault_server, "429")
    assert type(error) is errors.RateLimited
    assert error.retry_after == 7.0
    assert "Rate limit reached" in str(error) and error.status == 429


def test_429_with_an_http_date_retry_after_does_not_fail(fault_server):
    error = translate(fault_server, "429date")
    assert type(error) is errors.RateLimited
    assert error.retry_after is None


def test_500_with_an_api_error_is_server_failed(fault_server):
    error = translate(fault_server, "500")
    assert type(error) is errors.ServerFailed
    assert "(500)" in str(error) and "error while processing" in str(error)


def test_500_api_error_mentioning_json_keeps_its_message(fault_server):
    error = translate(fault_server, "500json")
    assert type(error) is errors.ServerFailed
    assert "upstream model's JSON answer" in str(error)


def test_502_that_is_not_json_is_server_failed_without_the_html(fault_server):
    error = translate(fault_server, "502")
    assert type(error) is errors.ServerFailed
    assert error.status == 502
    assert str(error) == "The server failed (502) and sent no API error."
    assert "<html>" not in str(error)


def test_max_retries_zero_sends_exactly_once(fault_server):
    before = len(fault_server.requests)
    sdk_error(fault_server, "500")
    assert len(fault_server.requests) == before + 1


def test_a_slow_server_is_request_timed_out(fault_server):
    started = time.perf_counter()
    error = translate(fault_server, "slow", timeout=0.3)
    assert time.perf_counter() - started < 1.4
    assert type(error) is errors.RequestTimedOut


def test_a_closed_port_is_connection_failed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test",
                           max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError) as raised:
        client.models.list()
    error = errors.from_openai(raised.value)
    assert type(error) is errors.ConnectionFailed
    assert str(error).startswith("Could not connect to the endpoint:")
    assert "base URL" in error.hint


def test_playground_errors_pass_through_unchanged():
    original = errors.BadRequest("x", param="n")
    assert errors.from_openai(original) is original


def test_anything_else_is_server_failed_with_a_short_message():
    error = errors.from_openai(ValueError("first line\nsecond line"))
    assert type(error) is errors.ServerFailed
    assert "first line" in str(error) and "second line" not in str(error)


def test_invalid_parameters_joins_the_field_messages():
    from playground.params import FieldError

    error = errors.InvalidParameters([FieldError("n", "n bad."), FieldError("top_p", "top_p bad.")])
    assert str(error) == "n bad.; top_p bad."
    assert [e.field for e in error.errors] == ["n", "top_p"]
    assert error.kind == "InvalidParameters"


def test_a_local_server_crash_is_a_local_server_failure_that_carries_its_log():
    crash = errors.LocalServerCrashed(
        "The local model server crashed (SIGSEGV) while answering; it has been restarted.",
        log_tail="ggml_compute_forward: SIGSEGV", log_path="/data/local-server.log")
    assert isinstance(crash, errors.LocalServerFailed) and crash.kind == "LocalServerCrashed"
    assert (crash.log_tail, crash.log_path) == ("ggml_compute_forward: SIGSEGV",
                                                "/data/local-server.log")
    assert "PLAYGROUND_SAFE_ENGINE=1" in crash.hint
    assert errors.from_openai(crash) is crash
    assert "LocalServerCrashed" in errors.__doc__
    assert errors.LocalServerFailed("could not start").log_tail == ""
