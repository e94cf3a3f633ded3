"""Saved Compare runs: a grid and its results, kept in the usage ledger's SQLite file.

A run is stored whole, as the JSON of ``GridResult.to_dict()`` (grid, cells, samples with
their log-probabilities, errors), next to a few summary columns for the list of saved runs.
Runs live in the same file as the ledger (``default_path()`` or a given path), in
tables of their own prefixed ``compare_``. Their schema has its own version in the file's
``schema_migrations`` table (``playground.sqlite_schema``); the ledger's migrations run first
(the ledger refuses a new file that already has tables).
Migrations run in order in one ``BEGIN IMMEDIATE`` transaction, like the ledger's, and a
file whose runs were written by a newer version is refused rather than damaged. The file is
opened through the ledger, which checks it once per process and sets a damaged one aside
(saying which runs it held).

Every failure (a locked, unreadable or newer file; a run that is gone) is a
``PlaygroundError`` saying what to do. Saved data is scrubbed like the ledger's bodies:
nothing named like a credential, no key-like strings, none of the given ``secrets``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from playground.compare.results import GridResult
from playground.errors import PlaygroundError
from playground.ledger import schema as ledger_schema
from playground.ledger.damage import is_damage
from playground.ledger.records import scrub
from playground.ledger.schema import DB_VARIABLE, default_path
from playground.ledger.writer import shared_ledger
from playground.sqlite_schema import has_table, recorded_version, run_migrations

SCHEMA_NAME = "compare_runs"
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE compare_runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            created TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            cells INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
MAX_NAME_CHARS = 200

_HINT = "Check that the history file and its folder are writable, then try again."


@dataclass(frozen=True)
class SavedRun:
    """One line of the list of saved runs."""

    id: int
    name: str
    created: str  # UTC, ISO 8601
    endpoint: str
    cells: int
    ok: int
    failed: int

    @property
    def title(self) -> str:
        return (f"#{self.id} {self.name} · {self.created[:16].replace('T', ' ')} UTC · "
                f"{self.cells} cells, {self.ok} ok, {self.failed} failed")


def schema_version(db: sqlite3.Connection) -> int:
    return recorded_version(db, SCHEMA_NAME, legacy=_legacy_version)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the ``compare_`` tables up to ``SCHEMA_VERSION``; returns the version."""
    return run_migrations(
        db, schema=SCHEMA_NAME, migrations=MIGRATIONS, legacy=_legacy_version,
        newer="The saved Compare runs were written by a newer version of the app",
        hint=f"Update the app, or start this one with {DB_VARIABLE} naming another file.")


def _legacy_version(db: sqlite3.Connection) -> int:
    """Where files written before ``schema_migrations`` kept this version."""
    if not has_table(db, "compare_schema"):
        return 0
    return db.execute("SELECT version FROM compare_schema").fetchone()[0]


class RunStore:
    """Saved Compare runs in one SQLite file (default: the usage ledger's)."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 5.0):
        self.path = Path(path).expanduser() if path else default_path()
        self.busy_timeout = busy_timeout

    @contextmanager
    def _db(self, doing: str) -> Iterator[sqlite3.Connection]:
        db = None
        ledger = shared_ledger(self.path)  # made private and checked, once per process
        try:
            db = sqlite3.connect(ledger.path, timeout=self.busy_timeout, isolation_level=None)
            ledger_schema.migrate(db)  # first: the ledger refuses a new file that has other tables
            migrate(db)
            yield db
        except sqlite3.Error as exc:
            if is_damage(exc):
                raise ledger.failure(exc, "used") from exc
            raise PlaygroundError(f"Could not {doing} ({self.path.name}): {exc}.",
                                  hint=_HINT) from exc
        except OSError as exc:
            raise PlaygroundError(f"Could not {doing}: {exc}.", hint=_HINT) from exc
        finally:
            if db is not None:
                db.close()

    def save(self, result: GridResult, name: str, *, secrets: Iterable[str] = ()) -> int:
        """Store the run under ``name``; returns its id."""
        name = " ".join(name.split())[:MAX_NAME_CHARS] or "Untitled run"
        data = json.dumps(scrub(result.to_dict(), tuple(secrets)), default=str)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._db("save the run") as db:
            cursor = db.execute(
                "INSERT INTO compare_runs (name, created, endpoint, cells, ok, failed, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, created, result.grid.endpoint, len(result.cells), len(result.ok),
                 len(result.failed), data))
            return cursor.lastrowid

    def runs(self) -> list[SavedRun]:
        """Every saved run, newest first."""
        with self._db("list the saved runs") as db:
            rows = db.execute("SELECT id, name, created, endpoint, cells, ok, failed "
                              "FROM compare_runs ORDER BY id DESC").fetchall()
        return [SavedRun(*row) for row in rows]

    def load(self, run_id: int) -> GridResult:
        with self._db("open the run") as db:
            row = db.execute("SELECT data FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise PlaygroundError(f"There is no saved run #{run_id}.",
                                  hint="It may have been deleted; choose another.")
        try:
            return GridResult.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError, PlaygroundError) as exc:
            raise PlaygroundError(f"The saved run #{run_id} cannot be read: {exc!r}.",
                                  hint="Delete it; the other runs are not affected.") from exc

    def delete(self, run_id: int) -> None:
        with self._db("delete the run") as db:
            db.execute("DELETE FROM compare_runs WHERE id = ?", (run_id,))
