"""What one request leaves in the usage ledger: a ``UsageRecord``, scrubbed of keys.

Keys never reach the file: parameters and bodies are scrubbed of anything named like a
credential, of values that look like OpenAI keys, and of the connection's own key. Each
record keeps the host its request went to (``scheme://host:port``, no path, no credentials).
Token counts are the server's; when it reported none they are estimated from the text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from playground.catalog import estimate_cost
from playground.errors import PlaygroundError
from playground.ledger.queries import TIME_FORMAT
from playground.tokens import estimate_tokens

if TYPE_CHECKING:
    from playground.catalog import Price
    from playground.connection import Connection, ConnectionReport
    from playground.runner import RunResult

REDACTED = "[redacted]"
CONTENT_FIELDS = ("model", "prompt", "messages", "suffix")

Status = Literal["ok", "error", "incomplete"]


_SECRET_NAME = re.compile(
    r"(?:^|[_\-. ])(?:api[_\-]?key|key|secret|client[_\-]?secret|password|passwd|"
    r"authorization|auth|bearer|token|access[_\-]?token|credentials?)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{16,}|(?<=Bearer )[^\s\"']{8,}")


def is_secret_name(name: str) -> bool:
    """True for names like ``api_key``, ``Authorization``, ``x-api-key``; not ``max_tokens``."""
    return bool(_SECRET_NAME.search(str(name)))


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy without entries named like credentials and with key-like strings redacted."""
    secrets = tuple(s for s in secrets if s)
    if isinstance(value, Mapping):
        return {str(k): scrub(v, secrets) for k, v in value.items() if not is_secret_name(k)}
    if isinstance(value, (list, tuple)):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def _prompt_text(request: Mapping[str, Any]) -> str:
    parts: list[str] = []
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        parts.append(prompt)
    elif isinstance(prompt, list):
        parts.extend(p for p in prompt if isinstance(p, str))
    if isinstance(request.get("suffix"), str):
        parts.append(request["suffix"])
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
    return "".join(parts)


def sent_parameters(request: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling parameters of a request: everything but the model and the text."""
    return {k: v for k, v in request.items() if k not in CONTENT_FIELDS}


@dataclass
class UsageRecord:
    """One request as the ledger keeps it. Build it with ``from_result`` or ``from_error``.

    ``time`` is when the request was sent (UTC). Token counts are the server's; when it
    reported none they are estimated from the text and ``tokens_estimated`` is set.
    ``reasoning_tokens`` are the hidden tokens a reasoning model spent thinking
    (``usage.completion_tokens_details.reasoning_tokens``): the server counts them inside
    ``completion_tokens`` already, so they are a part of it, never added to it.
    ``cost`` is in US dollars from the price table, None when the model has no price.
    ``tokens_per_second`` is completion tokens over the whole latency (throughput as the
    user waited for it, comparable between streamed and plain requests).
    """

    page: str
    connection: str
    endpoint: str
    model: str
    status: Status = "ok"
    params: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    latency: float | None = None
    time_to_first_token: float | None = None
    error_kind: str | None = None
    error_message: str | None = None
    cost: float | None = None
    request: dict[str, Any] | None = None
    response: Any = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    session: str | None = None  # the browser session, for its running total
    host: str | None = None  # scheme://host:port the request went to

    @property
    def tokens_per_second(self) -> float | None:
        if (self.status == "error" or self.endpoint not in ("chat", "completions")
                or not self.latency or self.latency <= 0):
            return None
        return self.completion_tokens / self.latency

    @classmethod
    def from_result(cls, result: RunResult, *, page: str, connection: Connection | str,
                    prices: Mapping[str, Price] | None = None, session: str | None = None,
                    ended: datetime | None = None) -> UsageRecord:
        """The record of a request that returned (completely, or a stream cut short);
        ``ended``: when its answer was in, if not now (the record made later)."""
        request = dict(result.request)
        usage = result.usage or {}
        text = "".join(choice.text for choice in result.choices)
        if not text and result.error is not None:
            text = getattr(result.error, "partial", "") or ""
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        estimated = not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int)
        if not isinstance(prompt_tokens, int):
            prompt_tokens = estimate_tokens(_prompt_text(request))
        if not isinstance(completion_tokens, int):
            completion_tokens = estimate_tokens(text)
        status: Status = "incomplete" if result.incomplete else "ok"
        secrets = _secrets_of(connection)
        error = result.error
        record = cls(
            page=page, connection=_name_of(connection), endpoint=result.endpoint,
            model=str(request.get("model") or ""), status=status,
            params=_without(sent_parameters(request), secrets),
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            reasoning_tokens=min(reasoning_tokens_of(usage), completion_tokens),
            tokens_estimated=estimated, latency=result.latency,
            time_to_first_token=result.time_to_first_token,
            error_kind=error.kind if error is not None else None,
            error_message=_without(str(error), secrets) if error is not None else None,
            request=_without(request, secrets),
            response=_without(_response_of(result), secrets),
            time=(ended or datetime.now(UTC)) - timedelta(seconds=result.latency or 0.0),
            session=session, host=host_of(connection),
        )
        record.cost = estimate_cost(record.model, prompt_tokens, completion_tokens, prices)
        return record

    @classmethod
    def from_error(cls, error: BaseException, *, endpoint: str, request: Mapping[str, Any],
                   page: str, connection: Connection | str, latency: float | None = None,
                   prices: Mapping[str, Price] | None = None, session: str | None = None,
                   ended: datetime | None = None) -> UsageRecord:
        """The record of a request that failed before any answer arrived (no tokens used);
        ``ended``: when it failed, if not now."""
        request = dict(request)
        secrets = _secrets_of(connection)
        kind = error.kind if isinstance(error, PlaygroundError) else type(error).__name__
        record = cls(
            page=page, connection=_name_of(connection), endpoint=endpoint,
            model=str(request.get("model") or ""), status="error",
            params=_without(sent_parameters(request), secrets), latency=latency,
            error_kind=kind, error_message=_without(str(error), secrets),
            request=_without(request, secrets),
            time=(ended or datetime.now(UTC)) - timedelta(seconds=latency or 0.0),
            session=session, host=host_of(connection),
        )
        record.cost = estimate_cost(record.model, 0, 0, prices)
        return record

    @classmethod
    def from_connection_test(cls, report: ConnectionReport, *, page: str,
                             connection: Connection | str,
                             session: str | None = None) -> UsageRecord:
        """The record of a "Test connection" (a model listing: no model, no tokens)."""
        message = _without(report.message, _secrets_of(connection))
        return cls(
            page=page, connection=_name_of(connection), endpoint="models", model="",
            status="ok" if report.ok else "error", latency=report.seconds,
            error_kind=None if report.ok else report.error_kind,
            error_message=None if report.ok else message,
            response={"ok": report.ok, "message": report.message,
                      "model_count": report.model_count},
            time=datetime.now(UTC) - timedelta(seconds=report.seconds or 0.0),
            session=session, host=host_of(connection),
        )

    def to_row(self) -> dict[str, Any]:
        """The record as the ledger's columns; scrubbed again, JSON encoded."""
        when = self.time if self.time.tzinfo else self.time.replace(tzinfo=UTC)
        return {
            "time": when.astimezone(UTC).strftime(TIME_FORMAT),
            "page": self.page,
            "connection": self.connection,
            "endpoint": self.endpoint,
            "model": self.model,
            "params": _json(scrub(self.params or {})),
            "prompt_tokens": int(self.prompt_tokens or 0),
            "completion_tokens": int(self.completion_tokens or 0),
            "reasoning_tokens": int(self.reasoning_tokens or 0),
            "tokens_estimated": int(bool(self.tokens_estimated)),
            "latency": self.latency,
            "time_to_first_token": self.time_to_first_token,
            "tokens_per_second": self.tokens_per_second,
            "status": self.status,
            "error_kind": self.error_kind,
            "error_message": scrub(self.error_message) if self.error_message else None,
            "cost": self.cost,
            "request": _json(scrub(self.request)) if self.request is not None else None,
            "response": _json(scrub(self.response)) if self.response is not None else None,
            "session": self.session,
            "host": self.host,
        }


def host_of(connection: Connection | str) -> str | None:
    """Where the connection's requests go, as ``scheme://host:port``: its base URL, or for
    the local models the local server's (None before it has started, or for a bare name)."""
    if isinstance(connection, str):
        return None
    url = connection.base_url
    if not url and connection.kind == "local":
        from playground.local.launcher import URL_VARIABLE, local_server

        url = os.environ.get(URL_VARIABLE) or local_server().base_url
    return origin(url) if url else None


@lru_cache(maxsize=256)
def origin(url: str) -> str | None:
    """``scheme://host:port`` of a URL: no user, password, path or query; the port filled
    in for http and https. None when the URL names no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _name_of(connection: Connection | str) -> str:
    return connection if isinstance(connection, str) else connection.name


def _without(value: Any, secrets: tuple[str, ...]) -> Any:
    """Scrubbed of the connection's own key now; ``to_row`` scrubs patterns again anyway."""
    return scrub(value, secrets) if secrets else value


def reasoning_tokens_of(usage: Mapping[str, Any] | None) -> int:
    """``completion_tokens_details.reasoning_tokens`` of a usage object; 0 when absent."""
    details = (usage or {}).get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    return reasoning if isinstance(reasoning, int) and not isinstance(reasoning, bool) else 0


def _secrets_of(connection: Connection | str) -> tuple[str, ...]:
    key = getattr(connection, "api_key", None)
    return (key,) if key else ()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _response_of(result: RunResult) -> dict[str, Any]:
    """The answer as a reader wants it: the body as sent, or a stream put back together."""
    if isinstance(result.raw, dict):
        body = dict(result.raw)
    else:
        first = result.raw[0] if result.raw else {}
        body = {k: first[k] for k in ("id", "object", "created", "model", "system_fingerprint")
                if k in first}
        body["choices"] = [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                            "logprobs": c.logprobs} for c in result.choices]
        body["usage"] = result.usage
        body["streamed_chunks"] = len(result.raw or [])
    if result.incomplete:
        body["incomplete"] = True
    if result.error is not None:
        body["error"] = {"kind": result.error.kind, "message": str(result.error)}
    return body
