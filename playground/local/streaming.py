"""Run a blocking event generator in its own thread and stream it to an HTTP client.

Generation holds a model's lock until its generator finishes. If the client goes away,
Starlette stops reading but never resumes or closes a blocking generator, which would keep
the lock (and the CPU) busy until ``max_tokens`` ran out. Here the generator runs in a
producer thread that checks a cancel flag between events and closes the generator itself,
so an abandoned stream frees its model after at most one more token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

_END = object()


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


async def stream_in_thread(events: Iterator[str]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()
    threading.Thread(target=_produce, args=(events, loop, queue, cancelled), daemon=True,
                     name="generation").start()
    try:
        while (item := await queue.get()) is not _END:
            yield item
    finally:
        cancelled.set()
