"""The usage ledger: every request any page makes, one row in a SQLite file.

``Ledger.record(entry)`` never waits on the disk: it hands the ``UsageRecord``, or the
function that makes it, to one background writer thread through a queue, so the thread
that made the request (a page's, or one of Compare's cells) goes on at once. The writer
takes whatever has queued up and inserts it in one transaction, retrying while the file
is locked, so rows recorded concurrently from many threads are all kept.
``flush(timeout)`` waits until everything recorded so far is written; open ledgers are
flushed at exit.

Reading is where the wait goes: every read first waits (briefly) for the rows this process
has queued, so the running total a page draws right after a request includes it. Read
without that wait, the total missed the request just made about one time in three; the
wait costs such a read a millisecond or two.

The file is made readable by its owner only before SQLite first opens it, and is in WAL
mode, so the Usage page reads while the writer writes. A damaged file (found by a quick
integrity check on open, or by a failed write or read) is set aside whole, never deleted,
and a fresh one started; the ledger keeps what happened in ``notices`` for the pages to show
(``playground.ledger.damage``). The writer never logs a row's content: prompts and replies
stay in the file. ``shared_ledger(path)`` is the one ``Ledger`` per file this process uses.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from playground.errors import PlaygroundError
from playground.ledger import queries
from playground.ledger.damage import SetAside, check, is_damage, set_aside
from playground.ledger.queries import Bucket, Filters, RunningTotal, UsageOverview
from playground.ledger.records import UsageRecord
from playground.ledger.schema import DB_VARIABLE, default_path, insert_rows, migrate
from playground.settings import DATA_DIR_VARIABLE, create_private, make_private_folder

log = logging.getLogger(__name__)

BATCH_SIZE = 500

Figure = TypeVar("Figure")
Entry = UsageRecord | Callable[[], UsageRecord]  # a record, or the function that makes it

_open_ledgers: weakref.WeakSet[Ledger] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for ledger in list(_open_ledgers):
        ledger.close(timeout=5.0)


class Ledger:
    """The SQLite file of every request, written by one background thread."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 5.0):
        self.path = Path(path).expanduser() if path else default_path()
        self.busy_timeout = busy_timeout
        self.last_error: Exception | None = None  # the writer's latest failure, if unresolved
        self.dropped = 0  # rows the database refused outright (never happens with to_row's)
        self._queue: deque[Entry] = deque()
        self._pending = 0
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closing = False
        self._abandon = False
        self.notices: list[SetAside] = []  # damaged files set aside by this ledger, oldest first
        self._recovering = threading.Lock()
        try:
            if not self.path.parent.is_dir():
                make_private_folder(self.path.parent)
            try:
                self._prepare()
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self._recover(exc)
        except (OSError, sqlite3.Error) as exc:
            raise PlaygroundError(
                f"The usage history {self.path} could not be opened: {exc}",
                hint=f"Check that its folder is writable, or start the app with {DB_VARIABLE} "
                     "naming another file.") from exc
        _open_ledgers.add(self)

    def _prepare(self) -> None:
        """Create the file (owner-only) if need be, check it is sound, bring it up to date."""
        create_private(self.path)
        with self._connection() as db:
            check(db)
            migrate(db)

    def _recover(self, error: BaseException) -> SetAside | None:
        """Set the damaged file aside and start a fresh one; None when another thread
        already did (the file now in place is sound)."""
        with self._recovering:
            try:
                with self._connection() as db:
                    check(db, thorough=True)
                return None
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    return None
            aside = set_aside(self.path, str(error))
            self.notices.append(aside)
            log.error("The usage history %s was damaged (%s); set aside as %s, a new one "
                      "started.", self.path, error, aside.moved_to)
            self._prepare()
            return aside

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # writing

    def record(self, entry: Entry) -> None:
        """Queue one request's record, or a function that makes it; returns at once, the
        writer thread stores it.

        Making the record (reading the result, pricing it from the price table's file),
        scrubbing and JSON encoding (``to_row``) happen on the writer thread, so the thread
        that made the request only queues it.
        """
        with self._changed:
            if self._closing:
                raise PlaygroundError("The usage history is closed; this request was not recorded.")
            self._queue.append(entry)
            self._pending += 1
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                                name=f"ledger-writer:{self.path.name}")
                self._writer.start()
            self._changed.notify_all()

    @property
    def pending(self) -> int:
        """Rows recorded but not yet committed to the file."""
        return self._pending

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every row recorded so far is in the file; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Write what is queued (up to ``timeout``) and stop the writer; True if all was written."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        done = self.flush(timeout)
        if not done:
            self._abandon = True
            log.warning("%d usage rows could not be written to %s: %s",
                        self._pending, self.path, self.last_error)
        with self._changed:
            self._changed.notify_all()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=1.0 if done else 0.1)
        _open_ledgers.discard(self)
        return done

    def insert_many(self, records: Iterable[UsageRecord], *, batch: int = 10_000) -> int:
        """Insert records now, in this thread, in large transactions (imports, benchmarks)."""
        count = 0
        with self._connection() as db:
            rows: list[dict[str, Any]] = []
            for record in records:
                rows.append(record.to_row())
                if len(rows) >= batch:
                    insert_rows(db, rows)
                    count, rows = count + len(rows), []
            if rows:
                insert_rows(db, rows)
                count += len(rows)
        return count

    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    break
                entries = [self._queue.popleft() for _ in range(min(len(self._queue), BATCH_SIZE))]
            db = self._write_batch(db, _rows(entries))
            with self._changed:
                self._pending -= len(entries)
                self._changed.notify_all()
            if self._abandon:
                break
        if db is not None:
            db.close()

    def _write_batch(self, db: sqlite3.Connection | None,
                     batch: list[dict[str, Any]]) -> sqlite3.Connection | None:
        """Write the batch, retrying while the file is busy and into a fresh file when it is
        damaged; returns the connection to reuse. Logs say why and how many, never what."""
        delay = 0.02
        recoveries = 0
        while True:
            try:
                if db is None:
                    db = self._open()
                    migrate(db)  # the file may have been replaced or deleted meanwhile
                insert_rows(db, batch)
                self.last_error = None
                return db
            except (sqlite3.DatabaseError, OSError) as exc:
                self.last_error = exc
                if db is not None:
                    db.close()
                    db = None
                if is_damage(exc) and recoveries < 3:
                    recoveries += 1
                    self._recover_quietly(exc)
                elif isinstance(exc, (sqlite3.OperationalError, OSError)):  # locked, full, gone
                    log.debug("ledger write failed, retrying: %s", exc)
                    if self._abandon:
                        return None
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                else:
                    return self._write_one_by_one(batch)
            except PlaygroundError as exc:  # the file became one from a newer version
                self.last_error = exc
                self.dropped += len(batch)
                log.error("%d usage rows dropped: %s", len(batch), exc)
                return None

    def _recover_quietly(self, error: BaseException) -> None:
        try:
            self._recover(error)
        except (OSError, sqlite3.Error) as exc:  # the writer retries; close() reports it
            self.last_error = exc
            log.error("The damaged usage history %s could not be set aside: %s", self.path, exc)
            time.sleep(0.5)

    def _write_one_by_one(self, batch: list[dict[str, Any]]) -> sqlite3.Connection | None:
        """A row the schema refuses: keep the others. Only the count and SQLite's reason
        are logged."""
        refused = 0
        try:
            db = self._open()
        except sqlite3.Error as exc:
            self.dropped += len(batch)
            log.error("%d usage rows dropped: %s", len(batch), exc)
            return None
        for row in batch:
            try:
                insert_rows(db, [row])
            except sqlite3.DatabaseError as exc:
                refused += 1
                reason = exc
        if refused:
            self.dropped += refused
            log.error("%d usage rows dropped, the database refused them: %s", refused, reason)
        return db

    # reading

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():  # deleted meanwhile: SQLite would make it with the umask's mode
            create_private(self.path)
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = self._open()
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def reading(self, wait: float = 1.0) -> Iterator[sqlite3.Connection]:
        """A read-only connection (one per call: pages run in many threads).

        Rows this process recorded a moment ago are waited for, up to ``wait`` seconds, so
        a page shows its own latest request. A file that cannot be read (deleted, replaced,
        locked for longer than ``busy_timeout``) is a ``PlaygroundError``.
        """
        if self._pending:
            self.flush(wait)
        try:
            with self._connection() as db:
                db.execute("PRAGMA query_only=1")
                yield db
        except (sqlite3.Error, OSError) as exc:
            raise self.failure(exc, "read") from exc

    def failure(self, error: Exception, doing: str) -> PlaygroundError:
        """The ``PlaygroundError`` for a failed use of the file; a damaged file is set aside
        first, and the error says so."""
        if is_damage(error):
            try:
                aside = self._recover(error)
            except (OSError, sqlite3.Error) as exc:
                return PlaygroundError(
                    f"The usage history {self.path} is damaged and could not be set aside: "
                    f"{exc}", hint=f"Move the file away yourself, or start the app with "
                                   f"{DB_VARIABLE} naming another file.")
            if aside is not None:
                return PlaygroundError(aside.message, hint="Reload the page. " + aside.hint)
            return PlaygroundError(
                f"The usage history {self.path} was damaged; a new one replaced it meanwhile.",
                hint="Reload the page.")
        return PlaygroundError(
            f"The usage history {self.path} could not be {doing}: {error}",
            hint="Reload the page; if the file was moved or deleted, restart the app.")

    def count(self) -> int:
        with self.reading() as db:
            return db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]

    def last_id(self) -> int:
        """The newest row's id (0 when empty): changes whenever a row is added, so a page
        can key a cache of its figures on it. One index lookup."""
        with self.reading() as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0]

    def query(self, figure: Callable[..., Figure], *args: Any, **kwargs: Any) -> Figure:
        """One of ``playground.ledger.queries``' figures, read through one connection:
        ``ledger.query(queries.totals, filters)``."""
        with self.reading() as db:
            return figure(db, *args, **kwargs)

    def requests(self, filters: Filters = queries.ALL, limit: int = 100,
                 offset: int = 0) -> pd.DataFrame:
        with self.reading() as db:
            return queries.requests(db, filters, limit, offset)

    def request_count(self, filters: Filters = queries.ALL) -> int:
        with self.reading() as db:
            return queries.request_count(db, filters)

    def request_detail(self, request_id: int) -> dict[str, Any] | None:
        with self.reading() as db:
            return queries.request_detail(db, request_id)

    def distinct_values(self, column: str) -> list[str]:
        with self.reading() as db:
            return queries.distinct_values(db, column)

    def span(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """When the first and the last request were made (UTC); Nones when empty."""
        with self.reading() as db:
            return queries.span(db)

    def session_total(self, since: datetime | None = None, session: str | None = None,
                      wait: float = 1.0) -> RunningTotal:
        """The running total a request page shows; waits up to ``wait`` s for queued rows."""
        with self.reading(wait) as db:
            return queries.session_total(db, since, session)

    def to_csv(self, filters: Filters = queries.ALL, *, with_bodies: bool = False) -> bytes:
        """The filtered requests as UTF-8 CSV, ready for a download button."""
        with self.reading() as db:
            return queries.to_csv(db, filters, with_bodies=with_bodies).encode("utf-8")

    def overview(self, filters: Filters = queries.ALL, bucket: Bucket | None = None,
                 limit: int = 100) -> UsageOverview:
        """Everything the Usage page draws.

        The per-request samples are read on a second connection, in a thread, while the
        sums and the series are read on this one: SQLite lets go of the GIL while it scans,
        so with two cores the page waits for the longer of the two, not for both (at
        100,000 rows, about 0.45 s instead of 0.7). A request recorded between the two
        reads may be in one and not the other, as it would be in the next rerun.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="usage-samples") as pool:
            pending = pool.submit(self._samples, filters)
            with self.reading() as db:
                return queries.overview(db, filters, bucket, limit, read_samples=pending.result)

    def _samples(self, filters: Filters) -> pd.DataFrame:
        with self.reading() as db:
            return queries.samples(db, filters)


def _rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """Ledger rows of queued records, made first where a function was queued; one that
    cannot be made or encoded is logged (never its content) and skipped."""
    rows = []
    for entry in entries:
        try:
            record = entry() if callable(entry) else entry
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the writer
            log.warning("usage record dropped, it could not be made: %s", type(exc).__name__)
            continue
        try:
            rows.append(record.to_row())
        except (TypeError, ValueError) as exc:
            log.warning("usage record dropped, it cannot be stored: %s", exc)
    return rows


_ledgers: dict[Path, Ledger] = {}
_ledgers_lock = threading.Lock()
# What each request for a ledger asked for -> its ledger. Resolving a path costs
# syscalls (the data folder's mkdir, resolve): twice the rest of recording a request.
_asked: dict[tuple[str | None, ...], Ledger] = {}


def shared_ledger(path: Path | str | None = None) -> Ledger:
    """The process-wide ledger for a file (default ``default_path()``), opened once."""
    asked = (str(path) if path else None, os.environ.get(DB_VARIABLE),
             os.environ.get(DATA_DIR_VARIABLE), os.getcwd() if path else None)
    found = _asked.get(asked)
    if found is not None and not found._closing:
        return found
    found = _ledger_at(path)
    _asked[asked] = found
    return found


def _ledger_at(path: Path | str | None) -> Ledger:
    try:
        resolved = (Path(path).expanduser() if path else default_path()).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, ~nosuchuser, a loop
        name = repr(str(path)) if path else f"The default ({DB_VARIABLE} or the data folder)"
        raise PlaygroundError(
            f"{name} cannot be used as a file name: {exc}",
            hint="Type the path of a file, for example ~/queries.sqlite3.") from exc
    with _ledgers_lock:
        found = _ledgers.get(resolved)
        if found is None or found._closing:
            found = _ledgers[resolved] = Ledger(resolved)
        return found
