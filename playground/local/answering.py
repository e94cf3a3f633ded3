"""Answer a request by blocking work off the event loop, for as long as its client is there.

Generation blocks and holds a model's lock, and Starlette tells neither a running endpoint
nor a blocking generator that the client has gone: left alone, a request nobody waits for
keeps the model until ``max_tokens`` runs out. So each request gets a cancel flag that
work receives and passes down to the token loop: a watcher polls the connection every
``DISCONNECT_POLL_SECONDS`` and sets the flag when the client is gone, and a streamed
answer's generator runs in a producer thread that also sets it when the response stops
being read. With the flag set, a request still waiting for the model gives up without
generating and a running one stops after its current token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from playground.local.engine import Abandoned

DISCONNECT_POLL_SECONDS = 0.1
CLIENT_CLOSED_REQUEST = 499  # never read: the client is gone

Work = Callable[[threading.Event], dict | Iterator[str]]

_END = object()


async def answer_while_connected(request: Request, work: Work) -> Response:
    """Run ``work(cancelled)`` in a thread; a dict is the JSON answer, an iterator a stream."""
    cancelled = threading.Event()
    watcher = asyncio.create_task(_watch(request, cancelled))
    try:
        result = await run_in_threadpool(work, cancelled)
    except Abandoned:
        watcher.cancel()
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    except BaseException:
        watcher.cancel()
        raise
    if isinstance(result, dict):
        watcher.cancel()
        return JSONResponse(result)
    return StreamingResponse(_stream_in_thread(result, cancelled, watcher),
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _watch(request: Request, cancelled: threading.Event) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)
    cancelled.set()


async def _stream_in_thread(events: Iterator[str], cancelled: threading.Event,
                            watcher: asyncio.Task) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_produce, args=(events, loop, queue, cancelled), daemon=True,
                     name="generation").start()
    try:
        while (item := await queue.get()) is not _END:
            yield item
    finally:
        cancelled.set()
        watcher.cancel()


def _produce(events: Iterator[str], loop: asyncio.AbstractEventLoop, queue: asyncio.Queue,
             cancelled: threading.Event) -> None:
    def send(item) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: the server is shutting down
            cancelled.set()

    try:
        for item in events:
            if cancelled.is_set():
                break
            send(item)
    finally:
        events.close()
        send(_END)
