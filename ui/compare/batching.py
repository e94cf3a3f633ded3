"""What each model of a grid decodes together on the local server, for the default number
of concurrent requests and for the run's per-model queues.

The local server says it in ``GET /models/{id}`` (``parallel_sequences``); the answer is
the Models page's, kept for the session by ``ui.common.models.details_of``, so a rerun asks
nothing again. A model whose details cannot be fetched counts as unknown, silently: the
page falls back to its usual default, and the run sends that model's cells one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from playground import connection
from playground.compare import parallel_sequences
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.common import models

Pair = tuple[str, str]  # (connection name, model id), as a cell names them


def local_batches(pairs: Iterable[Pair], current: Connection) -> tuple[dict[Pair, int | None],
                                                                      bool]:
    """Each pair on the local server mapped to what its model decodes together (None when
    unknown), and whether some pair is on another endpoint. ``current`` is the sidebar's
    connection; other names are looked up among the saved connections."""
    local: dict[Pair, int | None] = {}
    others = False
    for name, model in dict.fromkeys(pairs):
        conn = _connection(name, current)
        if conn is None or conn.kind != "local":
            others = True
            continue
        try:
            local[(name, model)] = parallel_sequences(models.details_of(conn, model))
        except PlaygroundError:
            local[(name, model)] = None
    return local, others


def batch_sizes(pairs: Iterable[Pair], current: Connection) -> dict[Pair, int]:
    """The known batch of each local pair, for the run's per-model queues."""
    local, _ = local_batches(pairs, current)
    return {pair: size for pair, size in local.items() if size is not None}


def _connection(name: str, current: Connection) -> Connection | None:
    if name == current.name:
        return current
    try:
        return next((conn for conn in connection.all_connections() if conn.name == name), None)
    except PlaygroundError:
        return None
