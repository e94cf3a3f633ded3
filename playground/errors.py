"""The one error tree of the core.

Every failure that reaches a page is a ``PlaygroundError`` with a message a person can act
on and a hint saying what to do next. Pages show ``str(error)`` and ``error.hint``; they never
see SDK exceptions or tracebacks.

    PlaygroundError
    ├── InvalidParameters      values the user typed fail the specs; nothing was sent
    ├── ConnectionFailed       the endpoint could not be reached (refused, DNS, TLS), or
    │                          the connection broke off before the answer was complete
    ├── RequestTimedOut        connect or read took longer than the configured timeout
    ├── AuthenticationFailed   401: the key is missing or wrong
    ├── PermissionDenied       403: the key may not use this model or endpoint
    ├── ModelNotFound          404: the endpoint does not serve this model (or path)
    ├── BadRequest             400/413/422: the server refused a value (``param`` names it,
    │                          ``code`` says how: unsupported_parameter, unsupported_value…)
    │   └── ContextTooLong     the prompt and max_tokens do not fit in the context
    ├── RateLimited            429, after the allowed retries (``retry_after`` if given)
    ├── ServerFailed           5xx or a response that is not the API's JSON
    ├── StreamInterrupted      a stream broke off midway; ``partial`` keeps what arrived
    └── LocalServerFailed      the embedded local server could not start or load a model
        └── LocalServerCrashed its process died (a signal or an exit code) while starting
                               or answering; restarted, unless it crashes again and again

A ``LocalServerFailed`` may carry ``log_tail`` (the last lines the server wrote) and
``log_path`` (where its whole log is); pages show both under the message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playground.params import FieldError


class PlaygroundError(Exception):
    """Base of every error the core raises towards the UI."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.status = status

    @property
    def kind(self) -> str:
        """A short machine-readable name, as stored in the usage ledger."""
        return type(self).__name__


class InvalidParameters(PlaygroundError):
    hint = "Correct the marked fields; nothing was sent."

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(error.message for error in errors))


class ConnectionFailed(PlaygroundError):
    hint = "Check the base URL and that the server is running and reachable from this machine."


class RequestTimedOut(PlaygroundError):
    hint = "The server may be overloaded or the request too large; try again or raise the timeout."


class AuthenticationFailed(PlaygroundError):
    hint = "Check the API key in the sidebar, .streamlit/secrets.toml or OPENAI_API_KEY."


class PermissionDenied(PlaygroundError):
    hint = "This key may not use this model or endpoint; check the account's access."


class ModelNotFound(PlaygroundError):
    hint = "Pick a model from the list the connection reports (Models page)."


class BadRequest(PlaygroundError):
    hint = "Change the named parameter and send again."

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 **kwargs):
        super().__init__(message, **kwargs)
        self.param = param
        self.code = code


class ContextTooLong(BadRequest):
    hint = "Shorten the prompt or lower max_tokens so both fit in the model's context."


class RateLimited(PlaygroundError):
    hint = "Wait a moment, lower the concurrency, or check the account's rate limits."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerFailed(PlaygroundError):
    hint = "The server had a problem; try again, or check its logs."


class StreamInterrupted(PlaygroundError):
    hint = "What arrived is kept and marked incomplete; send again to get a full reply."

    def __init__(self, message: str, *, partial: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.partial = partial


class LocalServerFailed(PlaygroundError):
    hint = "Check that requirements.txt is installed; the local server's log is in the data folder."

    def __init__(self, message: str, *, log_tail: str = "", log_path: str | None = None,
                 **kwargs):
        super().__init__(message, **kwargs)
        self.log_tail = log_tail
        self.log_path = log_path


class LocalServerCrashed(LocalServerFailed):
    hint = ("The next request goes to the restarted server. If it keeps crashing, set "
            "PLAYGROUND_SAFE_ENGINE=1 (safe CPU settings for llama.cpp) and restart the app.")


def from_openai(exc: Exception) -> PlaygroundError:
    """Translate an ``openai`` SDK exception into the core's error tree.

    A server that quotes the key it was sent back in its error (some gateways do) never
    gets it onto the page: the request's own key is masked in the message.
    """
    if isinstance(exc, PlaygroundError):
        return exc
    error = _translate(exc)
    key = _sent_key(exc)
    if key and key in error.message:
        error.message = error.message.replace(key, REDACTED_KEY)
        error.args = (error.message, *error.args[1:])
    return error


REDACTED_KEY = "[key hidden]"


def _sent_key(exc: Exception) -> str | None:
    """The bearer token the failed request carried, if any (at least 8 characters)."""
    request = getattr(exc, "request", None)
    try:
        header = request.headers.get("authorization") or ""
    except AttributeError:
        return None
    key = header.removeprefix("Bearer ").strip()
    return key if len(key) >= 8 else None


def _translate(exc: Exception) -> PlaygroundError:
    import openai
    if isinstance(exc, openai.APITimeoutError):
        if _caused_by(exc, "ConnectTimeout"):
            return RequestTimedOut(
                f"Could not connect to {_host(exc)} within the timeout: nothing answered.",
                hint="Check the base URL and that the server is up and reachable from this "
                     "machine; a firewall may be dropping the connection.")
        return RequestTimedOut("The request timed out: the server sent nothing for longer "
                               "than the connection's timeout.")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        if _caused_by(exc, "gaierror"):
            return ConnectionFailed(
                f"Could not connect to the endpoint: its host name {_host(exc)} does not "
                f"resolve ({_short(cause)}).",
                hint="Check the host name in the base URL, and that this machine's network "
                     "and DNS work.")
        if not _caused_by(exc, "ConnectError"):  # connected, then the answer broke off
            return ConnectionFailed(
                f"The connection broke off before the server's answer was complete: "
                f"{_short(cause)}.",
                hint="The server, or a proxy in between, closed the connection mid-answer; "
                     "send again, and check the server's log if it keeps happening.")
        return ConnectionFailed(f"Could not connect to the endpoint: {_short(cause)}.")
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc)
    if isinstance(exc, openai.APIResponseValidationError):
        return ServerFailed("The server's answer is not in the API's format.")
    if isinstance(exc, openai.APIError):
        return ServerFailed(f"The server sent an error: {exc.message}")
    if isinstance(exc, json.JSONDecodeError) and _ends_midway(exc):
        return ServerFailed(
            "The server's answer ends midway through its JSON: the connection was probably "
            "cut before the answer was complete.",
            hint="The server, or a proxy in between, closed the connection mid-answer; send "
                 "again, and check the server's log if it keeps happening.")
    if isinstance(exc, json.JSONDecodeError):  # the SDK decoding a 200 that is not JSON
        return ServerFailed(
            "The server's answer is not JSON, so it is not an OpenAI-compatible API.")
    return ServerFailed(f"Unexpected failure: {_short(exc)}.")


def _from_status(exc) -> PlaygroundError:
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    message = error.get("message") or exc.message or f"HTTP {status}"
    param = error.get("param")
    code = error.get("code")
    if status == 401:
        return AuthenticationFailed(f"The server refused the API key (401): {message}",
                                    status=status)
    if status == 403:
        return PermissionDenied(f"Access denied (403): {message}", status=status)
    if status == 404:
        return ModelNotFound(f"Not found (404): {message}", status=status)
    if code == "model_load_failed":  # the embedded server: a model file it cannot read
        return LocalServerFailed(
            f"The local server could not load the model ({status}): {message}",
            hint="The file may be damaged or not a GGUF model llama.cpp can read: replace "
                 "or remove it. The other models still work.", status=status)
    if status == 429:
        return RateLimited(
            f"Rate limited (429): {message}", retry_after=_retry_after(exc), status=status
        )
    if status == 413 or code == "context_length_exceeded":
        return ContextTooLong(f"Too long for the model's context ({status}): {message}",
                              param=param, status=status)
    if 400 <= status < 500:
        named = f" [{param}]" if param else ""
        return BadRequest(f"The server refused the request ({status}){named}: {message}",
                          param=param, code=code, status=status)
    if not body:  # an HTML error page or plain text, not the API's JSON
        return ServerFailed(f"The server failed ({status}) and sent no API error.", status=status)
    return ServerFailed(f"The server failed ({status}): {message}", status=status)


def _ends_midway(exc: json.JSONDecodeError) -> bool:
    """A JSON object or array that stops where the text stops: a body cut short."""
    stops_early = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string")
    return exc.doc.lstrip()[:1] in ("{", "[") and stops_early


def _retry_after(exc) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _caused_by(exc: BaseException, name: str) -> bool:
    """Whether an exception of this class name (httpx's, httpcore's, socket's) lies
    behind ``exc``; names, so that the SDK's HTTP library can change under us."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == name:
            return True
        current = current.__cause__ or current.__context__
    return False


def _host(exc) -> str:
    request = getattr(exc, "request", None)
    try:
        return str(request.url.host) or "the endpoint"
    except AttributeError:
        return "the endpoint"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
