"""A small OpenAI-compatible HTTP server that fails on purpose, for tests and benchmarks.

It speaks enough of the wire format for the real ``openai`` SDK: ``GET /v1/models``,
``GET /v1/models/{id}``, ``POST /v1/completions`` and ``POST /v1/chat/completions``, with or
without ``stream`` (server-sent events over chunked transfer, with the final usage chunk
when ``stream_options.include_usage`` is set), ``n`` choices, ``max_tokens`` (one word is one
token) and fake but well-formed ``logprobs``.

What each request meets is chosen, first match wins, by

1. the ``X-Fault`` request header (``extra_headers={"X-Fault": "503"}`` in the SDK),
2. ``fail_first=k``: the first k generation requests get ``fail_with``,
3. ``faults_by_model``: a behaviour for every request naming that model,
4. the server-wide ``fault`` (``"ok"`` by default).

A model that is not in ``models`` gets a 404 ``model_not_found``, like the real API.
Every request first waits ``latency`` seconds (or the ``X-Latency`` header's value).
``ignore_n=True`` answers one choice whatever ``n`` asks, like some local servers.
``echo_key=True`` makes the 401 quote the key it was sent in full, as a careless gateway
might, so a test can check that the app never shows it.

Behaviours: ``ok``; ``401``, ``403``, ``404``, ``400`` (an API error naming ``param``),
``413``, ``context`` (400 with ``code: context_length_exceeded``), ``429`` (no Retry-After),
``429-retry-after`` (with ``Retry-After: retry_after`` seconds), ``500``, ``502`` (an HTML
page), ``503``; ``not-json`` (200 whose body is not JSON); ``cut`` (a stream, or a body,
that stops midway and the connection closes; the chunked transfer or Content-Length shows
the client that the body is incomplete); ``hang`` (a stream that stops sending after half
its chunks, or a response that never starts, for ``hang_seconds``, then the connection
closes, so a test always ends).

Two cuts the HTTP layer cannot see, because the body has neither a length nor chunks and
so ends where the connection closes (as behind some proxies): ``cut-quiet`` sends the first
half of a stream's text chunks, whole events with no finish reason, then closes, with no
usage chunk and no ``[DONE]``; ``cut-mid-event`` sends the same and then half of the next
event before it closes. Without ``stream`` both send the first half of the JSON body.

Each ``Received`` keeps the request's headers, so a test can see which key was sent where.

Faults below HTTP, all on loopback: ``closed_port_url()`` refuses connections,
``Unaccepting()`` listens but never completes a handshake (a connect timeout), and
``UNRESOLVABLE_URL`` names a host that cannot resolve (the ``.invalid`` top-level domain is
reserved for that).

    with FaultServer(latency=0.3) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="x")
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODELS = ("fault-model", "fault-model-b")
DEFAULT_REPLY = "The quick brown fox jumps over the lazy dog and runs far away"

STATUS_FAULTS: dict[str, tuple[int, str, str | None, str | None, str]] = {
    # behaviour -> (status, message, param, code, type)
    "400": (400, "-1 is less than the minimum of 0 - 'temperature'", "temperature",
            "invalid_value", "invalid_request_error"),
    "401": (401, "Incorrect API key provided: sk-…test.", None, "invalid_api_key",
            "invalid_request_error"),
    "403": (403, "You are not allowed to use this model.", None, None,
            "invalid_request_error"),
    "404": (404, "The model does not exist or you do not have access to it.", "model",
            "model_not_found", "invalid_request_error"),
    "413": (413, "Request too large.", None, None, "invalid_request_error"),
    "context": (400, "This model's maximum context length is 2048 tokens.", "messages",
                "context_length_exceeded", "invalid_request_error"),
    "429": (429, "Rate limit reached for requests.", None, "rate_limit_exceeded", "requests"),
    "429-retry-after": (429, "Rate limit reached for requests.", None, "rate_limit_exceeded",
                        "requests"),
    "500": (500, "The server had an error while processing your request.", None, None,
            "server_error"),
    "503": (503, "The engine is currently overloaded, please try again later.", None, None,
            "server_error"),
}
BEHAVIOURS = frozenset({"ok", "502", "not-json", "cut", "cut-quiet", "cut-mid-event", "hang",
                        *STATUS_FAULTS})

Reply = str | Callable[[dict[str, Any], int], str]
UNRESOLVABLE_URL = "http://no-such-host.invalid/v1"


def closed_port_url() -> str:
    """The base URL of a loopback port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class Unaccepting:
    """A loopback port whose connections never complete: a connect timeout, on loopback.

    The socket listens with a backlog of 0 and never accepts; a few connections fill its
    queue, after which the kernel drops every new handshake, so clients wait until their
    connect timeout. ``with Unaccepting() as base_url: ...``
    """

    FILLERS = 4

    def __init__(self):
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []

    def __enter__(self) -> str:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        port = self._listener.getsockname()[1]
        for _ in range(self.FILLERS):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)
        time.sleep(0.1)  # the fillers' handshakes complete and fill the queue
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc_info) -> None:
        for sock in [*self._fillers, self._listener]:
            if sock is not None:
                sock.close()
        self._fillers.clear()
        self._listener = None


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    behaviour: str
    body: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header as it arrived (``Bearer <key>``), or None."""
        return self.headers.get("authorization")


class LoopbackServer:
    """A threaded HTTP server on a free loopback port, kept for a test's lifetime, that records
    the requests it receives. Subclasses name their request handler, which reaches the
    server object as ``self.server.owner``."""

    handler: type[BaseHTTPRequestHandler]
    thread_name = "loopback-server"

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> str:
        httpd = _HTTPServer((self.host, 0), self.handler)
        httpd.owner = self
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name=self.thread_name, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"the {type(self).__name__} is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)


class FaultServer(LoopbackServer):
    """An OpenAI-compatible loopback server whose answers are chosen by the test."""

    thread_name = "fault-server"

    @property
    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def __init__(self, *, latency: float = 0.0, fault: str = "ok", fail_first: int = 0,
                 fail_with: str = "429", faults_by_model: dict[str, str] | None = None,
                 models: Iterable[str] = DEFAULT_MODELS, reply: Reply = DEFAULT_REPLY,
                 retry_after: float = 0.1, hang_seconds: float = 3.0,
                 ignore_n: bool = False, echo_key: bool = False, host: str = "127.0.0.1"):
        for behaviour in (fault, fail_with, *(faults_by_model or {}).values()):
            _check(behaviour)
        self.latency = latency
        self.fault = fault
        self.fail_first = fail_first
        self.fail_with = fail_with
        self.faults_by_model = dict(faults_by_model or {})
        self.models = tuple(models)
        self.reply = reply
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.ignore_n = ignore_n
        self.echo_key = echo_key
        super().__init__(host)
        self._generations = 0
        self._closing = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        self._closing.set()  # wakes every handler waiting out a latency or a hang
        super().stop()

    # -- what it received --------------------------------------------------------------

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._received)

    def count(self, path: str | None = None, behaviour: str | None = None) -> int:
        """How many requests came, optionally only to a path ending or with a behaviour."""
        return sum(1 for r in self.requests
                   if (path is None or r.path.endswith(path))
                   and (behaviour is None or r.behaviour == behaviour))

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._generations = 0

    # -- decisions (called from handler threads) ---------------------------------------

    def _choose(self, method: str, path: str, headers, body: dict[str, Any]) -> Received:
        header = headers.get("x-fault")
        with self._lock:
            generation = method == "POST"
            if generation:
                self._generations += 1
            if header:
                behaviour = header
            elif generation and self._generations <= self.fail_first:
                behaviour = self.fail_with
            elif body.get("model") in self.faults_by_model:
                behaviour = self.faults_by_model[body["model"]]
            else:
                behaviour = self.fault
            if behaviour not in BEHAVIOURS:
                behaviour = "ok"
            received = Received(method, path, behaviour, body, time.time(),
                                {name.lower(): value for name, value in headers.items()})
            self._received.append(received)
        return received

    def _text_for(self, body: dict[str, Any], index: int) -> str:
        return self.reply(body, index) if callable(self.reply) else self.reply


def _check(behaviour: str) -> None:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; choose from {sorted(BEHAVIOURS)}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of concurrent clients must not overflow the backlog
    fault_server: FaultServer

    def handle_error(self, request, client_address) -> None:
        # The SDK closes a connection as soon as a stream ends: that is no fault to report.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection frees its thread after this long
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK wait
    server: _HTTPServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # -- entry points ------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        self._handle(body if isinstance(body, dict) else {})

    def _handle(self, body: dict[str, Any] | None) -> None:
        owner = self.server.owner
        path = self.path.split("?")[0].rstrip("/")
        received = owner._choose(self.command, path, self.headers, body or {})
        delay = self.headers.get("x-latency")
        try:
            latency = float(delay) if delay is not None else owner.latency
        except ValueError:
            latency = owner.latency
        if latency > 0 and owner._closing.wait(latency):
            return self._close()
        try:
            self._route(owner, received, path, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout, a closed stream)

    def _route(self, owner: FaultServer, received: Received, path: str,
               body: dict[str, Any] | None) -> None:
        behaviour = received.behaviour
        if body is None:  # GET
            if behaviour != "ok":
                return self._fault(owner, behaviour, stream=False)
            if path == "/v1/models":
                return self._json(200, {"object": "list",
                                        "data": [_model(m) for m in owner.models]})
            if path.startswith("/v1/models/"):
                model = path.removeprefix("/v1/models/")
                if model in owner.models:
                    return self._json(200, _model(model))
                return self._api_error(404, f"The model '{model}' does not exist.", "model",
                                       "model_not_found", "invalid_request_error")
            return self._api_error(404, f"Unknown path {path}.", None, None,
                                   "invalid_request_error")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return self._api_error(404, f"Unknown path {path}.", None, None,
                                   "invalid_request_error")
        stream = bool(body.get("stream"))
        if behaviour != "ok":
            return self._fault(owner, behaviour, stream=stream, body=body, path=path)
        if body.get("model") not in owner.models:
            return self._api_error(404, f"The model '{body.get('model')}' does not exist.",
                                   "model", "model_not_found", "invalid_request_error")
        generation = _Generation(owner, path, body)
        if stream:
            return self._stream(generation.chunks())
        return self._json(200, generation.response())

    # -- answers -----------------------------------------------------------------------

    def _fault(self, owner: FaultServer, behaviour: str, *, stream: bool,
               body: dict[str, Any] | None = None, path: str = "") -> None:
        if behaviour in STATUS_FAULTS:
            status, message, param, code, kind = STATUS_FAULTS[behaviour]
            if behaviour == "401" and owner.echo_key:
                token = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                message = f"Incorrect API key provided: {token}."
            headers = ({"Retry-After": f"{owner.retry_after:g}"}
                       if behaviour == "429-retry-after" else {})
            return self._api_error(status, message, param, code, kind, headers)
        if behaviour == "502":
            return self._raw(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                             "text/html")
        if behaviour == "not-json":
            return self._raw(200, b"<html><body>Welcome to nginx!</body></html>",
                             "application/json")
        generation = _Generation(owner, path or "/v1/chat/completions", body or {"model": "?"})
        if behaviour == "cut":
            if stream:
                chunks = generation.chunks()
                return self._stream(chunks[: max(1, len(chunks) // 2)], complete=False)
            data = json.dumps(generation.response()).encode()
            return self._raw(200, data[: len(data) // 2], "application/json",
                             length=len(data))
        if behaviour in ("cut-quiet", "cut-mid-event"):
            if not stream:
                data = json.dumps(generation.response()).encode()
                return self._until_close("application/json", data[: len(data) // 2])
            text = [c for c in generation.chunks()
                    if c["choices"] and not any(i["finish_reason"] for i in c["choices"])]
            kept, rest = text[: max(1, len(text) // 2)], text[max(1, len(text) // 2):]
            events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in kept).encode()
            if behaviour == "cut-mid-event" and rest:
                torn = f"data: {json.dumps(rest[0])}\n\n".encode()
                events += torn[: len(torn) // 2]
            return self._until_close("text/event-stream", events)
        if behaviour == "hang":
            if stream:
                chunks = generation.chunks()
                return self._stream(chunks[: max(1, len(chunks) // 2)], complete=False,
                                    hang=owner)
            owner._closing.wait(owner.hang_seconds)
            return self._close()
        raise AssertionError(behaviour)

    def _api_error(self, status: int, message: str, param: str | None, code: str | None,
                   kind: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        self._raw(status, json.dumps(body).encode(), "application/json", headers=headers)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json")

    def _raw(self, status: int, data: bytes, content_type: str, *,
             headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if length is not None and length != len(data):
            self._close()

    def _stream(self, chunks: list[dict[str, Any]], *, complete: bool = True,
                hang: FaultServer | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
        if complete:
            events.append("data: [DONE]\n\n")
        for event in events:
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        if complete:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if hang is not None:
            hang._closing.wait(hang.hang_seconds)
        self._close()  # no terminating chunk: the client sees the body end early

    def _until_close(self, content_type: str, data: bytes) -> None:
        """A body delimited by the connection closing: no length, no chunks, so whatever
        arrived looks complete to the client."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self._close()

    def _close(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fault-server"}


class _Generation:
    """The deterministic answer to one generation request: one word is one token."""

    def __init__(self, owner: FaultServer, path: str, body: dict[str, Any]):
        self.chat = path.endswith("/chat/completions")
        self.body = body
        self.model = body.get("model")
        self.n = 1 if owner.ignore_n else int(body.get("n") or 1)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        self.choices: list[tuple[list[str], str]] = []
        for index in range(self.n):
            words = owner._text_for(body, index).split(" ")
            tokens = [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]
            finish = "stop"
            if limit is not None and len(tokens) > int(limit):
                tokens, finish = tokens[: int(limit)], "length"
            self.choices.append((tokens, finish))
        if self.chat:
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
            self.want_logprobs = bool(body.get("logprobs"))
        else:
            prompt = body.get("prompt") or ""
            prompt = " ".join(prompt) if isinstance(prompt, list) else str(prompt)
            self.want_logprobs = body.get("logprobs") is not None
        completion = sum(len(tokens) for tokens, _ in self.choices)
        prompt_tokens = len(prompt.split())
        self.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                      "total_tokens": prompt_tokens + completion}
        self.id = f"fault-{time.monotonic_ns()}"
        self.created = int(time.time())

    @staticmethod
    def logprob(position: int) -> float:
        return round(-0.1 * (position % 5 + 1), 4)

    def _logprobs(self, tokens: list[str], offset: int = 0) -> dict[str, Any] | None:
        if not self.want_logprobs:
            return None
        values = [self.logprob(offset + i) for i in range(len(tokens))]
        if self.chat:
            return {"content": [{"token": t, "logprob": v, "bytes": list(t.encode()),
                                 "top_logprobs": []} for t, v in zip(tokens, values)],
                    "refusal": None}
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
        return {"tokens": tokens, "token_logprobs": values, "top_logprobs": None,
                "text_offset": offsets}

    def response(self) -> dict[str, Any]:
        choices = []
        for index, (tokens, finish) in enumerate(self.choices):
            text = "".join(tokens)
            if self.chat:
                choices.append({"index": index, "finish_reason": finish,
                                "message": {"role": "assistant", "content": text},
                                "logprobs": self._logprobs(tokens)})
            else:
                choices.append({"index": index, "text": text, "finish_reason": finish,
                                "logprobs": self._logprobs(tokens)})
        return {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "choices": choices,
                "usage": self.usage}

    def chunks(self) -> list[dict[str, Any]]:
        base = {"id": self.id,
                "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created, "model": self.model}
        chunks = []
        for index, (tokens, finish) in enumerate(self.choices):
            for position, token in enumerate(tokens):
                logprobs = self._logprobs([token], position)
                if self.chat:
                    delta = {"content": token}
                    if position == 0:
                        delta["role"] = "assistant"
                    choice = {"index": index, "delta": delta, "finish_reason": None,
                              "logprobs": logprobs}
                else:
                    choice = {"index": index, "text": token, "finish_reason": None,
                              "logprobs": logprobs}
                chunks.append({**base, "choices": [choice]})
            last = ({"index": index, "delta": {}, "finish_reason": finish, "logprobs": None}
                    if self.chat else
                    {"index": index, "text": "", "finish_reason": finish, "logprobs": None})
            chunks.append({**base, "choices": [last]})
        if (self.body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": self.usage})
        return chunks
