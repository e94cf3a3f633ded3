"""Every failure of the local server answered the OpenAI way.

Whatever goes wrong (a value of the wrong type, a body that is not JSON or not UTF-8,
nesting too deep to parse, an unknown route or method, a body over the size limit, a model
that fails to load, a bug), the client gets
``{"error": {"message", "type", "param", "code"}}`` with a fitting status, and ``param``
names a request field or is null (never a byte offset). Unexpected exceptions answer 500
and their traceback goes to the log. ``install`` puts all of this on an application.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playground.errors import LocalServerFailed
from playground.local.schema import APIError

MAX_BODY_BYTES = 8 * 1024 * 1024

log = logging.getLogger("playground.local")

_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}

_UNPARSABLE = ("We could not parse the JSON body of your request ({reason}). The API expects "
               "a JSON object encoded as UTF-8: check the body your client sends.")


def install(app: FastAPI) -> None:
    """Answer every failure of ``app`` as an OpenAI-shaped error (see the module docstring).

    The handlers are coroutines, so an error is answered even while every worker thread
    is taken by requests waiting for a model.
    """
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(LocalServerFailed, _model_failed)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(OpenAIErrors)


def error_response(error: APIError, headers: dict[str, str] | None = None) -> Response:
    """The error as JSON; ASCII-escaped so text echoed from a request can always be encoded."""
    return Response(json.dumps(error.body()), status_code=error.status, headers=headers,
                    media_type="application/json")


class BodyTooLarge(HTTPException):
    def __init__(self, size: int | None = None):
        told = f"The request body is {size} bytes; " if size is not None else "The request body is "
        super().__init__(413, told + f"larger than the server accepts ({MAX_BODY_BYTES} bytes). "
                              "Send a shorter prompt, fewer prompts or fewer messages.")


class OpenAIErrors:
    """Outermost ASGI layer: refuses oversized bodies and turns any escaped exception into a 500.

    The body is counted as it arrives, so a body without ``Content-Length`` (chunked) is
    stopped at the limit too, and nothing is buffered here.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await (await _http_error(None, BodyTooLarge(declared)))(scope, receive, send)
            return
        started = False
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as error:
            if not started:
                await (await _http_error(None, error))(scope, receive, send)
        except Exception:
            log.exception("Unexpected error while serving %s %s", scope["method"], scope["path"])
            if not started:
                failure = APIError(500, "The local server failed while handling the request. "
                                        "Its log (local-server.log in the data folder when the "
                                        "app started it) has the traceback.", kind="server_error")
                await error_response(failure)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _api_error(_request: Request, error: APIError) -> Response:
    return error_response(error)


async def _model_failed(_request: Request, error: LocalServerFailed) -> Response:
    return error_response(APIError(500, str(error), kind="server_error", code="model_load_failed"))


async def _invalid(_request: Request, error: RequestValidationError) -> Response:
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        reason = first.get("ctx", {}).get("error", "invalid JSON")
        return error_response(APIError(400, _UNPARSABLE.format(reason=reason)))
    location = _fields(first["loc"])
    if not location:
        return error_response(APIError(400, "The request body must be a JSON object of the "
                                            f"endpoint's fields: {first['msg']}."))
    param, where = location[0], ".".join(str(part) for part in location)
    if first["type"] == "extra_forbidden":
        return error_response(APIError(400, f"Unrecognized request argument supplied: {param}",
                                       param=param, code="unknown_parameter"))
    if first["type"] == "missing":
        return error_response(APIError(400, f"Missing required parameter: '{where}'.",
                                       param=param, code="missing_required_parameter"))
    if first["type"] == "value_error":  # the validator's message already shows the value
        reason = first["msg"].removeprefix("Value error, ")
    else:
        reason = f"{first['msg']} (got {_shown(first.get('input'))})"
    return error_response(APIError(400, f"Invalid value for '{where}': {reason}.",
                                   param=param, code="invalid_value"))


def _fields(loc: tuple) -> list:
    """The field names and list indexes of a pydantic location, without the union-member tags.

    An empty list when the error is about the body as a whole (or a position in its text).
    """
    if loc[:1] != ("body",) or len(loc) < 2 or not isinstance(loc[1], str):
        return []
    return [part for part in loc[1:]
            if isinstance(part, int) or (part.isidentifier() and part not in _TYPE_TAGS)]


async def _http_error(request: Request | None, error: HTTPException) -> Response:
    if request is not None and error.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})."
    elif request is not None and error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        message = (f"Invalid method for URL ({request.method} {request.url.path}); "
                   f"it allows {allowed}.")
    elif error.status_code == 400:
        message = _UNPARSABLE.format(reason=_unparsable_because(error.__cause__, error.detail))
    else:
        message = str(error.detail)
    code = "request_too_large" if error.status_code == 413 else None
    allow = (error.headers or {}).get("Allow")
    headers = {"Allow": allow} if allow is not None else None
    return error_response(APIError(error.status_code, message, code=code), headers)


def _unparsable_because(cause: BaseException | None, detail) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"it is not UTF-8: byte 0x{cause.object[cause.start]:02x} at position {cause.start}"
    if isinstance(cause, RecursionError):
        return "it is nested too deeply"
    return str(detail).rstrip(".").lower()


def _shown(value) -> str:
    """A short JSON rendering of an offending value: scalars as written, containers by kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
