"""Building requests (only what the user changed) and running them for real."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fault_server import FaultServer
from playground import errors
from playground.connection import Connection
from playground.runner import build_request, run

MODEL = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Name three colours."}]


class TestBuildRequest:
    def test_defaults_are_not_sent(self):
        values = {"temperature": 1.0, "top_p": 1, "n": 1, "presence_penalty": 0.0,
                  "frequency_penalty": 0, "stream": False, "echo": False, "best_of": 1,
                  "stop": None, "logit_bias": {}, "seed": None, "suffix": None}
        assert build_request("completions", MODEL, values, prompt="Hi") == {
            "model": MODEL, "prompt": "Hi"}

    def test_only_changed_values_are_sent(self):
        request = build_request("chat", MODEL, {"temperature": 0, "top_p": 1.0, "seed": 0,
                                                "n": 2, "stop": ["\n"], "max_tokens": 20},
                                messages=MESSAGES)
        assert request == {"model": MODEL, "messages": MESSAGES, "temperature": 0,
                           "seed": 0, "n": 2, "stop": ["\n"], "max_tokens": 20}

    def test_zero_logprobs_is_a_choice_on_completions(self):
        request = build_request("completions", MODEL, {"logprobs": 0}, prompt="Hi")
        assert request["logprobs"] == 0

    def test_chat_logprobs_off_is_the_default(self):
        assert "logprobs" not in build_request("chat", MODEL, {"logprobs": False},
                                               messages=MESSAGES)
        request = build_request("chat", MODEL, {"logprobs": True, "top_logprobs": 0},
                                messages=MESSAGES)
        assert request["logprobs"] is True and request["top_logprobs"] == 0

    def test_parameters_of_the_other_endpoint_are_dropped(self):
        request = build_request("chat", MODEL, {"echo": True, "suffix": "x", "best_of": 3},
                                messages=MESSAGES)
        assert set(request) == {"model", "messages"}

    @pytest.mark.parametrize("endpoint, kwargs", [
        ("completions", {"prompt": "Hi"}), ("chat", {"messages": MESSAGES})])
    def test_a_stream_asks_for_usage(self, endpoint, kwargs):
        request = build_request(endpoint, MODEL, {"stream": True}, **kwargs)
        assert request["stream"] is True
        assert request["stream_options"] == {"include_usage": True}
        assert "stream_options" not in build_request(endpoint, MODEL, {}, **kwargs)

    def test_invalid_values_raise_naming_each_field(self):
        with pytest.raises(errors.InvalidParameters) as raised:
            build_request("chat", MODEL, {"temperature": 2.5, "top_p": -0.5}, messages=MESSAGES)
        assert [e.field for e in raised.value.errors] == ["temperature", "top_p"]
        assert "temperature must be 0 to 2; got 2.5" in str(raised.value)
        assert "top_p must be 0 to 1; got -0.5" in str(raised.value)

    @pytest.mark.parametrize("endpoint, kwargs, model, field", [
        ("completions", {"prompt": ""}, MODEL, "prompt"),
        ("completions", {}, MODEL, "prompt"),
        ("chat", {"messages": []}, MODEL, "messages"),
        ("chat", {"messages": MESSAGES}, "", "model"),
    ])
    def test_missing_prompt_messages_or_model(self, endpoint, kwargs, model, field):
        with pytest.raises(errors.InvalidParameters) as raised:
            build_request(endpoint, model, {}, **kwargs)
        assert [e.field for e in raised.value.errors] == [field]

    def test_whole_floats_for_int_parameters_are_sent_as_ints(self):
        request = build_request("chat", MODEL, {"n": 2.0, "max_tokens": 64.0},
                                messages=MESSAGES)
        assert type(request["n"]) is int and type(request["max_tokens"]) is int


# -- against the real local server ---------------------------------------------------------

@pytest.fixture(scope="module")
def local(local_base_url) -> Connection:
    return Connection("Local", kind="custom", base_url=local_base_url, max_retries=0,
                      timeout=60)


def _request(endpoint: str, **values):
    kwargs = {"prompt": "The capital of France is"} if endpoint == "completions" \
        else {"messages": MESSAGES}
    return build_request(endpoint, MODEL, {"temperature": 0, "max_tokens": 12, **values},
                         **kwargs)


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_run_without_stream(local, endpoint):
    result = run(local, endpoint, _request(endpoint))
    assert result.text.strip()
    assert len(result.choices) == 1 and result.choices[0].finish_reason in ("stop", "length")
    assert 0 < result.usage["completion_tokens"] <= 12
    assert result.usage["total_tokens"] == (result.usage["prompt_tokens"]
                                            + result.usage["completion_tokens"])
    assert result.latency > 0 and result.time_to_first_token is None
    assert result.incomplete is False and result.error is None
    assert isinstance(result.raw, dict) and result.raw["model"] == MODEL


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_run_with_stream_calls_on_text_with_the_deltas(local, endpoint):
    seen: list[tuple[int, str]] = []
    result = run(local, endpoint, _request(endpoint, stream=True),
                 on_text=lambda index, delta: seen.append((index, delta)))
    assert len(seen) >= 2
    assert {index for index, _ in seen} == {0}
    assert "".join(delta for _, delta in seen) == result.text
    assert result.text.strip()
    assert result.choices[0].finish_reason in ("stop", "length")
    assert 0 < result.usage["completion_tokens"] <= 12  # the usage chunk was read
    assert 0 < result.time_to_first_token <= result.latency
    assert result.incomplete is False and isinstance(result.raw, list)

    # temperature 0: the stream says exactly what the plain request says
    assert run(local, endpoint, _request(endpoint)).text == result.text


def test_stream_with_several_choices_keeps_them_apart(local):
    texts: dict[int, str] = {}

    def collect(index: int, delta: str) -> None:
        texts[index] = texts.get(index, "") + delta

    result = run(local, "chat", _request("chat", stream=True, n=2, temperature=1.0, seed=7,
                                         max_tokens=6), on_text=collect)
    assert [c.index for c in result.choices] == [0, 1]
    assert texts == {c.index: c.text for c in result.choices}


def test_should_stop_after_the_first_delta_gives_an_incomplete_result(local):
    seen: list[str] = []
    result = run(local, "completions", _request("completions", stream=True, max_tokens=32),
                 on_text=lambda _i, delta: seen.append(delta), should_stop=lambda: bool(seen))
    assert result.incomplete is True
    assert result.error is None
    assert seen and result.text == seen[0]
    assert result.usage is None  # stopped before the final usage chunk


def test_an_unknown_model_raises_model_not_found(local):
    request = build_request("chat", "no-such-model", {}, messages=MESSAGES)
    with pytest.raises(errors.ModelNotFound, match="does not exist"):
        run(local, "chat", request)


def test_a_value_the_server_refuses_raises_bad_request_naming_it(local):
    request = _request("chat", logit_bias={"10000000": 5})
    with pytest.raises(errors.BadRequest) as raised:
        run(local, "chat", request)
    assert raised.value.param == "logit_bias" and raised.value.status == 400


# -- a stream that breaks off ---------------------------------------------------------------

def _chunk(text: str) -> bytes:
    body = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class _BreakingStream(BaseHTTPRequestHandler):
    """Two chunks of a completion stream, then either an error event or a dropped socket."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [_chunk("Hel"), _chunk("lo")]
        if self.path.startswith("/error"):
            events.append(b'data: {"error": {"message": "model crashed", '
                          b'"type": "server_error"}}\n\n')
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.flush()
        self.close_connection = True  # no terminating chunk: the body is cut short

    def log_message(self, *args):
        pass


def _serve(handler: type[BaseHTTPRequestHandler]):
    """A loopback HTTP server answering with ``handler`` while the generator is open."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def breaking_server():
    yield from _serve(_BreakingStream)


@pytest.mark.parametrize("route", ["cut", "error"])
def test_a_broken_stream_keeps_what_arrived(breaking_server, route):
    conn = Connection("Flaky", base_url=f"{breaking_server}/{route}/v1", max_retries=0, timeout=5)
    seen: list[str] = []
    result = run(conn, "completions", build_request("completions", "m", {"stream": True},
                                                    prompt="Hi"),
                 on_text=lambda _i, delta: seen.append(delta))
    assert seen == ["Hel", "lo"]
    assert result.text == "Hello"
    assert result.incomplete is True
    assert isinstance(result.error, errors.StreamInterrupted)
    assert result.error.partial == "Hello"
    assert "after 5 characters" in str(result.error)


# -- a stream that ends before its finish reason ---------------------------------------------

@pytest.fixture(scope="module")
def fault_server():
    with FaultServer() as url:
        yield url


def _faulty_run(base_url: str, endpoint: str, fault: str, seen: list[str] | None = None,
                **values):
    conn = Connection("Faulty", base_url=base_url, max_retries=0, timeout=5)
    kwargs = {"prompt": "Once"} if endpoint == "completions" else {"messages": MESSAGES}
    request = {**build_request(endpoint, "fault-model", {"stream": True, **values}, **kwargs),
               "extra_headers": {"X-Fault": fault}}
    return run(conn, endpoint, request,
               on_text=None if seen is None else lambda _i, delta: seen.append(delta))


@pytest.mark.parametrize("fault", ["cut-quiet", "cut-mid-event"])
@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_a_stream_without_finish_reason_is_incomplete_and_keeps_what_arrived(
        fault_server, endpoint, fault):
    seen: list[str] = []
    result = _faulty_run(fault_server, endpoint, fault, seen)
    assert result.incomplete is True
    assert isinstance(result.error, errors.StreamInterrupted)
    assert result.text and "".join(seen) == result.text == result.error.partial
    assert FaultServer().reply.startswith(result.text) and result.text != FaultServer().reply
    assert result.choices[0].finish_reason is None
    assert "no finish reason" in str(result.error) and "connection was probably cut" in str(
        result.error)
    assert "What arrived is kept" in str(result.error)
    assert "send again" in result.error.hint and "proxy" in result.error.hint


def test_the_error_names_the_unfinished_choices_and_those_that_never_came(fault_server):
    result = _faulty_run(fault_server, "chat", "cut-quiet", n=2)
    assert [(c.index, c.finish_reason) for c in result.choices] == [(0, None)]
    assert result.incomplete and "finished the answer (choices 0, 1): " in str(result.error)


def test_one_choice_where_several_were_asked_is_no_cut_when_it_finished():
    with FaultServer(ignore_n=True) as url:
        result = _faulty_run(url, "chat", "ok", n=3)
    assert [c.finish_reason for c in result.choices] == ["stop"]
    assert result.incomplete is False and result.error is None


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_a_stream_that_finishes_is_complete(fault_server, endpoint):
    result = _faulty_run(fault_server, endpoint, "ok", n=2)
    assert [c.finish_reason for c in result.choices] == ["stop", "stop"]
    assert result.incomplete is False and result.error is None


# -- a non-streamed answer is read as the server sent it ------------------------------------

ANSWERS = {
    "/vendor/v1/chat/completions": {
        "id": "c-1", "object": "chat.completion", "created": 0, "model": "m",
        "x_vendor_timings": {"prompt_ms": 1.5},
        "choices": [{"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
    "/list/v1/chat/completions": [{"choices": []}],
}


class _FixedAnswer(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def answering_server():
    yield from _serve(_FixedAnswer)


def _chat_at(base_url: str):
    conn = Connection("Fixed", base_url=base_url, max_retries=0, timeout=5)
    return run(conn, "chat", build_request("chat", "m", {}, messages=MESSAGES))


def test_the_raw_response_is_the_json_the_server_sent(answering_server):
    result = _chat_at(f"{answering_server}/vendor/v1")
    assert result.raw == ANSWERS["/vendor/v1/chat/completions"]  # its own fields, none added
    assert result.text == "Hi" and result.choices[0].index == 0  # a missing index is its place
    assert result.choices[0].finish_reason == "stop"
    assert result.usage == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def test_json_that_is_not_a_response_object_is_a_server_failure(answering_server):
    with pytest.raises(errors.ServerFailed, match="not a response object"):
        _chat_at(f"{answering_server}/list/v1")
