import sqlite3

import pytest

from playground import conversations, refusals
from playground.compare import saved as saved_runs
from playground.errors import PlaygroundError
from playground.ledger import schema as ledger_schema
from playground.sqlite_schema import recorded_version, run_migrations

MIGRATIONS = (
    (1, ("CREATE TABLE one (id INTEGER PRIMARY KEY)",)),
    (2, ("CREATE TABLE two (id INTEGER PRIMARY KEY)", "INSERT INTO two VALUES (2)")),
    (3, ("CREATE TABLE three (id INTEGER PRIMARY KEY)",)),
)


def stored_version(db):
    return recorded_version(db, "test")


def migrate(db, migrations=MIGRATIONS, **hooks):
    """Runs ``migrations`` as the schema "test"."""
    return run_migrations(
        db, schema="test", migrations=migrations,
        newer="The test tables were written by a newer version of the app",
        hint="Update the app.", **hooks)


def write_newer(db, version):
    db.execute("CREATE TABLE schema_migrations (schema TEXT NOT NULL, version INTEGER NOT NULL, "
               "applied_at TEXT NOT NULL, PRIMARY KEY (schema, version))")
    db.execute("INSERT INTO schema_migrations VALUES ('test', ?, '')", (version,))


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
    assert migrate(db) == 3
    creates = [s for s in db.statements if s.startswith("CREATE TABLE ") and "EXISTS" not in s]
    assert creates == [MIGRATIONS[0][1][0], MIGRATIONS[1][1][0], MIGRATIONS[2][1][0]]
    assert tables(db) == {"one", "two", "three", "schema_migrations"}
    rows = db.execute("SELECT schema, version, applied_at FROM schema_migrations").fetchall()
    assert [(schema, version) for schema, version, _ in rows] == [("test", 1), ("test", 2),
                                                                  ("test", 3)]
    assert all(applied.endswith("+00:00") for _, _, applied in rows)


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
    assert "BEGIN IMMEDIATE" not in db.statements and not any(
        s.startswith(("INSERT", "CREATE")) for s in db.statements)  # no lock, no write


def test_a_failing_statement_rolls_back_every_migration(db):
    migrate(db, MIGRATIONS[:1])
    broken = MIGRATIONS + ((4, ("CREATE TABLE four (id INTEGER)", "NOT SQL")),)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, broken)
    assert stored_version(db) == 1
    assert tables(db) == {"one", "schema_migrations"}
    assert not db.in_transaction


def test_a_newer_version_is_refused_before_taking_a_lock(db):
    write_newer(db, 7)
    db.statements.clear()
    with pytest.raises(PlaygroundError, match="written by a newer version of the app "
                       r"\(schema 7; this one knows up to 3\)") as raised:
        migrate(db)
    assert raised.value.hint == "Update the app."
    assert "BEGIN IMMEDIATE" not in db.statements
    assert tables(db) == {"schema_migrations"}


def test_a_newer_version_written_meanwhile_is_refused_inside_the_transaction(db):
    def newer_meanwhile(db):  # another process migrated between the first read and the lock
        write_newer(db, 7)

    with pytest.raises(PlaygroundError, match="schema 7"):
        migrate(db, before=newer_meanwhile)
    assert "BEGIN IMMEDIATE" in db.statements and "ROLLBACK" in db.statements
    assert tables(db) == {"schema_migrations"}


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


OLD_FILE = """
CREATE TABLE requests (id INTEGER PRIMARY KEY, time TEXT NOT NULL, page TEXT NOT NULL,
    connection TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}', prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, tokens_estimated INTEGER NOT NULL DEFAULT 0,
    latency REAL, time_to_first_token REAL, tokens_per_second REAL, status TEXT NOT NULL,
    error_kind TEXT, error_message TEXT, cost REAL);
CREATE TABLE bodies (id INTEGER PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    request TEXT, response TEXT);
PRAGMA user_version = 1;
CREATE TABLE conversation_schema (version INTEGER NOT NULL);
INSERT INTO conversation_schema (version) VALUES (1);
CREATE TABLE compare_schema (version INTEGER NOT NULL);
INSERT INTO compare_schema (version) VALUES (1);
CREATE TABLE capability_schema (version INTEGER NOT NULL);
INSERT INTO capability_schema (version) VALUES (1);
"""


def test_versions_a_file_recorded_the_old_ways_are_carried_into_the_one_table(tmp_path):
    """A file whose four schemas kept their versions as the code before the table did."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_FILE)
    db = sqlite3.connect(path, isolation_level=None)
    assert ledger_schema.schema_version(db) == 1
    stores = {ledger_schema.SCHEMA_NAME: ledger_schema.migrate,
              conversations.SCHEMA_NAME: conversations.migrate,
              saved_runs.SCHEMA_NAME: saved_runs.migrate,
              refusals.SCHEMA_NAME: refusals.migrate}
    latest = {name: migrate_store(db) for name, migrate_store in stores.items()}
    rows = db.execute("SELECT schema, MIN(version), MAX(version) FROM schema_migrations "
                      "GROUP BY schema").fetchall()
    db.close()
    assert {name: (low, high) for name, low, high in rows} == {
        name: (1, latest[name]) for name in stores}
    assert latest[ledger_schema.SCHEMA_NAME] == ledger_schema.SCHEMA_VERSION
