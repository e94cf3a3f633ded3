"""A loopback emulator of OpenAI's chat API as it is today (checked 2026-11), for tests.

Written from OpenAI's API reference (Chat Completions, reasoning models, structured
outputs) and from error bodies OpenAI returns, quoted word for word where they are known.
It answers through the real ``openai`` SDK like the API would; it does not generate text.

What it emulates:

- ``GET /v1/models`` and ``GET /v1/models/{id}``; an unknown model is a 404
  ``model_not_found``.
- ``POST /v1/chat/completions`` for three kinds of model:
  a reasoning model (``o4-mini``: reasoning effort low, medium or high, default medium;
  ``gpt-5``: minimal to high, default medium, and verbosity), which refuses ``max_tokens``
  ("Use 'max_completion_tokens' instead"), temperature and top_p other than 1, the penalties,
  logprobs and logit_bias;
  a gpt-5.1-style model (``gpt-5.1``: effort none to high, default "none"), which accepts
  the sampling parameters while the effort is "none" and refuses them like the others
  otherwise;
  a non-reasoning model (``gpt-4.1``), which takes every classic parameter and refuses
  ``reasoning_effort`` and ``verbosity``.
  Every refusal is a 400 ``{"error": {"message", "type": "invalid_request_error", "param",
  "code": "unsupported_parameter" | "unsupported_value"}}``.
- ``response_format``: ``{"type": "json_object"}`` (the messages must mention JSON, as at
  OpenAI) answers a JSON object; ``{"type": "json_schema", "json_schema": {"name",
  "schema", "strict"}}`` answers an instance of the schema (``valid_json=False`` makes it
  answer one that breaks the schema, to test the checking).
- Usage with ``prompt_tokens_details`` and ``completion_tokens_details.reasoning_tokens``:
  a reasoning model thinks ``REASONING_TOKENS[effort]`` tokens, counted in
  ``completion_tokens`` and within ``max_completion_tokens`` (a limit below them leaves an
  empty reply with ``finish_reason: "length"``).
- Streaming (server-sent events) with the final usage chunk when
  ``stream_options.include_usage`` is set, every other chunk carrying ``"usage": null``.
- ``POST /v1/completions``: a 404 for every model here, as OpenAI answers for chat models
  since its last completions model was shut down.

One word of ``reply`` is one token. Each request is recorded (``requests``) so a test can
see what a page sent.

    with OpenAIEmulator() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="sk-test")
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from fault_server import LoopbackServer, Received, _Handler

DEFAULT_REPLY = "Paris is the capital of France"
REASONING_TOKENS = {"none": 0, "minimal": 8, "low": 16, "medium": 64, "high": 256}
SAMPLING = ("temperature", "top_p")
REFUSED_WHILE_REASONING = ("presence_penalty", "frequency_penalty", "logprobs",
                           "top_logprobs", "logit_bias")
CHAT_MODEL_ON_COMPLETIONS = ("This is a chat model and not supported in the v1/completions "
                             "endpoint. Did you mean to use v1/chat/completions?")


@dataclass(frozen=True)
class EmulatedModel:
    """One model: the reasoning efforts it takes (none for a non-reasoning model)."""

    id: str
    efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    verbosity: bool = False

    @property
    def reasoning(self) -> bool:
        return bool(self.efforts)


MODELS = (
    EmulatedModel("o4-mini", ("low", "medium", "high"), "medium"),
    EmulatedModel("gpt-5", ("minimal", "low", "medium", "high"), "medium", verbosity=True),
    EmulatedModel("gpt-5.1", ("none", "low", "medium", "high"), "none", verbosity=True),
    EmulatedModel("gpt-4.1"),
)


class Refusal(Exception):
    """A 400 as OpenAI words it."""

    def __init__(self, message: str, param: str | None, code: str | None,
                 status: int = 400):
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


class OpenAIEmulator(LoopbackServer):
    """Today's OpenAI chat API on a loopback port."""

    thread_name = "openai-emulator"

    def __init__(self, *, models: tuple[EmulatedModel, ...] = MODELS,
                 reply: str = DEFAULT_REPLY, valid_json: bool = True,
                 host: str = "127.0.0.1"):
        self.models = {model.id: model for model in models}
        self.reply = reply
        self.valid_json = valid_json
        super().__init__(host)

    @property
    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _EmulatorHandler

    def posts(self, path: str = "/chat/completions") -> list[dict[str, Any]]:
        """The bodies of the POSTs to a path ending, in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path.endswith(path)]

    def reset(self) -> None:
        with self._lock:
            self._received.clear()

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)


class _EmulatorHandler(_Handler):
    """The fault server's HTTP plumbing, with the emulator's answers."""

    def _handle(self, body: dict[str, Any] | None) -> None:
        owner: OpenAIEmulator = self.server.owner
        path = self.path.split("?")[0].rstrip("/")
        try:
            status, answer = 200, self._answer(owner, path, body)
        except Refusal as refusal:
            status, answer = refusal.status, refusal
        owner._record(Received(self.command, path, str(status), body or {}, time.time(),
                               {name.lower(): value for name, value in self.headers.items()}))
        try:
            if isinstance(answer, Refusal):
                self._api_error(answer.status, answer.message, answer.param, answer.code,
                                "invalid_request_error")
            elif isinstance(answer, list):
                self._stream(answer)
            else:
                self._json(200, answer)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, owner: OpenAIEmulator, path: str, body: dict[str, Any] | None):
        if body is None:
            if path == "/v1/models":
                return {"object": "list", "data": [_model(m) for m in owner.models]}
            if path.startswith("/v1/models/"):
                return _model(_known(owner, path.removeprefix("/v1/models/")).id)
            raise Refusal(f"Invalid URL (GET {path})", None, None, 404)
        if path == "/v1/completions":
            _known(owner, body.get("model"))
            raise Refusal(CHAT_MODEL_ON_COMPLETIONS, "model", None, 404)
        if path != "/v1/chat/completions":
            raise Refusal(f"Invalid URL (POST {path})", None, None, 404)
        model = _known(owner, body.get("model"))
        effort = _check(model, body)
        answer = _Answer(owner, model, body, effort)
        return answer.chunks() if body.get("stream") else answer.response()


def _known(owner: OpenAIEmulator, model_id: Any) -> EmulatedModel:
    model = owner.models.get(model_id)
    if model is None:
        raise Refusal(f"The model `{model_id}` does not exist or you do not have access to it.",
                      None, "model_not_found", 404)
    return model


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1745000000, "owned_by": "system"}


def _unsupported_parameter(name: str, instead: str | None = None) -> Refusal:
    message = f"Unsupported parameter: '{name}' is not supported with this model."
    if instead:
        message += f" Use '{instead}' instead."
    return Refusal(message, name, "unsupported_parameter")


def _check(model: EmulatedModel, body: dict[str, Any]) -> str | None:
    """The reasoning effort in force; raises the refusal OpenAI answers, if any."""
    if not model.reasoning:
        for name in ("reasoning_effort", "verbosity"):
            if name in body:
                raise _unsupported_parameter(name)
        _check_response_format(body)
        return None
    if "max_tokens" in body:
        raise _unsupported_parameter("max_tokens", "max_completion_tokens")
    effort = body.get("reasoning_effort", model.default_effort)
    if effort not in model.efforts:
        supported = ", ".join(f"'{e}'" for e in model.efforts[:-1])
        raise Refusal(f"Unsupported value: 'reasoning_effort' does not support {effort!r} "
                      f"with this model. Supported values are: {supported}, and "
                      f"'{model.efforts[-1]}'.", "reasoning_effort", "unsupported_value")
    if "verbosity" in body and not model.verbosity:
        raise _unsupported_parameter("verbosity")
    if effort != "none":
        for name in SAMPLING:
            if name in body and body[name] != 1:
                raise Refusal(f"Unsupported value: '{name}' does not support {body[name]!r} "
                              "with this model. Only the default (1) value is supported.",
                              name, "unsupported_value")
        for name in REFUSED_WHILE_REASONING:
            if name in body:
                raise _unsupported_parameter(name)
    _check_response_format(body)
    return effort


def _check_response_format(body: dict[str, Any]) -> None:
    kind = (body.get("response_format") or {}).get("type", "text")
    if kind == "json_object":
        text = json.dumps(body.get("messages") or []).lower()
        if "json" not in text:
            raise Refusal("'messages' must contain the word 'json' in some form, to use "
                          "'response_format' of type 'json_object'.", "messages", None)
    elif kind == "json_schema":
        spec = (body.get("response_format") or {}).get("json_schema") or {}
        if not spec.get("name") or not isinstance(spec.get("schema"), dict):
            raise Refusal("Missing required parameter: 'response_format.json_schema.name'.",
                          "response_format.json_schema.name", "missing_required_parameter")
    elif kind != "text":
        raise Refusal(f"Invalid value: '{kind}'. Supported values are: 'json_object', "
                      "'json_schema', and 'text'.", "response_format.type", "invalid_value")


def example_of(schema: dict[str, Any], text: str) -> Any:
    """An instance of a JSON schema built from its types (the first of an enum), strings
    filled with ``text``."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_of(sub, text) for name, sub in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items") or {"type": "string"}, text)]
    return {"string": text, "integer": 1, "number": 1.5, "boolean": True,
            "null": None}.get(kind, text)


class _Answer:
    """The answer to one accepted chat request."""

    def __init__(self, owner: OpenAIEmulator, model: EmulatedModel, body: dict[str, Any],
                 effort: str | None):
        self.model, self.body = model.id, body
        self.reasoning = REASONING_TOKENS.get(effort or "none", 0)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        self.id = f"chatcmpl-{time.monotonic_ns()}"
        self.created = int(time.time())
        content = _content(owner, body)
        words = content.split(" ")
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        self.finish = "stop"
        if limit is not None and self.reasoning + len(tokens) > int(limit):
            tokens = tokens[: max(0, int(limit) - self.reasoning)]
            self.reasoning = min(self.reasoning, int(limit))
            self.finish = "length"
        self.tokens = tokens
        self.n = int(body.get("n") or 1)
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
        prompt_tokens = len(prompt.split())
        completion = self.n * (len(tokens) + self.reasoning)
        self.usage = {
            "prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.n * self.reasoning, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def response(self) -> dict[str, Any]:
        text = "".join(self.tokens)
        choices = [{"index": i, "finish_reason": self.finish, "logprobs": None,
                    "message": {"role": "assistant", "content": text, "refusal": None,
                                "annotations": []}} for i in range(self.n)]
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model, "choices": choices, "usage": self.usage,
                "service_tier": "default", "system_fingerprint": None}

    def chunks(self) -> list[dict[str, Any]]:
        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
        base = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "service_tier": "default", "system_fingerprint": None}
        if include_usage:
            base["usage"] = None
        chunks = []
        for index in range(self.n):
            deltas = [{"role": "assistant", "content": "", "refusal": None}]
            deltas += [{"content": token} for token in self.tokens]
            chunks += [{**base, "choices": [{"index": index, "delta": delta,
                                             "finish_reason": None, "logprobs": None}]}
                       for delta in deltas]
            chunks.append({**base, "choices": [{"index": index, "delta": {},
                                                "finish_reason": self.finish,
                                                "logprobs": None}]})
        if include_usage:
            chunks.append({**base, "choices": [], "usage": self.usage})
        return chunks


def _content(owner: OpenAIEmulator, body: dict[str, Any]) -> str:
    response_format = body.get("response_format") or {}
    kind = response_format.get("type", "text")
    if kind == "json_object":
        return json.dumps({"answer": owner.reply})
    if kind == "json_schema":
        schema = response_format["json_schema"]["schema"]
        instance = example_of(schema, owner.reply)
        if not owner.valid_json and isinstance(instance, dict):
            instance = {name: [value] for name, value in instance.items()}
        return json.dumps(instance)
    return owner.reply
