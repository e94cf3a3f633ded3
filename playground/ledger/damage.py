"""A damaged usage history: recognised, set aside whole, and described to the user.

The ledger's file also holds the saved conversations and Compare runs, so a damaged one is
never deleted nor written over: ``set_aside`` renames it (with its -wal and -shm files, so
SQLite still finds what they hold) to ``history.sqlite3.corrupt-<YYYYmmdd-HHMMSS>`` beside
it, after reading what it can of the conversations and runs it held. The ``SetAside`` it
returns says what happened, where the file went and what was in it, in words a person can
act on; the ledger keeps it for the pages to show once.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SUFFIX = ".corrupt-"
SIDE_FILES = ("-wal", "-shm")
NAMES_SHOWN = 10
_DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_SET_ASIDE_NAME = re.compile(re.escape(SUFFIX) + r"\d{8}-\d{6}(?:-\d+)?$")


class DamageFound(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found the file damaged (its first complaint is the message)."""


def is_damage(error: BaseException) -> bool:
    """True for SQLite's "database disk image is malformed" and "file is not a database"."""
    if isinstance(error, DamageFound):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGE_CODES
    text = str(error).lower()
    return isinstance(error, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text)


def check(db: sqlite3.Connection, *, thorough: bool = False) -> None:
    """Raise ``DamageFound`` unless SQLite's integrity check finds the file sound: the quick
    one (every page readable and well formed) by default, the thorough one (indexes agree
    with their tables too) on request."""
    pragma = "integrity_check" if thorough else "quick_check"
    verdict = db.execute(f"PRAGMA {pragma}(1)").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise DamageFound(f"integrity check: {verdict[0] if verdict else 'no answer'}")


@dataclass(frozen=True)
class SetAside:
    """A damaged history file, moved out of the way. ``conversations`` and ``compare_runs``
    are the names read from it, None where they could not be read."""

    original: Path
    moved_to: Path
    reason: str
    conversations: tuple[str, ...] | None
    compare_runs: tuple[str, ...] | None

    @property
    def message(self) -> str:
        return (f"The usage history {self.original} was damaged ({self.reason}). It was set "
                f"aside, not deleted, as {self.moved_to}, and a new, empty history was "
                f"started. {self.held()}")

    @property
    def hint(self) -> str:
        return ("To get something back from the old file, try `sqlite3 "
                f"{self.moved_to.name} .recover` in {self.moved_to.parent}; the app no "
                "longer reads it.")

    def held(self) -> str:
        """What the old file held, in words."""
        return " ".join((_listed(self.conversations, "saved conversation"),
                         _listed(self.compare_runs, "saved Compare run")))


def _listed(names: tuple[str, ...] | None, what: str) -> str:
    if names is None:
        return f"Its {what}s could not be read."
    if not names:
        return f"It held no {what}s."
    shown = ", ".join(f"“{name}”" for name in names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    plural = "" if len(names) == 1 else "s"
    return f"It held {len(names)} {what}{plural}: {shown}{more}."


def set_aside(path: Path, reason: str) -> SetAside:
    """Move the damaged file (and its -wal, -shm) to a free ``.corrupt-<time>`` name."""
    conversations = _names(path, "conversations", "title", "updated DESC")
    runs = _names(path, "compare_runs", "name", "id DESC")
    target = _free_name(path)
    path.rename(target)
    for side in SIDE_FILES:
        companion = path.with_name(path.name + side)
        if companion.exists():
            companion.rename(target.with_name(target.name + side))
    return SetAside(path, target, reason, conversations, runs)


def set_aside_files(path: Path) -> list[Path]:
    """The damaged files set aside from ``path`` so far, oldest first."""
    try:
        found = [p for p in path.parent.glob(path.name + SUFFIX + "*")
                 if _SET_ASIDE_NAME.search(p.name)]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name)


def _free_name(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}{SUFFIX}{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}{SUFFIX}{stamp}-{number}")
    return target


def _names(path: Path, table: str, column: str, order: str) -> tuple[str, ...] | None:
    """A column of a table of the damaged file, read-only: () without that table, None if
    it cannot be read."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except (sqlite3.Error, OSError, ValueError):
        return None
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (table,)).fetchone() is None:
            return ()
        return tuple(str(row[0]) for row in
                     db.execute(f"SELECT {column} FROM {table} ORDER BY {order}"))
    except sqlite3.Error:
        return None
    finally:
        db.close()
