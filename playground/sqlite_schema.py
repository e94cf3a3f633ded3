"""Running a set of tables' pending migrations, for the stores that share the ledger's file.

The usage ledger, the saved conversations and the saved Compare runs each have tables of
their own in one SQLite file, each with its own schema version stored its own way (the
ledger in ``PRAGMA user_version``, the others in tables of their own); ``run_migrations``
is given how to read and record it, so files already on disk keep working unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from playground.errors import PlaygroundError


def run_migrations(db: sqlite3.Connection, *,
                   migrations: Sequence[tuple[int, Sequence[str]]],
                   current: Callable[[sqlite3.Connection], int],
                   record: Callable[[sqlite3.Connection, int], None],
                   newer: str, hint: str,
                   before: Callable[[sqlite3.Connection], None] | None = None) -> int:
    """Bring the tables up to the last of ``migrations``; returns the version they are at.

    ``migrations`` are ``(version, statements)`` in increasing order; ``current(db)`` reads
    the stored version (0 before the first) and ``record(db, version)`` stores it after each
    migration. A version newer than the last is refused with ``PlaygroundError(newer + " (schema
    …)", hint=hint)``, before any lock and again inside the transaction, so the file is left
    untouched. ``before(db)``, only called when there is something to migrate, may refuse the
    file before it is written to (set to WAL, locked).

    ``db`` must be in autocommit mode (``isolation_level=None``). The pending migrations run
    in one ``BEGIN IMMEDIATE`` transaction, so two processes opening an old file at once
    cannot both migrate it, and a failure leaves it as it was.
    """
    target = migrations[-1][0]
    version = current(db)
    _refuse_newer(version, target, newer, hint)
    if version == target:
        return version
    if before is not None:
        before(db)
    db.execute("PRAGMA journal_mode=WAL")  # the stores sharing the file write meanwhile
    db.execute("BEGIN IMMEDIATE")
    try:
        version = current(db)  # again: another process may have migrated meanwhile
        _refuse_newer(version, target, newer, hint)
        for number, statements in migrations:
            if number > version:
                for statement in statements:
                    db.execute(statement)
                record(db, number)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return current(db)


def _refuse_newer(version: int, target: int, newer: str, hint: str) -> None:
    if version > target:
        raise PlaygroundError(f"{newer} (schema {version}; this one knows up to {target}).",
                              hint=hint)
