"""Saved chat conversations, in the same SQLite file as the usage ledger.

Conversations have their own tables (all named ``conversation…``) and their own schema
version in the file's ``schema_migrations`` table (``playground.sqlite_schema``), so the
ledger and they evolve apart. The ledger's migrations run first (it refuses a new file that already
has other tables), then ours, in order, in one ``BEGIN IMMEDIATE`` transaction; a file from a
newer version is refused, not damaged. The file is opened through the ledger, which checks it
once per process and sets a damaged one aside (saying which conversations it held).

A conversation is a document: its whole ``Conversation.to_dict()`` is one JSON column,
beside the few columns the list shows. A conversation has messages and a model name, never
the connection; text that looks like a key (or is the connection's key, when given) is
redacted before it is written, as in the ledger.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from playground.chat import Conversation
from playground.errors import PlaygroundError
from playground.ledger import schema as ledger_schema
from playground.ledger.damage import is_damage
from playground.ledger.records import scrub
from playground.ledger.schema import DB_VARIABLE, default_path
from playground.ledger.writer import Ledger, shared_ledger
from playground.sqlite_schema import has_table, recorded_version, run_migrations

SCHEMA_NAME = "conversations"
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            model TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            branched_from TEXT,
            message_count INTEGER NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX conversations_by_updated ON conversations (updated)",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


@dataclass(frozen=True)
class Summary:
    """One line of the list of saved conversations."""

    id: str
    title: str
    model: str | None
    updated: str
    message_count: int
    branched_from: str | None


class ConversationStore:
    """Conversations in ``path`` (default: the ledger's file, ``default_path()``)."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 5.0):
        self.path = Path(path).expanduser() if path else default_path()
        self.busy_timeout = busy_timeout

    def save(self, conversation: Conversation, *, secrets: Iterable[str] = ()) -> None:
        """Insert or replace the conversation as it is now, key-like text redacted."""
        conversation = _redacted(conversation, tuple(s for s in secrets if s))
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO conversations (id, title, model, created, updated, "
                "branched_from, message_count, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation.id, conversation.display_title, conversation.model,
                 conversation.created, conversation.updated, conversation.branched_from,
                 len(conversation.messages),
                 json.dumps(conversation.to_dict(), ensure_ascii=False)))

    def load(self, conversation_id: str) -> Conversation | None:
        """The saved conversation, None when there is none by that id; raises
        ``PlaygroundError`` when the stored one cannot be read."""
        with self._reading() as db:
            row = db.execute("SELECT body FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
        if row is None:
            return None
        try:
            return Conversation.from_dict(json.loads(row[0]))
        except (ValueError, TypeError) as exc:
            raise PlaygroundError(
                f"The saved conversation cannot be read: {exc}",
                hint="Delete it, or open it with a newer version of the app.") from exc

    def list(self, limit: int = 200) -> list[Summary]:
        """The newest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, title, model, updated, message_count, branched_from "
                "FROM conversations ORDER BY updated DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [Summary(*row) for row in rows]

    def rename(self, conversation_id: str, title: str) -> None:
        conversation = self.load(conversation_id)
        if conversation is not None:
            conversation.title = title.strip()
            conversation.touch()
            self.save(conversation)

    def delete(self, conversation_id: str) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- the file ----------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        ledger = shared_ledger(self.path)  # made private and checked, once per process
        try:
            db = sqlite3.connect(ledger.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _unusable(ledger, exc) from exc
        try:
            ledger_schema.migrate(db)  # every time: a damaged file set aside leaves a fresh one
            migrate(db)
            yield db
        except sqlite3.Error as exc:
            raise _unusable(ledger, exc) from exc
        finally:
            db.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            yield db

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise


def schema_version(db: sqlite3.Connection) -> int:
    return recorded_version(db, SCHEMA_NAME, legacy=_legacy_version)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the tables up to ``SCHEMA_VERSION``; returns the version."""
    return run_migrations(
        db, schema=SCHEMA_NAME, migrations=MIGRATIONS, legacy=_legacy_version,
        newer="The saved conversations were written by a newer version of the app",
        hint=f"Update the app, or start this one with {DB_VARIABLE} naming another file.")


def _legacy_version(db: sqlite3.Connection) -> int:
    """Where files written before ``schema_migrations`` kept this version."""
    if not has_table(db, "conversation_schema"):
        return 0
    return db.execute("SELECT COALESCE(MAX(version), 0) FROM conversation_schema").fetchone()[0]


def _redacted(conversation: Conversation, secrets: tuple[str, ...]) -> Conversation:
    """A copy whose texts are scrubbed like the ledger's (only the texts: the other fields
    hold counts and token probabilities, whose names the ledger's scrub would drop)."""
    def clean(messages):
        return [replace(m, content=scrub(m.content, secrets)) for m in messages]

    return replace(conversation, title=scrub(conversation.title, secrets),
                   system=scrub(conversation.system, secrets),
                   messages=clean(conversation.messages), choices=clean(conversation.choices))


def _unusable(ledger: Ledger, exc: sqlite3.Error) -> PlaygroundError:
    if is_damage(exc):
        return ledger.failure(exc, "used")
    return PlaygroundError(f"The conversations file {ledger.path} cannot be used: {exc}",
                           hint="Check that the folder is writable, then try again.")
