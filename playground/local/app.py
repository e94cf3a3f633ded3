"""The local server's HTTP face: an OpenAI-compatible FastAPI application.

Endpoints: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/completions``,
``POST /v1/chat/completions`` as in the OpenAI API, plus two extensions:
``GET /health`` (liveness, never needs a key) and ``POST /tokenize`` (text or chat
messages in; token ids and count out, so the app can count tokens exactly; also under
``/v1`` so an SDK client can reach it with ``client.post("/tokenize", ...)``).
Every error is ``{"error": {"message", "type", "param", "code"}}`` with a fitting status
(``http_errors``); a request whose client goes away stops (``answering``).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, Request

from playground.errors import LocalServerFailed
from playground.local import http_errors
from playground.local.answering import answer_while_connected
from playground.local.auth import RequireBearer
from playground.local.schema import ChatRequest, CompletionRequest, TokenizeRequest
from playground.local.served_models import DEFAULT_MODEL, discover
from playground.local.service import Service


def create_app(*, api_key: str | None = None, preload: bool = True,
               n_threads: int | None = None) -> FastAPI:
    service = Service(discover(), n_threads=n_threads)
    app = FastAPI(title="Parameter playground local server", docs_url=None, redoc_url=None,
                  redirect_slashes=False)
    app.state.service = service

    if preload:
        # Read every header and load the default model while the first page renders.
        def warm_up() -> None:
            for name, model in service.models.items():
                try:
                    model.info()
                    if name == DEFAULT_MODEL:
                        model.load()
                except LocalServerFailed:
                    pass  # reported when the model is used

        threading.Thread(target=warm_up, daemon=True).start()

    if api_key:
        app.add_middleware(RequireBearer, api_key=api_key)
    http_errors.install(app)

    @app.get("/health")
    async def health():  # answered on the event loop, even when every worker thread is busy
        return {"status": "ok", "models": list(service.models)}

    @app.get("/v1/models")
    def list_models():
        return {"object": "list", "data": service.describe_all()}

    @app.get("/v1/models/{model_id:path}")
    def retrieve_model(model_id: str):
        return service.describe(model_id, full=True)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        return await answer_while_connected(
            request, lambda cancelled: service.completion(body, cancelled))

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        return await answer_while_connected(
            request, lambda cancelled: service.chat(body, cancelled))

    @app.post("/tokenize")
    @app.post("/v1/tokenize", include_in_schema=False)  # reachable as client.post("/tokenize")
    def tokenize(body: TokenizeRequest):
        return service.tokenize(body)

    return app
