"""Running a Compare grid: its cells on a bounded ``ThreadPoolExecutor``.

- **Failures stay in their cell**: a cell that fails keeps its ``PlaygroundError`` and the
  others go on; ``rerun_failed`` sends only the failed cells again.
- **Cancel** (``should_cancel``, polled in the calling thread) stops scheduling: cells not
  started end as ``cancelled``, streaming cells stop at their next chunk, and a request
  already in flight without streaming is allowed to finish (the SDK cannot abort it).
- **Rate limits**: each request is retried by the SDK itself (``Connection.max_retries``),
  which waits for the server's ``Retry-After`` (or backs off exponentially without one).
  The pool does not amplify a limit: at most ``max_workers`` requests are ever in flight,
  a cell is never retried by the pool while the SDK retries it, and when a cell still ends
  ``RateLimited`` the pool pauses new requests to that connection for ``retry_after``
  (or ``RATE_LIMIT_PAUSE`` seconds) and puts the cell back in the queue, at most
  ``rate_limit_requeues`` times, before it counts as failed.
- **Per-model queues**: the embedded local server decodes a model's requests together up
  to its batch (``parallel_sequences``, given here as ``batch_sizes``; one at a time for a
  model not named), so cells of a local connection are sent no more per model than that
  (or ``per_model_limit``); queued cells then wait on this side, where cancel can still
  drop them, instead of on the server with their timeout running. Remote cells all go at
  once, so twelve cells take about as long as the slowest one.

**Timing**: each cell records ``queued``, the seconds from the start of scheduling until
its first request was sent (waiting on this side for a free worker, a per-model queue or a
rate-limit pause), apart from ``latency``, the seconds its requests took. A server that
answers one request at a time queues the rest on its side, inside ``latency``: a chart
should show requests in flight together, not latency alone.

``on_cell_done`` is called in the calling thread (never a worker), as each cell ends: a
page can update its widgets from it. If it (or ``should_cancel``) raises, as Streamlit does
to interrupt a script whose user clicked a button, the run stops as on cancel but returns at
once: requests in flight finish in the background and their results are dropped. With a
``recorder`` every request goes through ``Recorder.run`` and lands in the usage ledger.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from playground import errors
from playground.compare.axes import refuse
from playground.compare.cell_run import limits_of, run_cell
from playground.compare.grid import Cell, Grid
from playground.compare.results import CellResult, GridResult
from playground.connection import Connection, client_for
from playground.recording import Recorder
from playground.refusals import RefusalStore

RATE_LIMIT_PAUSE = 1.0

ResolveConnection = Callable[[str], Connection]
Resolved = dict[str, Connection | errors.PlaygroundError]


def run_grid(grid: Grid, resolve_connection: ResolveConnection, *, max_workers: int = 4,
             on_cell_done: Callable[[CellResult], None] | None = None,
             should_cancel: Callable[[], bool] | None = None,
             cells: Iterable[Cell] | None = None,
             per_model_limit: int | None = None,
             batch_sizes: Mapping[tuple[str, str], int] | None = None,
             rate_limit_requeues: int = 1,
             poll_interval: float = 0.05,
             recorder: Recorder | None = None,
             refusals: RefusalStore | None = None) -> GridResult:
    """Run the grid's cells (or just ``cells``) on a pool of ``max_workers`` threads.

    Raises ``InvalidParameters`` before sending anything when the grid does not check.
    ``resolve_connection(name)`` gives the connection, key resolved, for a cell's
    connection name. ``per_model_limit`` caps the cells in flight per (connection, model);
    by default, for the embedded local server, what ``batch_sizes`` gives for (connection
    name, model), the requests that model decodes together (1 for a model it does not
    name), and unlimited otherwise. ``recorder``
    records every request in the usage ledger. Every cell is sent as its model takes it
    (``accepts_of``: max_tokens becomes max_completion_tokens for a reasoning model); with
    ``refusals``, what a server refused before applies too, and a cell's refusal is
    remembered there, as on the Chat page.
    """
    if max_workers < 1:
        raise refuse("max_workers", "The pool needs at least one worker.")
    grid.check(limits_of(resolve_connection, refusals))
    started = time.perf_counter()
    todo = list(cells) if cells is not None else grid.cells()
    run = _Run(grid, _connections(todo, resolve_connection), max_workers=max_workers,
               per_model_limit=per_model_limit, batch_sizes=dict(batch_sizes or {}),
               rate_limit_requeues=rate_limit_requeues,
               poll_interval=poll_interval, recorder=recorder, refusals=refusals,
               on_cell_done=on_cell_done)
    run.queue(todo)
    run.schedule(should_cancel)
    run.cancel_pending()
    return GridResult(grid, [run.results[cell.id] for cell in todo],
                      time.perf_counter() - started, cancelled=run.stop.is_set())


def rerun_failed(grid: Grid, previous: GridResult, resolve_connection: ResolveConnection, *,
                 include_cancelled: bool = False, **options: Any) -> GridResult:
    """Run again only the cells that failed (and, if asked, those cancelled); the other
    cells keep their earlier results. ``options`` are those of ``run_grid``."""
    wanted = {"failed", "cancelled"} if include_cancelled else {"failed"}
    again = [result.cell for result in previous.cells if result.status in wanted]
    if not again:
        return replace(previous, wall_time=0.0, cancelled=False)
    fresh = run_grid(grid, resolve_connection, cells=again, **options)
    merged = {result.cell.id: result for result in previous.cells}
    merged.update({result.cell.id: result for result in fresh.cells})
    return GridResult(grid, [merged[result.cell.id] for result in previous.cells],
                      fresh.wall_time, fresh.cancelled)


def _connections(cells: list[Cell], resolve_connection: ResolveConnection) -> Resolved:
    """Each connection the cells name, resolved once; one that fails stands as its error."""
    conns: Resolved = {}
    for name in dict.fromkeys(cell.connection for cell in cells):
        try:
            conns[name] = resolve_connection(name)
            # The client is cached per connection, but twelve workers asking for it at once
            # would each build one (the cache does not lock): build it once, here.
            client_for(conns[name])
        except Exception as exc:  # noqa: BLE001
            conns[name] = errors.from_openai(exc)
    return conns


@dataclass
class _Run:
    """One run's cells: waiting (with the attempt each is on), in flight, and done."""

    grid: Grid
    conns: Resolved
    max_workers: int
    per_model_limit: int | None
    batch_sizes: dict[tuple[str, str], int]
    rate_limit_requeues: int
    poll_interval: float
    recorder: Recorder | None
    refusals: RefusalStore | None
    on_cell_done: Callable[[CellResult], None] | None
    results: dict[str, CellResult] = field(default_factory=dict)
    pending: deque[tuple[Cell, int]] = field(default_factory=deque)
    running: dict[Future, tuple[Cell, int]] = field(default_factory=dict)
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    paused_until: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def queue(self, cells: list[Cell]) -> None:
        """Every cell pending; those whose connection failed end at once with its error."""
        self.results = {cell.id: CellResult(cell) for cell in cells}
        for cell in cells:
            conn = self.conns[cell.connection]
            if isinstance(conn, errors.PlaygroundError):
                self._finish(CellResult(cell, status="failed", error=conn))
            else:
                self.pending.append((cell, 1))

    def schedule(self, should_cancel: Callable[[], bool] | None) -> None:
        """Send the pending cells and collect them until none is left or the run stops."""
        pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="compare")
        interrupted = False
        scheduling = time.perf_counter()  # cells wait from here; setting up is no queue
        try:
            while self.pending or self.running:
                if not self.stop.is_set() and should_cancel is not None and should_cancel():
                    self.stop.set()
                self._submit_ready(pool, scheduling)
                if not self.running:
                    if self.stop.is_set() or not self.pending:
                        break
                    time.sleep(self.poll_interval)  # everything waits for a rate-limit pause to end
                    continue
                done, _ = wait(self.running, timeout=self.poll_interval,
                               return_when=FIRST_COMPLETED)
                for future in done:
                    self._collect(future)
        except BaseException:
            # A callback raised: typically Streamlit interrupting its script for a rerun.
            # Streaming cells stop at their next chunk; nobody waits for the rest.
            interrupted = True
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=True)

    def cancel_pending(self) -> None:
        """Cells never sent (the run was cancelled) end as cancelled."""
        for cell, attempt in self.pending:
            self.results[cell.id] = CellResult(cell, status="cancelled", attempts=attempt - 1)

    def _submit_ready(self, pool: ThreadPoolExecutor, scheduling: float) -> None:
        while not self.stop.is_set() and len(self.running) < self.max_workers \
                and (item := self._next_eligible()) is not None:
            cell, attempt = item
            key = (cell.connection, cell.model)
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            future = pool.submit(run_cell, self.grid, cell, self.conns[cell.connection],
                                 self.stop, attempt, self.recorder, scheduling, self.refusals)
            self.running[future] = item

    def _next_eligible(self) -> tuple[Cell, int] | None:
        """The first pending cell whose connection is not paused and whose model has room."""
        now = time.monotonic()
        for item in self.pending:
            cell = item[0]
            limit = self._limit_of(cell)
            if self.paused_until.get(cell.connection, 0.0) > now:
                continue
            if limit is not None \
                    and self.in_flight.get((cell.connection, cell.model), 0) >= limit:
                continue
            self.pending.remove(item)
            return item
        return None

    def _limit_of(self, cell: Cell) -> int | None:
        if self.per_model_limit is not None:
            return self.per_model_limit
        conn = self.conns[cell.connection]
        if not isinstance(conn, Connection) or conn.kind != "local":
            return None
        size = self.batch_sizes.get((cell.connection, cell.model))
        return size if type(size) is int and size >= 1 else 1

    def _collect(self, future: Future) -> None:
        cell, attempt = self.running.pop(future)
        self.in_flight[(cell.connection, cell.model)] -= 1
        result = future.result()
        if isinstance(result.error, errors.RateLimited) and self._requeued(result, attempt):
            return
        self._finish(result)

    def _requeued(self, result: CellResult, attempt: int) -> bool:
        """Pause the rate-limited cell's connection; True when the cell goes back in the
        queue for another attempt."""
        cell = result.cell
        pause = result.error.retry_after or RATE_LIMIT_PAUSE
        self.paused_until[cell.connection] = max(self.paused_until.get(cell.connection, 0.0),
                                                 time.monotonic() + pause)
        if attempt <= self.rate_limit_requeues and not self.stop.is_set():
            self.pending.append((cell, attempt + 1))
            return True
        return False

    def _finish(self, result: CellResult) -> None:
        self.results[result.cell.id] = result
        if self.on_cell_done is not None:
            self.on_cell_done(result)
