"""Every request of one Compare cell, in a worker thread, until it has its samples.

**Samples per cell** come from ``n`` (one request; at most 8 choices per request) when
``sampling="n"``. An endpoint that ignores ``n`` answers with fewer choices: the cell then
tops up with further requests and records ``n_ignored``. ``sampling="repeat"`` always sends
one request per sample. With a seed (an axis or ``fixed_seed``), the request that starts at
sample k is sent with ``seed + k``, so the samples differ and a rerun reproduces them.

Every cell is sent as its model takes it (``accepts_of``: max_tokens becomes
max_completion_tokens for a reasoning model, and what a server refused before, remembered
in a ``RefusalStore``, is left out); a refusal the server answers is remembered there.

**Tokens per sample**: usage gives one total per request. A sample's own count comes from
usage when the request had one choice, else from its log-probabilities, else (local server)
from ``POST /tokenize`` of its text; otherwise it is unknown (None).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from playground import errors, runner, tokens
from playground.capabilities import Capabilities, for_model, profile_for
from playground.compare import metrics
from playground.compare.grid import Cell, Grid, LimitsOf, request_values
from playground.compare.results import CellResult, Sample
from playground.connection import Connection
from playground.params import ModelLimits
from playground.recording import Recorder
from playground.refusals import RefusalStore, learn
from playground.runner import RunResult

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int | None]


def accepts_of(conn: Connection, model: str, store: RefusalStore | None) -> Capabilities:
    """What the model takes: its family's profile, and the refusals ``store`` remembers
    (none when it is None or cannot be read: the profile still applies)."""
    if store is not None:
        try:
            return for_model(conn, model, store)
        except errors.PlaygroundError as exc:
            log.warning("Remembered refusals not applied to %s: %s", model, exc)
    return Capabilities(model, profile_for(conn, model))


def limits_of(resolve_connection: Callable[[str], Connection],
              store: RefusalStore | None) -> LimitsOf:
    """A cell's model's ranges as its requests are checked (``Capabilities.limits``); None
    for a cell whose connection cannot be resolved (the cell then fails, saying so)."""
    known: dict[tuple[str, str], ModelLimits | None] = {}

    def limits(cell: Cell) -> ModelLimits | None:
        key = (cell.connection, cell.model)
        if key not in known:
            try:
                conn = resolve_connection(cell.connection)
            except errors.PlaygroundError:
                known[key] = None
            else:
                known[key] = accepts_of(conn, cell.model, store).limits()
        return known[key]
    return limits


def run_cell(grid: Grid, cell: Cell, conn: Connection, stop: threading.Event,
             attempts: int, recorder: Recorder | None, run_started: float,
             store: RefusalStore | None = None) -> CellResult:
    """Every request of one cell. Never raises: a failure stays in the cell's result."""
    send = recorder.run if recorder is not None else runner.run
    started = time.perf_counter()
    result = CellResult(cell, status="failed", attempts=attempts,
                        queued=started - run_started)
    count_tokens = _token_counter(conn, cell.model)
    want = grid.samples_per_cell
    accepts = accepts_of(conn, cell.model, store)
    request: dict[str, Any] | None = None
    try:
        while len(result.samples) < want:
            if stop.is_set():
                result.status = "cancelled"
                break
            first = len(result.samples)
            values = request_values(grid, cell, first)
            request = runner.build_request(grid.endpoint, cell.model, values,
                                           prompt=grid.prompt, messages=grid.messages,
                                           accepts=accepts, limits=accepts.limits())
            result.requests += 1
            outcome = send(conn, grid.endpoint, request, should_stop=stop.is_set)
            _take(result, outcome, first, want, count_tokens)
            if _stopped_early(result, outcome, values["n"]):
                result.status = "cancelled"
                break
        else:
            result.status = "ok"
    except errors.PlaygroundError as exc:
        result.error = exc
    except Exception as exc:  # noqa: BLE001 - a cell's failure stays in its cell
        result.error = errors.from_openai(exc)
    if result.error is not None:
        _remember_refusal(store, conn, cell, grid.endpoint, request, result.error)
    result.latency = time.perf_counter() - started
    return result


def _take(result: CellResult, outcome: RunResult, first: int, want: int,
          count_tokens: TokenCounter) -> None:
    """Add one answer's usage to the cell's, and its choices (those still wanted) as
    samples numbered from ``first``."""
    for key, count in (outcome.usage or {}).items():
        if isinstance(count, int):
            result.usage[key] = result.usage.get(key, 0) + count
    single = len(outcome.choices) == 1
    completion_tokens = (outcome.usage or {}).get("completion_tokens")
    for offset, choice in enumerate(outcome.choices[: want - first]):
        logprobs = metrics.token_logprobs(choice.logprobs)
        counted = completion_tokens if single and completion_tokens is not None else (
            len(logprobs) if logprobs is not None else count_tokens(choice.text))
        result.samples.append(Sample(first + offset, choice.text, choice.finish_reason,
                                     logprobs, counted, outcome.latency,
                                     metrics.token_texts(choice.logprobs)))


def _stopped_early(result: CellResult, outcome: RunResult, asked: int) -> bool:
    """True when the answer was cut short by a stop; raises the error it ended with, or a
    ``ServerFailed`` for an answer without any choice. Fewer choices than the ``asked``
    ``n`` mark the cell ``n_ignored``."""
    if outcome.error is not None:
        raise outcome.error
    if outcome.incomplete:
        return True
    if not outcome.choices:
        raise errors.ServerFailed("The server answered without any choice.")
    if len(outcome.choices) < asked:
        result.n_ignored = True
    return False


def _remember_refusal(store: RefusalStore | None, conn: Connection, cell: Cell, endpoint: str,
                      request: dict[str, Any] | None, error: Exception) -> None:
    if store is None or request is None:
        return
    try:
        learn(conn, cell.model, endpoint, request, error, store)
    except errors.PlaygroundError as exc:  # the cell keeps its own error
        log.warning("A refusal of %s was not remembered: %s", cell.model, exc)


def _token_counter(conn: Connection, model: str) -> TokenCounter:
    """Text -> its token count through the local server's tokenizer; None elsewhere, or
    when the tokenizer fails (a count is not worth failing a cell over)."""
    tokenize = tokens.tokenizer(conn, model) if conn.kind == "local" else None

    def count(text: str) -> int | None:
        if tokenize is None:
            return None
        try:
            return len(tokenize(text))
        except errors.PlaygroundError:
            return None
    return count
