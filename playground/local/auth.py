"""The local server's optional API key: ``Authorization: Bearer KEY`` on every route but /health.

The scheme is matched case-insensitively, as HTTP wants; any other scheme, a missing header
or a wrong key answers 401 before the body is read.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from playground.local.http_errors import error_response
from playground.local.schema import APIError

OPEN_PATHS = frozenset({"/health"})

_HOW = "Send it as 'Authorization: Bearer YOUR_KEY' (the SDK does so with api_key=...)."


class RequireBearer:
    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.api_key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            refusal = self._refusal(dict(scope["headers"]).get(b"authorization"))
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, header: bytes | None) -> APIError | None:
        if header is None:
            return APIError(401, f"You didn't provide an API key. {_HOW}")
        scheme, _, key = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return APIError(401, f"The Authorization header must use the Bearer scheme. {_HOW}")
        if not hmac.compare_digest(key.strip(), self.api_key):
            return APIError(401, "Incorrect API key provided.", code="invalid_api_key")
        return None
