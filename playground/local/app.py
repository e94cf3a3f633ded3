"""The local server's HTTP face: an OpenAI-compatible FastAPI application.

Endpoints: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/completions``,
``POST /v1/chat/completions`` as in the OpenAI API, plus two extensions:
``GET /health`` (liveness, never needs a key) and ``POST /tokenize`` (text or chat
messages in; token ids and count out, so the app can count tokens exactly; also under
``/v1`` so an SDK client can reach it with ``client.post("/tokenize", ...)``).
Every error is ``{"error": {"message", "type", "param", "code"}}`` with a fitting status.
"""

from __future__ import annotations

import hmac
import threading

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from playground.errors import LocalServerFailed
from playground.local.catalog import DEFAULT_MODEL, discover
from playground.local.schema import APIError, ChatRequest, CompletionRequest, TokenizeRequest
from playground.local.service import Service
from playground.local.streaming import stream_in_thread


def create_app(*, api_key: str | None = None, preload: bool = True,
               n_threads: int | None = None) -> FastAPI:
    service = Service(discover(), n_threads=n_threads)
    app = FastAPI(title="Parameter playground local server", docs_url=None, redoc_url=None)
    app.state.service = service

    if preload:
        # Read every header and load the default model while the first page renders.
        def warm_up() -> None:
            for name, model in service.models.items():
                try:
                    model.info()
                    if name == DEFAULT_MODEL:
                        model.llm
                except LocalServerFailed:
                    pass  # reported when the model is used

        threading.Thread(target=warm_up, daemon=True).start()

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        if api_key and request.url.path != "/health":
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _error(APIError(401, "Incorrect API key provided.",
                                       code="invalid_api_key"))
        return await call_next(request)

    @app.exception_handler(APIError)
    async def api_error(_request, error: APIError):
        return _error(error)

    @app.exception_handler(LocalServerFailed)
    async def model_failed(_request, error: LocalServerFailed):
        return _error(APIError(500, str(error), kind="server_error", code="model_load_failed"))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, error: RequestValidationError):
        first = error.errors()[0]
        location = [part for part in first["loc"] if part != "body"]
        param = str(location[0]) if location else None
        where = ".".join(str(p) for p in location) or "body"
        return _error(APIError(400, f"Invalid value for '{where}': {first['msg']}.",
                               param=param, code="invalid_value"))

    @app.get("/health")
    def health():
        return {"status": "ok", "models": list(service.models)}

    @app.get("/v1/models")
    def list_models():
        return {"object": "list", "data": service.describe_all()}

    @app.get("/v1/models/{model_id:path}")
    def retrieve_model(model_id: str):
        return service.describe(model_id, full=True)

    @app.post("/v1/completions")
    def completions(body: CompletionRequest):
        return _respond(service.completion(body))

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatRequest):
        return _respond(service.chat(body))

    @app.post("/tokenize")
    @app.post("/v1/tokenize", include_in_schema=False)  # reachable as client.post("/tokenize")
    def tokenize(body: TokenizeRequest):
        return service.tokenize(body)

    return app


def _respond(result):
    if isinstance(result, dict):
        return result
    return StreamingResponse(stream_in_thread(result), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _error(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)
