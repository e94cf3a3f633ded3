"""The usage ledger: every request any page makes, one row in a SQLite file.

``Ledger.record(entry)`` never waits on the disk: it turns the ``UsageRecord`` into a row
(CPU only) and hands it to one background writer thread through a queue. The writer takes
whatever has queued up and inserts it in one transaction, retrying while the file is
locked, so rows recorded concurrently from many threads are all kept. ``flush(timeout)``
waits until everything recorded so far is written; open ledgers are flushed at exit.

The file (``PLAYGROUND_DB``, else ``history.sqlite3`` in the data folder: the machine decides,
never the browser) is made readable by its owner only before SQLite first opens it, and is in
WAL mode, so the Usage page reads while the writer writes. Its schema carries a version
(``PRAGMA user_version``) and is brought up to date by ordered migrations when opened, so a
file written by an older version keeps working; a file from a newer version is refused
rather than damaged. A damaged file (found by a quick integrity check on open, or by a
failed write or read) is set aside whole, never deleted, and a fresh one started; the
ledger keeps what happened in ``notices`` for the pages to show (``playground.ledger_damage``).
The writer never logs a row's content: prompts and replies stay in the file.

Two tables: ``requests`` holds the narrow columns every chart aggregates, ``bodies`` the full
request and response JSON by the same id, kept apart so scans stay small at 100,000 rows.
The Usage page's figures are ``Ledger`` methods over ``playground.usage``, computed in SQL.
Keys never reach the file: parameters and bodies are scrubbed of anything named like a
credential, of values that look like OpenAI keys, and of the connection's own key. Each
row keeps the host its request went to (``scheme://host:port``, no path, no credentials).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from functools import lru_cache
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import pandas as pd

from playground import usage
from playground.errors import PlaygroundError
from playground.ledger_damage import SetAside, check, is_damage, set_aside
from playground.settings import DATA_DIR_VARIABLE, create_private, data_dir, make_private_folder
from playground.sqlite_schema import run_migrations
from playground.usage import TIME_FORMAT, Bucket, Filters, RunningTotal, UsageOverview

if TYPE_CHECKING:
    from playground.catalog import Price
    from playground.connection import Connection, ConnectionReport
    from playground.runner import RunResult

log = logging.getLogger(__name__)

DB_VARIABLE = "PLAYGROUND_DB"
DB_FILENAME = "history.sqlite3"
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with OpenAI's tokenizers
BATCH_SIZE = 500
REDACTED = "[redacted]"

Status = Literal["ok", "error", "incomplete"]


def default_path() -> Path:
    """``PLAYGROUND_DB`` if set, else ``history.sqlite3`` in the data folder."""
    chosen = os.environ.get(DB_VARIABLE)
    return Path(chosen).expanduser() if chosen else data_dir() / DB_FILENAME


# --- keeping keys out -------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?:^|[_\-. ])(?:api[_\-]?key|key|secret|client[_\-]?secret|password|passwd|"
    r"authorization|auth|bearer|token|access[_\-]?token|credentials?)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{16,}|(?<=Bearer )[^\s\"']{8,}")


def is_secret_name(name: str) -> bool:
    """True for names like ``api_key``, ``Authorization``, ``x-api-key``; not ``max_tokens``."""
    return bool(_SECRET_NAME.search(str(name)))


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy without entries named like credentials and with key-like strings redacted."""
    secrets = tuple(s for s in secrets if s)
    if isinstance(value, Mapping):
        return {str(k): scrub(v, secrets) for k, v in value.items() if not is_secret_name(k)}
    if isinstance(value, (list, tuple)):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


# --- what one request leaves behind -----------------------------------------------------

def estimate_tokens(text: str) -> int:
    """About four characters per token, rounded up; 0 for no text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _prompt_text(request: Mapping[str, Any]) -> str:
    parts: list[str] = []
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        parts.append(prompt)
    elif isinstance(prompt, list):
        parts.extend(p for p in prompt if isinstance(p, str))
    if isinstance(request.get("suffix"), str):
        parts.append(request["suffix"])
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
    return "".join(parts)


CONTENT_FIELDS = ("model", "prompt", "messages", "suffix")


def sent_parameters(request: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling parameters of a request: everything but the model and the text."""
    return {k: v for k, v in request.items() if k not in CONTENT_FIELDS}


@dataclass
class UsageRecord:
    """One request as the ledger keeps it. Build it with ``from_result`` or ``from_error``.

    ``time`` is when the request was sent (UTC). Token counts are the server's; when it
    reported none they are estimated from the text and ``tokens_estimated`` is set.
    ``reasoning_tokens`` are the hidden tokens a reasoning model spent thinking
    (``usage.completion_tokens_details.reasoning_tokens``): the server counts them inside
    ``completion_tokens`` already, so they are a part of it, never added to it.
    ``cost`` is in US dollars from the price table, None when the model has no price.
    ``tokens_per_second`` is completion tokens over the whole latency (throughput as the
    user waited for it, comparable between streamed and plain requests).
    """

    page: str
    connection: str
    endpoint: str
    model: str
    status: Status = "ok"
    params: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    latency: float | None = None
    time_to_first_token: float | None = None
    error_kind: str | None = None
    error_message: str | None = None
    cost: float | None = None
    request: dict[str, Any] | None = None
    response: Any = None
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    session: str | None = None  # the browser session, for its running total
    host: str | None = None  # scheme://host:port the request went to

    @property
    def tokens_per_second(self) -> float | None:
        if (self.status == "error" or self.endpoint not in ("chat", "completions")
                or not self.latency or self.latency <= 0):
            return None
        return self.completion_tokens / self.latency

    @classmethod
    def from_result(cls, result: RunResult, *, page: str, connection: Connection | str,
                    prices: Mapping[str, Price] | None = None,
                    session: str | None = None) -> UsageRecord:
        """The record of a request that returned (completely, or a stream cut short)."""
        request = dict(result.request)
        usage = result.usage or {}
        text = "".join(choice.text for choice in result.choices)
        if not text and result.error is not None:
            text = getattr(result.error, "partial", "") or ""
        prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        estimated = not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int)
        if not isinstance(prompt_tokens, int):
            prompt_tokens = estimate_tokens(_prompt_text(request))
        if not isinstance(completion_tokens, int):
            completion_tokens = estimate_tokens(text)
        status: Status = "incomplete" if result.incomplete else "ok"
        secrets = _secrets_of(connection)
        record = cls(
            page=page, connection=_name_of(connection), endpoint=result.endpoint,
            model=str(request.get("model") or ""), status=status,
            params=_without(sent_parameters(request), secrets),
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            reasoning_tokens=min(reasoning_tokens_of(usage), completion_tokens),
            tokens_estimated=estimated, latency=result.latency,
            time_to_first_token=result.time_to_first_token,
            error_kind=result.error.kind if result.error is not None else None,
            error_message=_without(str(result.error), secrets) if result.error is not None else None,
            request=_without(request, secrets),
            response=_without(_response_of(result), secrets),
            time=datetime.now(timezone.utc) - timedelta(seconds=result.latency or 0.0),
            session=session, host=host_of(connection),
        )
        record.cost = estimate_cost(record.model, prompt_tokens, completion_tokens, prices)
        return record

    @classmethod
    def from_error(cls, error: BaseException, *, endpoint: str, request: Mapping[str, Any],
                   page: str, connection: Connection | str, latency: float | None = None,
                   prices: Mapping[str, Price] | None = None,
                   session: str | None = None) -> UsageRecord:
        """The record of a request that failed before any answer arrived (no tokens used)."""
        request = dict(request)
        secrets = _secrets_of(connection)
        kind = error.kind if isinstance(error, PlaygroundError) else type(error).__name__
        record = cls(
            page=page, connection=_name_of(connection), endpoint=endpoint,
            model=str(request.get("model") or ""), status="error",
            params=_without(sent_parameters(request), secrets), latency=latency,
            error_kind=kind, error_message=_without(str(error), secrets),
            request=_without(request, secrets),
            time=datetime.now(timezone.utc) - timedelta(seconds=latency or 0.0),
            session=session, host=host_of(connection),
        )
        record.cost = estimate_cost(record.model, 0, 0, prices)
        return record

    @classmethod
    def from_connection_test(cls, report: ConnectionReport, *, page: str,
                             connection: Connection | str,
                             session: str | None = None) -> UsageRecord:
        """The record of a "Test connection" (a model listing: no model, no tokens)."""
        return cls(
            page=page, connection=_name_of(connection), endpoint="models", model="",
            status="ok" if report.ok else "error", latency=report.seconds,
            error_kind=None if report.ok else report.error_kind,
            error_message=None if report.ok else _without(report.message, _secrets_of(connection)),
            response={"ok": report.ok, "message": report.message, "model_count": report.model_count},
            time=datetime.now(timezone.utc) - timedelta(seconds=report.seconds or 0.0),
            session=session, host=host_of(connection),
        )

    def to_row(self) -> dict[str, Any]:
        """The record as the ledger's columns; scrubbed again, JSON encoded."""
        when = self.time if self.time.tzinfo else self.time.replace(tzinfo=timezone.utc)
        return {
            "time": when.astimezone(timezone.utc).strftime(TIME_FORMAT),
            "page": self.page,
            "connection": self.connection,
            "endpoint": self.endpoint,
            "model": self.model,
            "params": _json(scrub(self.params or {})),
            "prompt_tokens": int(self.prompt_tokens or 0),
            "completion_tokens": int(self.completion_tokens or 0),
            "reasoning_tokens": int(self.reasoning_tokens or 0),
            "tokens_estimated": int(bool(self.tokens_estimated)),
            "latency": self.latency,
            "time_to_first_token": self.time_to_first_token,
            "tokens_per_second": self.tokens_per_second,
            "status": self.status,
            "error_kind": self.error_kind,
            "error_message": scrub(self.error_message) if self.error_message else None,
            "cost": self.cost,
            "request": _json(scrub(self.request)) if self.request is not None else None,
            "response": _json(scrub(self.response)) if self.response is not None else None,
            "session": self.session,
            "host": self.host,
        }


def host_of(connection: Connection | str) -> str | None:
    """Where the connection's requests go, as ``scheme://host:port``: its base URL, or for
    the local models the local server's (None before it has started, or for a bare name)."""
    if isinstance(connection, str):
        return None
    url = connection.base_url
    if not url and connection.kind == "local":
        from playground.local.launcher import URL_VARIABLE, local_server

        url = os.environ.get(URL_VARIABLE) or local_server().base_url
    return origin(url) if url else None


@lru_cache(maxsize=256)
def origin(url: str) -> str | None:
    """``scheme://host:port`` of a URL: no user, password, path or query; the port filled
    in for http and https. None when the URL names no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _name_of(connection: Connection | str) -> str:
    return connection if isinstance(connection, str) else connection.name


def _without(value: Any, secrets: tuple[str, ...]) -> Any:
    """Scrubbed of the connection's own key now; ``to_row`` scrubs patterns again anyway."""
    return scrub(value, secrets) if secrets else value


def reasoning_tokens_of(usage: Mapping[str, Any] | None) -> int:
    """``completion_tokens_details.reasoning_tokens`` of a usage object; 0 when absent."""
    details = (usage or {}).get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    return reasoning if isinstance(reasoning, int) and not isinstance(reasoning, bool) else 0


def _secrets_of(connection: Connection | str) -> tuple[str, ...]:
    key = getattr(connection, "api_key", None)
    return (key,) if key else ()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _response_of(result: RunResult) -> dict[str, Any]:
    """The answer as a reader wants it: the body as sent, or a stream put back together."""
    if isinstance(result.raw, dict):
        body = dict(result.raw)
    else:
        first = result.raw[0] if result.raw else {}
        body = {k: first[k] for k in ("id", "object", "created", "model", "system_fingerprint")
                if k in first}
        body["choices"] = [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                            "logprobs": c.logprobs} for c in result.choices]
        body["usage"] = result.usage
        body["streamed_chunks"] = len(result.raw or [])
    if result.incomplete:
        body["incomplete"] = True
    if result.error is not None:
        body["error"] = {"kind": result.error.kind, "message": str(result.error)}
    return body


_price_cache: dict[str, Any] = {}
_price_lock = threading.Lock()


def current_prices() -> Mapping[str, Price]:
    """The user's price table, re-read only when its file changes (a stat per call)."""
    from playground.catalog import SEED_PRICES, PriceTable

    folder = os.environ.get(DATA_DIR_VARIABLE)
    with _price_lock:
        if _price_cache.get("folder", object()) != folder:  # data_dir() makes the folder: once
            _price_cache.update(folder=folder, table=PriceTable())
        table = _price_cache["table"]
    try:
        stamp = table.path.stat().st_mtime_ns
    except OSError:
        stamp = None
    with _price_lock:
        if _price_cache.get("key") != (table.path, stamp):
            try:
                prices = table.load()
            except PlaygroundError:
                prices = dict(SEED_PRICES)
            _price_cache.update(key=(table.path, stamp), prices=prices)
        return _price_cache["prices"]


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int,
                  prices: Mapping[str, Price] | None = None) -> float | None:
    """US dollars at the table's per-million prices; None when the model has no price.

    Reasoning tokens are billed as output and are already inside ``completion_tokens``:
    they are not passed, so they cannot be counted twice.
    """
    from playground.catalog import lookup

    price = lookup(dict(prices if prices is not None else current_prices()), model)
    if price is None:
        return None
    return (prompt_tokens * price.input_per_million
            + completion_tokens * price.output_per_million) / 1_000_000


# --- schema and migrations --------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "requests and their bodies", (
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            page TEXT NOT NULL,
            connection TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            model TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            tokens_estimated INTEGER NOT NULL DEFAULT 0,
            latency REAL,
            time_to_first_token REAL,
            tokens_per_second REAL,
            status TEXT NOT NULL,
            error_kind TEXT,
            error_message TEXT,
            cost REAL
        )""",
        "CREATE INDEX requests_by_time ON requests (time)",
        """CREATE TABLE bodies (
            id INTEGER PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
            request TEXT,
            response TEXT
        )""",
    )),
    Migration(2, "the browser session of each request, for per-session running totals", (
        "ALTER TABLE requests ADD COLUMN session TEXT",
        "CREATE INDEX requests_by_session ON requests (session, time)",
    )),
    Migration(3, "indexes for the Usage page's filters and their lists of values", (
        "CREATE INDEX requests_by_model ON requests (model, time)",
        "CREATE INDEX requests_by_connection ON requests (connection, time)",
        "CREATE INDEX requests_by_page ON requests (page, time)",
    )),
    Migration(4, "the host each request went to", (
        "ALTER TABLE requests ADD COLUMN host TEXT",
    )),
    Migration(5, "the reasoning tokens within each request's completion tokens", (
        "ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

REQUEST_COLUMNS = ("time", "page", "connection", "endpoint", "model", "params",
                   "prompt_tokens", "completion_tokens", "tokens_estimated", "latency",
                   "time_to_first_token", "tokens_per_second", "status", "error_kind",
                   "error_message", "cost", "session", "host", "reasoning_tokens")
_INSERT_REQUEST = (f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
                   f"VALUES ({', '.join(':' + c for c in REQUEST_COLUMNS)})")
_INSERT_BODY = "INSERT INTO bodies (id, request, response) VALUES (?, ?, ?)"


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection) -> int:
    """Bring the file's schema up to ``SCHEMA_VERSION``; returns the version it is at.

    A file from a newer version, or a database of another application, is refused untouched.
    """
    return run_migrations(
        db, migrations=[(m.version, m.statements) for m in MIGRATIONS],
        current=schema_version, record=_record_version, before=_refuse_other_applications,
        newer="The usage history was written by a newer version of the app",
        hint=f"Update the app, or start this one with {DB_VARIABLE} naming another file.")


def _record_version(db: sqlite3.Connection, version: int) -> None:
    db.execute(f"PRAGMA user_version = {int(version)}")


def _refuse_other_applications(db: sqlite3.Connection) -> None:
    # Our migrations are all-or-nothing, so a version 0 file with tables is not ours. Tables
    # are looked for before the version is read, so a migration another process commits in
    # between cannot make our own file look like another application's.
    if _has_tables(db) and schema_version(db) == 0:
        raise PlaygroundError(
            "That file is a database of some other application, not a usage history.",
            hint=f"Start the app with {DB_VARIABLE} naming a new file, or an existing usage "
                 "history.")


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite_%' LIMIT 1").fetchone() is not None


def insert_rows(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (from ``UsageRecord.to_row``) in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            cursor = db.execute(_INSERT_REQUEST, row)
            if row.get("request") is not None or row.get("response") is not None:
                db.execute(_INSERT_BODY, (cursor.lastrowid, row.get("request"), row.get("response")))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# --- the ledger -------------------------------------------------------------------------

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
        self._queue: deque[UsageRecord] = deque()
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

    def record(self, entry: UsageRecord) -> None:
        """Queue one request's record; returns at once, the writer thread stores it.

        Scrubbing and JSON encoding (``to_row``) happen on the writer thread too: they cost
        more than the rest of the app's work on a request put together.
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

    # the Usage page's figures (see ``playground.usage``)

    def totals(self, filters: Filters = usage.ALL) -> pd.DataFrame:
        with self.reading() as db:
            return usage.totals(db, filters)

    def tokens_over_time(self, filters: Filters = usage.ALL, bucket: Bucket = "hour") -> pd.DataFrame:
        with self.reading() as db:
            return usage.tokens_over_time(db, filters, bucket)

    def cost_over_time(self, filters: Filters = usage.ALL, bucket: Bucket = "day") -> pd.DataFrame:
        with self.reading() as db:
            return usage.cost_over_time(db, filters, bucket)

    def by_model(self, filters: Filters = usage.ALL) -> pd.DataFrame:
        with self.reading() as db:
            return usage.by_model(db, filters)

    def by_page(self, filters: Filters = usage.ALL) -> pd.DataFrame:
        with self.reading() as db:
            return usage.by_page(db, filters)

    def by_connection(self, filters: Filters = usage.ALL) -> pd.DataFrame:
        with self.reading() as db:
            return usage.by_connection(db, filters)

    def latency_by_model(self, filters: Filters = usage.ALL) -> pd.DataFrame:
        with self.reading() as db:
            return usage.latency_by_model(db, filters)

    def distribution(self, metric: str = "latency", filters: Filters = usage.ALL,
                     bins: int = 30) -> pd.DataFrame:
        with self.reading() as db:
            return usage.distribution(db, metric, filters, bins)

    def requests(self, filters: Filters = usage.ALL, limit: int = 100,
                 offset: int = 0) -> pd.DataFrame:
        with self.reading() as db:
            return usage.requests(db, filters, limit, offset)

    def request_count(self, filters: Filters = usage.ALL) -> int:
        with self.reading() as db:
            return usage.request_count(db, filters)

    def request_detail(self, request_id: int) -> dict[str, Any] | None:
        with self.reading() as db:
            return usage.request_detail(db, request_id)

    def distinct_values(self, column: str) -> list[str]:
        with self.reading() as db:
            return usage.distinct_values(db, column)

    def span(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """When the first and the last request were made (UTC); Nones when empty."""
        with self.reading() as db:
            return usage.span(db)

    def session_total(self, since: datetime | None = None, session: str | None = None,
                      wait: float = 1.0) -> RunningTotal:
        """The running total a request page shows; waits up to ``wait`` s for queued rows."""
        with self.reading(wait) as db:
            return usage.session_total(db, since, session)

    def to_csv(self, filters: Filters = usage.ALL, *, with_bodies: bool = False) -> bytes:
        """The filtered requests as UTF-8 CSV, ready for a download button."""
        with self.reading() as db:
            return usage.to_csv(db, filters, with_bodies=with_bodies).encode("utf-8")

    def overview(self, filters: Filters = usage.ALL, bucket: Bucket | None = None,
                 limit: int = 100) -> UsageOverview:
        """Everything the Usage page draws, read through one connection."""
        with self.reading() as db:
            return usage.overview(db, filters, bucket, limit)


def _rows(entries: list[UsageRecord]) -> list[dict[str, Any]]:
    """Ledger rows of queued records; one that cannot be encoded is logged and skipped."""
    rows = []
    for entry in entries:
        try:
            rows.append(entry.to_row())
        except (TypeError, ValueError) as exc:
            log.warning("usage record dropped, it cannot be stored: %s", exc)
    return rows


_ledgers: dict[Path, Ledger] = {}
_ledgers_lock = threading.Lock()
# What each request for a ledger asked for -> its ledger. Resolving a path costs
# syscalls (the data folder's mkdir, resolve): twice the rest of recording a request.
_asked: dict[tuple[str | None, ...], Ledger] = {}


def ledger(path: Path | str | None = None) -> Ledger:
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
        raise PlaygroundError(f"{name} cannot be used as a file name: {exc}",
                              hint="Type the path of a file, for example ~/usage.sqlite3.") from exc
    with _ledgers_lock:
        found = _ledgers.get(resolved)
        if found is None or found._closing:
            found = _ledgers[resolved] = Ledger(resolved)
        return found
