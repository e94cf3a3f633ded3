"""Build, validate and run one completions or chat request.

``build_request`` turns what the user set into the SDK's keyword arguments: only values that
differ from the API's default are sent. ``run`` sends it, streaming or not, and returns a
``RunResult`` with the text of each choice, usage, latency and time to first token. Every
SDK failure leaves as a ``PlaygroundError``; a stream that breaks, or ends before every
choice has its finish reason (a connection cut between events), keeps what arrived, marked
incomplete with a ``StreamInterrupted``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playground import errors
from playground.capabilities import Capabilities
from playground.connection import Connection, client_for, failure_of
from playground.params import FieldError, ModelLimits, specs_for, validate


def build_request(endpoint: str, model: str, values: dict[str, Any], *,
                  prompt: str | list[str] | None = None,
                  messages: list[dict] | None = None,
                  accepts: Capabilities | None = None,
                  limits: ModelLimits | None = None) -> dict[str, Any]:
    """The request's keyword arguments, validated (against the model's ``limits`` where
    known); raises ``InvalidParameters``.

    With ``accepts`` (what the model takes), a value of a parameter the model refuses in
    favour of another (max_tokens on a reasoning model) is sent under the other's name,
    unless that one is set too.
    """
    if accepts is not None:
        values = _renamed(endpoint, values, accepts)
    problems = validate(endpoint, values, limits)
    if endpoint == "completions" and not prompt:
        problems.append(FieldError("prompt", "prompt must not be empty."))
    if endpoint == "chat" and not messages:
        problems.append(FieldError("messages", "messages must hold at least one message."))
    if not model:
        problems.append(FieldError("model", "Choose a model."))
    if problems:
        raise errors.InvalidParameters(problems)
    request: dict[str, Any] = {"model": model}
    if endpoint == "completions":
        request["prompt"] = prompt
    else:
        request["messages"] = messages
    for name, spec in specs_for(endpoint).items():
        value = values.get(name)
        if value is not None and value != spec.default and value != [] and value != {}:
            # validate() accepts 2.0 for an integer parameter; the API wants 2
            request[name] = int(value) if spec.value_type == "int" else value
    if request.get("stream"):
        request["stream_options"] = {"include_usage": True}
    return request


def _renamed(endpoint: str, values: dict[str, Any], accepts: Capabilities) -> dict[str, Any]:
    values = dict(values)
    specs = specs_for(endpoint)
    for name, spec in specs.items():
        target = spec.replaced_by
        if (target in specs and values.get(name) is not None and values.get(target) is None
                and accepts.refusal(name, values) is not None):
            values[target] = values.pop(name)
    return values


@dataclass
class Choice:
    index: int
    text: str = ""
    finish_reason: str | None = None
    logprobs: Any = None


@dataclass
class RunResult:
    endpoint: str
    request: dict[str, Any]
    choices: list[Choice] = field(default_factory=list)
    usage: dict[str, int] | None = None
    latency: float = 0.0
    time_to_first_token: float | None = None
    raw: dict[str, Any] | list[dict[str, Any]] | None = None
    incomplete: bool = False
    error: errors.PlaygroundError | None = None

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""


TextCallback = Callable[[int, str], None]


def run(conn: Connection, endpoint: str, request: dict[str, Any], *,
        on_text: TextCallback | None = None,
        should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Send the request; stream when it asks to, calling ``on_text(choice, delta)``.

    A stream stopped by ``should_stop`` or broken by a failure returns what arrived with
    ``incomplete`` set (and ``error`` for a failure); other failures raise, and so does a
    stream without a single event.
    """
    client = client_for(conn)
    resource = client.completions if endpoint == "completions" else client.chat.completions
    streaming = bool(request.get("stream"))
    started = time.perf_counter()
    sent = time.monotonic()
    result = RunResult(endpoint, request)
    try:
        if not streaming:
            # The page wants the JSON as sent, so read it straight from the HTTP body: the
            # SDK's typed objects would only be built to be dumped back into a dict.
            answer = resource.with_raw_response.create(**request)
            body = json.loads(answer.content)
            result.latency = time.perf_counter() - started
            _read_response(result, body)
            return result
        response = resource.create(**request)
    except errors.PlaygroundError:
        raise
    except Exception as exc:
        raise failure_of(exc, conn, sent) from exc
    _read_stream(result, response, started, on_text, should_stop)
    if result.error is not None:
        result.error = failure_of(result.error, conn, sent)
    return result


def _read_response(result: RunResult, body: Any) -> None:
    if not isinstance(body, dict):
        raise errors.ServerFailed("The server's answer is JSON but not a response object, so "
                                  "it is not an OpenAI-compatible API.")
    result.raw = body
    result.usage = body.get("usage")
    for position, item in enumerate(body.get("choices") or []):
        text = (item.get("text") if result.endpoint == "completions"
                else (item.get("message") or {}).get("content"))
        result.choices.append(Choice(item.get("index", position), text or "",
                                     item.get("finish_reason"), item.get("logprobs")))


def _read_stream(result: RunResult, stream, started: float,
                 on_text: TextCallback | None, should_stop: Callable[[], bool] | None) -> None:
    choices: dict[int, Choice] = {}
    chunks: list[dict] = []
    try:
        for chunk in stream:
            body = chunk.model_dump()
            chunks.append(body)
            if body.get("usage"):
                result.usage = body["usage"]
            for item in body.get("choices") or []:
                delta = (item.get("text") if result.endpoint == "completions"
                         else (item.get("delta") or {}).get("content"))
                choice = choices.setdefault(item["index"], Choice(item["index"]))
                if delta:
                    if result.time_to_first_token is None:
                        result.time_to_first_token = time.perf_counter() - started
                    choice.text += delta
                    if on_text:
                        on_text(choice.index, delta)
                if item.get("finish_reason"):
                    choice.finish_reason = item["finish_reason"]
            if should_stop and should_stop():
                result.incomplete = True
                stream.close()
                break
    except Exception as exc:  # noqa: BLE001
        result.incomplete = True
        partial = "".join(c.text for c in choices.values())
        cause = errors.from_openai(exc)
        result.error = errors.StreamInterrupted(
            f"The stream broke off after {len(partial)} characters: {cause}", partial=partial)
    if not chunks and not result.incomplete:
        # A 200 whose body is not server-sent events (an HTML page, say) reads as no events.
        raise errors.ServerFailed("The server's stream held no events: its answer is not in "
                                  "the API's streaming format.")
    result.latency = time.perf_counter() - started
    result.choices = [choices[i] for i in sorted(choices)]
    result.raw = chunks
    if not result.incomplete:
        _mark_if_cut(result)


def _mark_if_cut(result: RunResult) -> None:
    """Mark a stream that ended quietly before every choice had its finish reason.

    The SDK ends a stream the same way at ``[DONE]`` and when the connection closes after a
    whole event, so a finish reason is the only sign that the server finished a choice. A
    choice that never arrived is named too, but is no sign on its own: some servers answer
    one choice whatever ``n`` asks.
    """
    if all(choice.finish_reason for choice in result.choices):
        return
    finished = {choice.index for choice in result.choices if choice.finish_reason}
    asked = max(int(result.request.get("n") or 1), len(result.choices))
    unfinished = [index for index in range(asked) if index not in finished]
    which = "" if asked == 1 else (
        f" (choice{'s' if len(unfinished) > 1 else ''} {', '.join(map(str, unfinished))})")
    result.incomplete = True
    result.error = errors.StreamInterrupted(
        f"The stream ended before the server finished the answer{which}: no finish reason "
        "arrived, so the connection was probably cut. What arrived is kept.",
        partial="".join(choice.text for choice in result.choices),
        hint="What arrived is kept and marked incomplete; send again to get a full reply. If "
             "it keeps happening, a proxy or the server may be closing long answers: check "
             "its timeouts and log.")
