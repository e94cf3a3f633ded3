"""What servers refused, remembered per connection and model, in the ledger's SQLite file.

When a server answers 400 with ``code`` ``unsupported_parameter`` or ``unsupported_value``
and names the ``param`` (OpenAI does, and so does the local server), the refusal is stored
and ``playground.capabilities`` applies it from then on: the control is disabled before the
next request instead of failing again. A chat model that OpenAI refuses on
``/v1/completions`` (a 404 saying to use ``v1/chat/completions``) is remembered the same
way, under the parameter name ``COMPLETIONS_ENDPOINT``.

A refusal is stored with the reasoning effort it was sent with (``""`` for the model's
default), since a reasoning model may take temperature at effort "none" and refuse it
otherwise; an ``unsupported_value`` also keeps the refused value, as JSON.

What a server accepted (found by "Check this model", ``playground.model_check``) is kept
the same way in a table of its own, and overrides a built-in profile: a gateway may take
what OpenAI refuses. The newer finding about a parameter replaces the older one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playground import errors
from playground.connection import Connection
from playground.ledger import schema as ledger_schema
from playground.ledger.schema import default_path
from playground.sqlite_schema import has_table, recorded_version, run_migrations

UNSUPPORTED_PARAMETER = "unsupported_parameter"
UNSUPPORTED_VALUE = "unsupported_value"
COMPLETIONS_ENDPOINT = "/v1/completions"
LEARNED_CODES = frozenset({UNSUPPORTED_PARAMETER, UNSUPPORTED_VALUE})

SCHEMA_NAME = "capability_refusals"
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE capability_refusals (
            connection TEXT NOT NULL,
            model TEXT NOT NULL,
            param TEXT NOT NULL,
            effort TEXT NOT NULL,
            value TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            learned_at TEXT NOT NULL,
            PRIMARY KEY (connection, model, param, effort, value)
        )""",
    )),
    (2, (
        """CREATE TABLE capability_acceptances (
            connection TEXT NOT NULL,
            model TEXT NOT NULL,
            param TEXT NOT NULL,
            effort TEXT NOT NULL,
            learned_at TEXT NOT NULL,
            PRIMARY KEY (connection, model, param, effort)
        )""",
    )),
)
ACCEPTED = "accepted"


@dataclass(frozen=True)
class Learned:
    """One refusal a server answered: ``value`` is None for a refused parameter."""

    param: str
    code: str
    message: str
    effort: str = ""
    value: Any = None
    learned_at: str = ""


def connection_key(conn: Connection) -> str:
    """Refusals belong to the server: its base URL (the local server's address changes
    from run to run, so it is known by its connection's name)."""
    if conn.kind == "local" or not conn.base_url:
        return f"local:{conn.name}"
    return conn.base_url.rstrip("/")


def from_error(endpoint: str, request: dict[str, Any], error: Exception) -> Learned | None:
    """The refusal an error says the request met, or None when it says none."""
    if (endpoint == "completions" and isinstance(error, errors.ModelNotFound)
            and "v1/chat/completions" in str(error)):
        return Learned(COMPLETIONS_ENDPOINT, "endpoint_unsupported", error.message)
    code, param = getattr(error, "code", None), getattr(error, "param", None)
    if not isinstance(error, errors.BadRequest) or code not in LEARNED_CODES or not param:
        return None
    value = request.get(param) if code == UNSUPPORTED_VALUE else None
    # Reasoning effort is refused whatever its value; other parameters may be refused at
    # one effort and taken at another.
    effort = "" if param == "reasoning_effort" else request.get("reasoning_effort") or ""
    return Learned(param, code, error.message, effort, value)


class RefusalStore:
    """Refusals in ``path`` (default: the ledger's file, ``default_path()``)."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 5.0):
        self.path = Path(path).expanduser() if path else default_path()
        self.busy_timeout = busy_timeout
        self._migrated = False

    def record(self, conn: Connection, model: str, learned: Learned) -> None:
        value = "" if learned.value is None else json.dumps(learned.value)
        when = learned.learned_at or _now()
        with self._connection() as db:
            db.execute("DELETE FROM capability_acceptances WHERE connection = ? AND model = ? "
                       "AND param = ? AND effort = ?",
                       (connection_key(conn), model, learned.param, learned.effort))
            db.execute(
                "INSERT OR REPLACE INTO capability_refusals (connection, model, param, effort, "
                "value, code, message, learned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (connection_key(conn), model, learned.param, learned.effort, value,
                 learned.code, learned.message, when))

    def accept(self, conn: Connection, model: str, param: str, effort: str = "") -> None:
        """Remember that the server took ``param`` (at this reasoning effort); it replaces
        what was refused of it before."""
        with self._connection() as db:
            db.execute("DELETE FROM capability_refusals WHERE connection = ? AND model = ? "
                       "AND param = ? AND effort = ?", (connection_key(conn), model, param, effort))
            db.execute("INSERT OR REPLACE INTO capability_acceptances (connection, model, param, "
                       "effort, learned_at) VALUES (?, ?, ?, ?, ?)",
                       (connection_key(conn), model, param, effort, _now()))

    def accepted(self, conn: Connection, model: str) -> list[Learned]:
        """What the server took, as ``Learned`` with code ``ACCEPTED``."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT param, effort, learned_at FROM capability_acceptances "
                "WHERE connection = ? AND model = ? ORDER BY learned_at",
                (connection_key(conn), model)).fetchall()
        return [Learned(param, ACCEPTED, "", effort, None, at) for param, effort, at in rows]

    def for_model(self, conn: Connection, model: str) -> list[Learned]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT param, code, message, effort, value, learned_at FROM capability_refusals "
                "WHERE connection = ? AND model = ? ORDER BY learned_at",
                (connection_key(conn), model)).fetchall()
        return [Learned(param, code, message, effort, json.loads(value) if value else None, at)
                for param, code, message, effort, value, at in rows]

    def forget(self, conn: Connection, model: str) -> None:
        """Drop what was learned about the model (a server that changed, say)."""
        with self._connection() as db:
            for table in ("capability_refusals", "capability_acceptances"):
                db.execute(f"DELETE FROM {table} WHERE connection = ? AND model = ?",
                           (connection_key(conn), model))

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(self.path, exc) from exc
        try:
            if not self._migrated:
                ledger_schema.migrate(db)
                migrate(db)
                self._migrated = True
            yield db
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from exc
        finally:
            db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def learn(conn: Connection, model: str, endpoint: str, request: dict[str, Any],
          error: Exception, store: RefusalStore | None = None) -> Learned | None:
    """Remember the refusal ``error`` reports, if it reports one; returns it."""
    learned = from_error(endpoint, request, error)
    if learned is not None and model:
        (store or RefusalStore()).record(conn, model, learned)
    return learned


def schema_version(db: sqlite3.Connection) -> int:
    return recorded_version(db, SCHEMA_NAME, legacy=_legacy_version)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the refusal tables up to their last migration; returns the version."""
    return run_migrations(
        db, schema=SCHEMA_NAME, migrations=MIGRATIONS, legacy=_legacy_version,
        newer="The remembered refusals were written by a newer version of the app",
        hint="Update the app, or choose another history file.")


def _legacy_version(db: sqlite3.Connection) -> int:
    """Where files written before ``schema_migrations`` kept this version."""
    if not has_table(db, "capability_schema"):
        return 0
    return db.execute("SELECT COALESCE(MAX(version), 0) FROM capability_schema").fetchone()[0]


def _unusable(path: Path, exc: Exception) -> errors.PlaygroundError:
    return errors.PlaygroundError(
        f"The history file {path} cannot be used to remember refusals: {exc}",
        hint="Check that the folder is writable and the file is not damaged.")
