"""The usage ledger's file and tables, and the migrations that bring an older file up to date.

The file is ``PLAYGROUND_DB``, else ``history.sqlite3`` in the data folder: the machine
decides, never the browser. Two tables: ``requests`` holds the narrow columns every chart
aggregates, ``bodies`` the full request and response JSON by the same id, kept apart so
scans stay small at 100,000 rows. A file written by an older version is migrated when
opened; one from a newer version, or another application's database, is refused untouched.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.errors import PlaygroundError
from playground.settings import data_dir
from playground.sqlite_schema import recorded_version, run_migrations

DB_VARIABLE = "PLAYGROUND_DB"
DB_FILENAME = "history.sqlite3"
SCHEMA_NAME = "ledger"


def default_path() -> Path:
    """``PLAYGROUND_DB`` if set, else ``history.sqlite3`` in the data folder."""
    chosen = os.environ.get(DB_VARIABLE)
    return Path(chosen).expanduser() if chosen else data_dir() / DB_FILENAME


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
    # The Usage page's sums per (model, page, connection) and its latency samples, read
    # from this index alone and in group order: at 100,000 rows the sums took 0.3 s, mostly
    # SQLite sorting whole rows for the GROUP BY, and take 0.1 s from it.
    Migration(6, "a covering index for the Usage page's sums and samples", (
        """CREATE INDEX requests_summed ON requests (
            model, page, connection, status, endpoint, time, prompt_tokens, completion_tokens,
            reasoning_tokens, tokens_estimated, cost, latency, time_to_first_token,
            tokens_per_second)""",
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
    return recorded_version(db, SCHEMA_NAME, legacy=_user_version)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the file's schema up to ``SCHEMA_VERSION``; returns the version it is at.

    A file from a newer version, or a database of another application, is refused untouched.
    """
    return run_migrations(
        db, schema=SCHEMA_NAME, migrations=[(m.version, m.statements) for m in MIGRATIONS],
        legacy=_user_version, before=_refuse_other_applications,
        newer="The usage history was written by a newer version of the app",
        hint=f"Update the app, or start this one with {DB_VARIABLE} naming another file.")


def _user_version(db: sqlite3.Connection) -> int:
    """Where files written before ``schema_migrations`` kept the ledger's version."""
    return db.execute("PRAGMA user_version").fetchone()[0]


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
                db.execute(_INSERT_BODY,
                           (cursor.lastrowid, row.get("request"), row.get("response")))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
