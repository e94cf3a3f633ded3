"""Request bodies of the local server, with the OpenAI API's types and ranges.

Pydantic checks types and ranges; ``APIError`` carries the checks that need the model
(context length, vocabulary, fill-in-the-middle) or several fields at once. Both become
OpenAI-shaped JSON errors naming the offending ``param``. Types are strict, as the API's
are: an integer must be a JSON integer and a boolean a JSON boolean ("10" and "yes" are
refused, not coerced); a number field takes integers too. Text must be real Unicode: a
lone surrogate escape such as ``"\\ud800"`` is refused where it is sent.

One field is this server's own: ``debug_distribution`` (a boolean, with log-probabilities
on) adds to each generated token's log-probabilities the distribution it was drawn from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from playground.local.sampling import SamplingSettings
from playground.params import LOCAL_SERVER, MAX_STOP_SEQUENCES, is_token_id, spec

MAX_PROMPTS = 128
STRICT = ConfigDict(strict=True)
BIAS = spec("chat", "logit_bias")


def declared(name: str, default: Any = None, *, endpoint: str = "chat") -> Any:
    """A field with the range that ``playground.params`` declares for the parameter on the
    local server, so the server refuses exactly what the playground's own checks refuse."""
    param = spec(endpoint, name, LOCAL_SERVER)
    return Field(default, ge=param.minimum, le=param.maximum)


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise ValueError(f"the text holds a lone surrogate (\\u{ord(bad):04x}) at character "
                         f"{error.start}, which is not Unicode text") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]


class APIError(Exception):
    """An error the server answers with, in the API's shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.code, self.kind = code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind,
                          "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    model_config = STRICT

    include_usage: bool = False


class _Sampled(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: Text
    max_tokens: int | None = declared("max_tokens")
    temperature: float | None = declared("temperature")
    top_p: float | None = declared("top_p")
    n: int = declared("n", 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Text | list[Text] | None = None
    presence_penalty: float | None = declared("presence_penalty")
    frequency_penalty: float | None = declared("frequency_penalty")
    logit_bias: dict[str, float] | None = None
    seed: int | None = declared("seed")
    user: Text | None = None
    debug_distribution: bool = False  # an extension: each token's sampled_from

    @field_validator("stop")
    @classmethod
    def _stop(cls, value):
        stops = [value] if isinstance(value, str) else value
        if stops is not None and len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"stop takes at most {MAX_STOP_SEQUENCES} sequences")
        return stops

    @field_validator("logit_bias")
    @classmethod
    def _logit_bias(cls, value):
        for key, bias in (value or {}).items():
            if not is_token_id(key):
                raise ValueError(f"logit_bias keys must be token ids; got {key!r}")
            if not BIAS.minimum <= bias <= BIAS.maximum:
                raise ValueError(f"logit_bias values must be {BIAS.range_text()}; "
                                 f"got {bias}")
        return value

    def sampling(self, vocab_size: int) -> SamplingSettings:
        bias = {int(k): v for k, v in (self.logit_bias or {}).items()}
        too_big = [k for k in bias if k >= vocab_size]
        if too_big:
            raise APIError(400, f"logit_bias names token {too_big[0]}, but the vocabulary has "
                                f"{vocab_size} tokens (0 to {vocab_size - 1}).", param="logit_bias")
        return SamplingSettings(
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            logit_bias=bias,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionRequest(_Sampled):
    prompt: Text | list[Text]
    suffix: Text | None = None
    echo: bool = False
    logprobs: int | None = declared("logprobs", endpoint="completions")
    best_of: int | None = declared("best_of", endpoint="completions")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("prompt must hold at least one string")
        if isinstance(value, list) and len(value) > MAX_PROMPTS:
            raise ValueError(f"prompt takes at most {MAX_PROMPTS} strings; got {len(value)}")
        return value

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    @property
    def candidates(self) -> int:
        """How many choices are generated per prompt (best_of, else n)."""
        return self.best_of or self.n

    def check(self) -> None:
        if self.debug_distribution and self.logprobs is None:
            raise APIError(400, "debug_distribution needs logprobs set (to 0 or more).",
                           param="debug_distribution")
        if self.best_of is not None and self.best_of < self.n:
            raise APIError(400, f"best_of ({self.best_of}) must be at least n ({self.n}).",
                           param="best_of")
        if self.best_of and self.best_of > self.n and self.stream:
            raise APIError(400, "best_of greater than n cannot be streamed.", param="best_of")


class TextPart(BaseModel):
    model_config = STRICT

    type: Literal["text"]
    text: Text


class ChatMessage(BaseModel):
    model_config = STRICT

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart] | None = ""
    name: Text | None = None

    def as_template_input(self) -> dict:
        content = self.content or ""
        if isinstance(content, list):
            content = "".join(part.text for part in content)
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": content}


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: Text = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    json_schema: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    description: Text | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat,
                           Field(discriminator="type")]
# Parameters only reasoning models take: every local model answers them as OpenAI's
# models that do not reason do.
REASONING_ONLY = ("reasoning_effort", "verbosity")


class ChatRequest(_Sampled):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = declared("top_logprobs")
    max_completion_tokens: int | None = declared("max_completion_tokens")
    reasoning_effort: Any = None
    verbosity: Any = None
    response_format: ResponseFormat | None = None

    def check(self) -> None:
        if self.top_logprobs is not None and not self.logprobs:
            raise APIError(400, "top_logprobs needs logprobs set to true.", param="top_logprobs")
        if self.debug_distribution and not self.logprobs:
            raise APIError(400, "debug_distribution needs logprobs set to true.",
                           param="debug_distribution")
        for name in REASONING_ONLY:
            if name in self.model_fields_set:
                raise APIError(400, f"Unsupported parameter: '{name}' is not supported with "
                                    "this model.", param=name, code="unsupported_parameter")
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise APIError(400, "Setting 'max_tokens' and 'max_completion_tokens' at the same "
                                "time is not supported.", param="max_tokens",
                           code="invalid_parameter_combination")
        if isinstance(self.response_format, JsonObjectFormat) and not self._mentions_json():
            raise APIError(400, "'messages' must contain the word 'json' in some form, to use "
                                "'response_format' of type 'json_object'.", param="messages")
        if isinstance(self.response_format, JsonSchemaFormat):
            spec = self.response_format.json_schema
            problem = strict_schema_problem(spec.json_schema) if spec.strict else None
            if problem:
                raise APIError(400, f"Invalid schema for response_format '{spec.name}': "
                                    f"{problem}", param="response_format")

    def _mentions_json(self) -> bool:
        return any("json" in (message.as_template_input()["content"]).lower()
                   for message in self.messages)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def strict_schema_problem(schema: dict[str, Any]) -> str | None:
    """What breaks OpenAI's strict mode first, in OpenAI's words: the root is an object, and
    every object sets ``additionalProperties: false`` and requires all its properties."""
    if schema.get("type") != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: " \
               f"\"{schema.get('type')}\"'."
    return next(filter(None, (_open_object(node, context)
                              for node, context in _subschemas(schema, ()))), None)


def _open_object(node: dict[str, Any], context: tuple[str, ...]) -> str | None:
    if node.get("type") != "object" and "properties" not in node:
        return None
    if node.get("additionalProperties") is not False:
        return (f"In context={context}, 'additionalProperties' is required to be supplied "
                "and to be false.")
    missing = [name for name in node.get("properties") or {}
               if name not in (node.get("required") or [])]
    if missing:
        return (f"In context={context}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing '{missing[0]}'.")
    return None


def _subschemas(node: dict[str, Any], context: tuple[str, ...]):
    """The schema and every schema inside it, each with its path (OpenAI's context)."""
    yield node, context
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            children = [((key, name), sub) for name, sub in value.items()]
        elif key == "items" and isinstance(value, dict):
            children = [((key,), value)]
        elif key in ("anyOf", "prefixItems") and isinstance(value, list):
            children = [((key, str(i)), sub) for i, sub in enumerate(value)]
        else:
            children = []
        for path, sub in children:
            if isinstance(sub, dict):
                yield from _subschemas(sub, context + path)


class TokenizeRequest(BaseModel):
    """Body of ``POST /tokenize``: a model and either text or chat messages."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: Text
    text: Text | None = None
    messages: list[ChatMessage] | None = None
