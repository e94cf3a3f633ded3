"""One migrations table for every set of tables that shares the ledger's SQLite file.

The usage ledger, the saved conversations, the saved Compare runs and the capability
refusals each have tables of their own in one file. Each set is a *schema* with a name and
ordered migrations; ``schema_migrations`` has one row per migration applied (schema, version,
when). Files written before that table existed kept each schema's version its own way (the
ledger in ``PRAGMA user_version``, the others in tables of their own): a store passes a
``legacy`` reader, and the version it finds is carried into ``schema_migrations`` the first
time the file is migrated, so those files keep working unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from playground.errors import PlaygroundError

TABLE = "schema_migrations"
_CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (schema TEXT NOT NULL, version INTEGER NOT NULL, "
           "applied_at TEXT NOT NULL, PRIMARY KEY (schema, version))")

LegacyVersion = Callable[[sqlite3.Connection], int]


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def recorded_version(db: sqlite3.Connection, schema: str,
                     legacy: LegacyVersion | None = None) -> int:
    """The schema's version in this file: its newest ``schema_migrations`` row, else what
    the older way of recording it says, else 0 (a read only)."""
    if has_table(db, TABLE):
        found = db.execute(f"SELECT MAX(version) FROM {TABLE} WHERE schema = ?",
                           (schema,)).fetchone()[0]
        if found is not None:
            return found
    return legacy(db) if legacy is not None else 0


def run_migrations(db: sqlite3.Connection, *, schema: str,
                   migrations: Sequence[tuple[int, Sequence[str]]],
                   newer: str, hint: str,
                   legacy: LegacyVersion | None = None,
                   before: Callable[[sqlite3.Connection], None] | None = None) -> int:
    """Bring the schema's tables up to the last of ``migrations``; returns their version.

    ``migrations`` are ``(version, statements)`` in increasing order. A version newer than
    the last is refused with ``PlaygroundError(newer + " (schema …)", hint=hint)``, before
    any lock and again inside the transaction, so the file is left untouched. ``before(db)``,
    only called when there is something to migrate, may refuse the file before it is written
    to (set to WAL, locked).

    ``db`` must be in autocommit mode (``isolation_level=None``). The pending migrations run
    in one ``BEGIN IMMEDIATE`` transaction, so two processes opening an old file at once
    cannot both migrate it, and a failure leaves it as it was.
    """
    target = migrations[-1][0]
    version = recorded_version(db, schema, legacy)
    _refuse_newer(version, target, newer, hint)
    if version == target and recorded_version(db, schema) == target:
        return version
    if before is not None:
        before(db)
    db.execute("PRAGMA journal_mode=WAL")  # the stores sharing the file write meanwhile
    db.execute("BEGIN IMMEDIATE")
    try:
        version = recorded_version(db, schema, legacy)  # again: another process may have migrated
        _refuse_newer(version, target, newer, hint)
        db.execute(_CREATE)
        if version and recorded_version(db, schema) == 0:
            _record(db, schema, version)  # carried over from the older way of recording it
        for number, statements in migrations:
            if number > version:
                for statement in statements:
                    db.execute(statement)
                _record(db, schema, number)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return recorded_version(db, schema)


def _record(db: sqlite3.Connection, schema: str, version: int) -> None:
    db.execute(f"INSERT INTO {TABLE} (schema, version, applied_at) VALUES (?, ?, ?)",
               (schema, version, datetime.now(UTC).isoformat(timespec="seconds")))


def _refuse_newer(version: int, target: int, newer: str, hint: str) -> None:
    if version > target:
        raise PlaygroundError(f"{newer} (schema {version}; this one knows up to {target}).",
                              hint=hint)
