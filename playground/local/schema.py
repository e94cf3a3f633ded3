"""Request bodies of the local server, with the OpenAI API's types and ranges.

Pydantic checks types and ranges; ``APIError`` carries the checks that need the model
(context length, vocabulary, fill-in-the-middle) or several fields at once. Both become
OpenAI-shaped JSON errors naming the offending ``param``. Types are strict, as the API's
are: an integer must be a JSON integer and a boolean a JSON boolean ("10" and "yes" are
refused, not coerced); a number field takes integers too. Text must be real Unicode: a
lone surrogate escape such as ``"\\ud800"`` is refused where it is sent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from playground.local.sampling import SamplingSettings
from playground.params import is_token_id

MAX_CHOICES = 8
MAX_BEST_OF = 20
MAX_PROMPTS = 128
STRICT = ConfigDict(strict=True)


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
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind,
                          "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    model_config = STRICT

    include_usage: bool = False


class _Sampled(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: Text
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Text | list[Text] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    user: Text | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value):
        stops = [value] if isinstance(value, str) else value
        if stops is not None and len(stops) > 4:
            raise ValueError("stop takes at most 4 sequences")
        return stops

    @field_validator("logit_bias")
    @classmethod
    def _logit_bias(cls, value):
        for key, bias in (value or {}).items():
            if not is_token_id(key):
                raise ValueError(f"logit_bias keys must be token ids; got {key!r}")
            if not -100 <= bias <= 100:
                raise ValueError(f"logit_bias values must be between -100 and 100; got {bias}")
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
    logprobs: int | None = Field(None, ge=0, le=5)
    best_of: int | None = Field(None, ge=1, le=MAX_BEST_OF)

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
        if self.best_of is not None and self.best_of < self.n:
            raise APIError(400, f"best_of ({self.best_of}) must be at least n ({self.n}).", param="best_of")
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


class ChatRequest(_Sampled):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_completion_tokens: int | None = Field(None, ge=1)

    def check(self) -> None:
        if self.top_logprobs is not None and not self.logprobs:
            raise APIError(400, "top_logprobs needs logprobs set to true.", param="top_logprobs")

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class TokenizeRequest(BaseModel):
    """Body of ``POST /tokenize``: a model and either text or chat messages."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: Text
    text: Text | None = None
    messages: list[ChatMessage] | None = None
