import sqlite3

import pytest

from playground.errors import PlaygroundError
from playground.sqlite_schema import run_migrations

MIGRATIONS = (
    (1, ("CREATE TABLE one (id INTEGER PRIMARY KEY)",)),
    (2, ("CREATE TABLE two (id INTEGER PRIMARY KEY)", "INSERT INTO two VALUES (2)")),
    (3, ("CREATE TABLE three (id INTEGER PRIMARY KEY)",)),
)


def stored_version(db):
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db, migrations=MIGRATIONS, **hooks):
    """Runs ``migrations`` keeping the version in ``PRAGMA user_version``."""
    return run_migrations(
        db, migrations=migrations, current=stored_version,
        record=lambda db, version: db.execute(f"PRAGMA user_version = {version}"),
        newer="The test tables were written by a newer version of the app",
        hint="Update the app.", **hooks)


class Traced(sqlite3.Connection):
    """A connection that writes down every statement it runs, in ``statements``."""

    statements: list[str]


@pytest.fixture
def db(tmp_path):
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None, factory=Traced)
    db.statements = []
    db.set_trace_callback(db.statements.append)
    yield db
    db.close()


def tables(db):
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrations_run_in_order_and_record_each_version(db):
    recorded = []

    def record(db, version):
        recorded.append(version)
        db.execute(f"PRAGMA user_version = {version}")

    assert run_migrations(db, migrations=MIGRATIONS, current=stored_version, record=record,
                          newer="newer", hint="") == 3
    assert recorded == [1, 2, 3]
    creates = [s for s in db.statements if s.startswith("CREATE TABLE")]
    assert creates == [MIGRATIONS[0][1][0], MIGRATIONS[1][1][0], MIGRATIONS[2][1][0]]
    assert tables(db) == {"one", "two", "three"}


def test_only_the_pending_migrations_run(db):
    assert migrate(db, MIGRATIONS[:1]) == 1
    db.statements.clear()
    assert migrate(db) == 3
    assert "CREATE TABLE one (id INTEGER PRIMARY KEY)" not in db.statements
    assert db.execute("SELECT id FROM two").fetchall() == [(2,)]


def test_a_second_call_is_a_no_op(db):
    migrate(db)
    db.statements.clear()
    assert migrate(db) == 3
    assert db.statements == ["PRAGMA user_version"]  # no lock, no write


def test_a_failing_statement_rolls_back_every_migration(db):
    migrate(db, MIGRATIONS[:1])
    broken = MIGRATIONS + ((4, ("CREATE TABLE four (id INTEGER)", "NOT SQL")),)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, broken)
    assert stored_version(db) == 1
    assert tables(db) == {"one"}
    assert not db.in_transaction


def test_a_newer_version_is_refused_before_taking_a_lock(db):
    db.execute("PRAGMA user_version = 7")
    with pytest.raises(PlaygroundError, match="written by a newer version of the app "
                       r"\(schema 7; this one knows up to 3\)") as raised:
        migrate(db)
    assert raised.value.hint == "Update the app."
    assert "BEGIN IMMEDIATE" not in db.statements
    assert tables(db) == set()


def test_a_newer_version_written_meanwhile_is_refused_inside_the_transaction(db):
    reads = iter([0, 7])  # another process migrated between the first read and the lock

    def current(db):
        return next(reads)

    with pytest.raises(PlaygroundError, match="schema 7"):
        run_migrations(db, migrations=MIGRATIONS, current=current,
                       record=lambda db, version: None, newer="newer", hint="")
    assert "BEGIN IMMEDIATE" in db.statements and "ROLLBACK" in db.statements
    assert tables(db) == set()


def test_before_may_refuse_the_file_before_it_is_written(db):
    def refuse(db):
        raise PlaygroundError("not ours")

    with pytest.raises(PlaygroundError, match="not ours"):
        migrate(db, before=refuse)
    assert "BEGIN IMMEDIATE" not in db.statements
    assert db.execute("PRAGMA journal_mode").fetchone()[0] != "wal"


def test_before_is_not_called_when_nothing_is_pending(db):
    migrate(db)
    migrate(db, before=lambda db: pytest.fail("called"))
