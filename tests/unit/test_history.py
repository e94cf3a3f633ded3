"""The usage ledger: records, keys kept out, background writes, concurrency, migrations."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from playground import errors
from playground.catalog import Price, estimate_cost
from playground.connection import Connection
from playground.ledger import queries
from playground.ledger.records import UsageRecord, host_of, is_secret_name, origin, scrub
from playground.ledger.schema import (
    DB_VARIABLE,
    MIGRATIONS,
    SCHEMA_VERSION,
    default_path,
    schema_version,
)
from playground.ledger.writer import Ledger, shared_ledger
from playground.runner import Choice, RunResult, build_request, run
from playground.tokens import estimate_tokens

MODEL = "smollm2-135m-instruct"
PRICES = {"gpt-4o-mini": Price(0.15, 0.60), "free": Price(0.0, 0.0)}
KEY = "sk-proj-THISisTHEsecretKEY0123456789abcdef"


@pytest.fixture
def db(tmp_path) -> Ledger:
    opened = Ledger(tmp_path / "history.sqlite3")
    yield opened
    opened.close()


def rows(ledger: Ledger, sql: str = "SELECT * FROM requests ORDER BY id") -> list[sqlite3.Row]:
    with ledger.reading() as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql).fetchall()


def record(**fields) -> UsageRecord:
    base = dict(page="chat", connection="Local models", endpoint="chat", model="gpt-4o-mini",
                prompt_tokens=10, completion_tokens=20, latency=0.5)
    return UsageRecord(**{**base, **fields})


# --- where the file lives ---------------------------------------------------------------

def test_default_path_is_in_the_data_folder(data_dir, monkeypatch):
    monkeypatch.delenv(DB_VARIABLE, raising=False)
    assert default_path() == data_dir / "history.sqlite3"


def test_the_environment_chooses_the_file(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(DB_VARIABLE, str(tmp_path / "elsewhere" / "usage.db"))
    opened = Ledger()
    try:
        assert opened.path == tmp_path / "elsewhere" / "usage.db"
        assert opened.path.exists()
    finally:
        opened.close()


def test_shared_ledger_is_one_instance_per_file(tmp_path):
    first = shared_ledger(tmp_path / "a.sqlite3")
    try:
        assert shared_ledger(tmp_path / "a.sqlite3") is first
        assert shared_ledger(tmp_path / "b.sqlite3") is not first
    finally:
        first.close()
        shared_ledger(tmp_path / "b.sqlite3").close()


@pytest.mark.parametrize("name", ["bad\x00name.sqlite3", "~no-such-user-here/h.sqlite3"])
def test_a_name_that_is_no_path_is_a_clear_error(name):
    with pytest.raises(errors.PlaygroundError, match="cannot be used as a file name"):
        shared_ledger(name)


def test_a_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(errors.PlaygroundError, match="could not be opened") as caught:
        shared_ledger(tmp_path / "file" / "inside" / "h.sqlite3")
    assert DB_VARIABLE in caught.value.hint


def test_a_file_that_is_not_a_database_is_set_aside_not_used(tmp_path):
    path = tmp_path / "not.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    opened = Ledger(path)
    try:
        [notice] = opened.notices
        assert notice.moved_to.read_bytes() == b"this is not sqlite" * 100
        assert opened.count() == 0
    finally:
        opened.close()


def test_the_file_is_in_wal_mode(db):
    with db.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- records ----------------------------------------------------------------------------

def test_estimate_tokens_is_four_characters_a_token_rounded_up():
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde", "x" * 400)] == [0, 1, 1, 2, 100]


def test_cost_from_the_price_table_per_million_tokens():
    assert estimate_cost("gpt-4o-mini", 1_000_000, 0, PRICES) == pytest.approx(0.15)
    assert estimate_cost("gpt-4o-mini", 1000, 2000, PRICES) == pytest.approx(
        (1000 * 0.15 + 2000 * 0.60) / 1e6)
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1000, 0, PRICES) == pytest.approx(0.00015)
    assert estimate_cost("free", 1000, 1000, PRICES) == 0.0
    assert estimate_cost("unknown-model", 1000, 1000, PRICES) is None


def test_cost_uses_the_saved_price_table_by_default(data_dir):
    (data_dir / "prices.csv").write_text(
        "model,input_per_million,output_per_million\nmy-model,1,3\n")
    assert estimate_cost("my-model", 1_000_000, 1_000_000) == pytest.approx(4.0)
    (data_dir / "prices.csv").write_text(
        "model,input_per_million,output_per_million\nmy-model,2,3\n")
    import os

    os.utime(data_dir / "prices.csv", ns=(0, time.time_ns() + 10**9))  # a new mtime
    assert estimate_cost("my-model", 1_000_000, 0) == pytest.approx(2.0)


def test_from_result_takes_the_servers_usage():
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
               "temperature": 0.3, "max_tokens": 5}
    result = RunResult("chat", request, [Choice(0, "Hello there", "stop")],
                       usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
                       latency=0.6, raw={"id": "c1", "choices": [], "usage": {}})
    entry = UsageRecord.from_result(result, page="Chat", connection="OpenAI", prices=PRICES)
    assert (entry.prompt_tokens, entry.completion_tokens, entry.tokens_estimated) == (9, 3, False)
    assert entry.params == {"temperature": 0.3, "max_tokens": 5}
    assert entry.status == "ok" and entry.error_kind is None
    assert entry.tokens_per_second == pytest.approx(3 / 0.6)
    assert entry.cost == pytest.approx((9 * 0.15 + 3 * 0.60) / 1e6)
    assert entry.model == "gpt-4o-mini" and entry.connection == "OpenAI"
    assert datetime.now(UTC) - entry.time >= timedelta(seconds=0.6)


def test_from_result_estimates_missing_usage_and_marks_it():
    request = {"model": "m", "prompt": "x" * 40, "suffix": "y" * 4, "stream": True}
    result = RunResult("completions", request, [Choice(0, "z" * 9)], usage=None, latency=1.0,
                       time_to_first_token=0.2, raw=[{"id": "s", "model": "m", "choices": []}])
    entry = UsageRecord.from_result(result, page="Completions", connection="vLLM", prices={})
    assert (entry.prompt_tokens, entry.completion_tokens) == (11, 3)
    assert entry.tokens_estimated is True
    assert entry.cost is None
    assert entry.response["choices"][0]["text"] == "z" * 9
    assert entry.response["streamed_chunks"] == 1
    assert entry.time_to_first_token == 0.2


def test_from_result_of_a_broken_stream_is_incomplete_with_the_error_kind():
    error = errors.StreamInterrupted("broke", partial="abcdefgh")
    result = RunResult("chat", {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
                       [], latency=0.4, raw=[], incomplete=True, error=error)
    entry = UsageRecord.from_result(result, page="Chat", connection="c", prices={})
    assert entry.status == "incomplete"
    assert entry.error_kind == "StreamInterrupted"
    assert entry.completion_tokens == 2 and entry.tokens_estimated


def test_from_error_keeps_the_kind_and_no_tokens():
    error = errors.RateLimited("Rate limited (429): slow down", status=429)
    entry = UsageRecord.from_error(error, endpoint="chat", request={"model": "gpt-4o-mini",
                                   "messages": [], "n": 2}, page="Compare",
                                   connection="OpenAI", latency=0.1, prices=PRICES)
    assert entry.status == "error" and entry.error_kind == "RateLimited"
    assert entry.params == {"n": 2}
    assert (entry.prompt_tokens, entry.completion_tokens, entry.cost) == (0, 0, 0.0)
    assert entry.tokens_per_second is None
    assert "slow down" in entry.error_message


def test_from_connection_test_records_the_listing():
    from playground.connection import ConnectionReport

    ok = UsageRecord.from_connection_test(
        ConnectionReport(True, "Connected: 2 models", model_count=2, seconds=0.3),
        page="Sidebar", connection="Ollama", session="s")
    assert (ok.endpoint, ok.model, ok.status, ok.latency, ok.session) == (
        "models", "", "ok", 0.3, "s")
    assert ok.response["model_count"] == 2 and ok.cost is None
    failed = UsageRecord.from_connection_test(
        ConnectionReport(False, "Could not connect", seconds=0.01), page="Sidebar",
        connection=Connection("Mine", base_url="http://x/v1"))
    assert (failed.status, failed.connection, failed.error_message, failed.host) == (
        "error", "Mine", "Could not connect", "http://x:80")


# --- the host each request went to ------------------------------------------------------

@pytest.mark.parametrize(("url", "host"), [
    ("https://api.openai.com/v1", "https://api.openai.com:443"),
    ("http://localhost:11434/v1", "http://localhost:11434"),
    ("HTTP://User:Secret@Gateway.Example:8443/openai/v1?key=abc#x", "http://gateway.example:8443"),
    ("http://[::1]:8000/v1", "http://[::1]:8000"),
    ("not a url", None),
    ("http://host:notaport/v1", None),
])
def test_origin_keeps_scheme_host_and_port_only(url, host):
    assert origin(url) == host


def test_the_host_comes_from_the_connection(monkeypatch):
    assert host_of(Connection("Gateway", base_url="https://u:p@gw.example/v1")) == \
        "https://gw.example:443"
    assert host_of("just a name") is None
    monkeypatch.setenv("PLAYGROUND_LOCAL_URL", "http://127.0.0.1:9123/v1")
    assert host_of(Connection("Local models", kind="local")) == "http://127.0.0.1:9123"


def test_failed_requests_record_their_host_too():
    failed = UsageRecord.from_error(
        errors.PlaygroundError("refused"), endpoint="chat", request={"model": "m"}, page="Chat",
        connection=Connection("Mine", base_url="http://127.0.0.1:9/v1"))
    assert failed.host == "http://127.0.0.1:9"


@pytest.mark.parametrize("name", ["api_key", "API_KEY", "apiKey", "x-api-key", "Authorization",
                                  "openai_api_key", "secret", "client_secret", "password",
                                  "access_token", "key", "credentials"])
def test_names_of_credentials_are_recognised(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "top_logprobs", "logit_bias", "monkey", "stop",
                                  "temperature", "keywords", "stream_options", "tokens"])
def test_parameter_names_are_not_mistaken_for_credentials(name):
    assert not is_secret_name(name)


def test_scrub_drops_credentials_and_redacts_key_like_values():
    value = {"temperature": 1, "api_key": KEY, "extra_headers": {"Authorization": "Bearer x"},
             "stop": [f"look: {KEY}"], "user": "Bearer abcdefghijkl"}
    assert scrub(value) == {"temperature": 1, "extra_headers": {},
                            "stop": ["look: [redacted]"], "user": "Bearer [redacted]"}
    assert scrub({"note": "my-own-key-123"}, secrets=["my-own-key-123"]) == {"note": "[redacted]"}


def test_the_key_never_reaches_the_file(db):
    conn = Connection("Mine", base_url="http://x/v1", api_key="plain-custom-key-000111")
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
               "extra_headers": {"Authorization": f"Bearer {KEY}", "X-Api-Key": KEY},
               "extra_body": {"api_key": KEY, "note": "plain-custom-key-000111"}}
    result = RunResult("chat", request, [Choice(0, "ok")], latency=0.1,
                       raw={"echo": f"key was {KEY}"})
    db.record(UsageRecord.from_result(result, page="Chat", connection=conn, prices=PRICES))
    db.record(UsageRecord.from_error(errors.AuthenticationFailed(f"bad key {KEY}"),
                                     endpoint="chat", request=request, page="Chat",
                                     connection=conn, prices=PRICES))
    db.record(record(params={"api_key": KEY, "temperature": 0.5}, request={"key": KEY}))
    assert db.flush(10)
    assert len(rows(db)) == 3
    db.close()
    stored = b"".join(p.read_bytes() for p in db.path.parent.iterdir() if p.is_file())
    assert stored  # the file and whatever WAL is left
    for secret in (KEY, "THISisTHEsecretKEY", "plain-custom-key-000111"):
        assert secret.encode() not in stored
    assert b"temperature" in stored


# --- writing ----------------------------------------------------------------------------

def test_a_record_round_trips_every_column(db):
    when = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    db.record(record(time=when, params={"temperature": 0.2, "logit_bias": {"50256": -100}},
                     time_to_first_token=0.1, cost=0.25, status="incomplete",
                     error_kind="StreamInterrupted", error_message="broke",
                     request={"model": "gpt-4o-mini", "temperature": 0.2},
                     response={"choices": [{"text": "héllo"}]}, host="http://127.0.0.1:8000"))
    assert db.flush(10)
    row = rows(db)[0]
    assert row["host"] == "http://127.0.0.1:8000"
    assert row["time"] == "2026-03-04 05:06:07.890123"
    assert json.loads(row["params"]) == {"temperature": 0.2, "logit_bias": {"50256": -100}}
    assert (row["prompt_tokens"], row["completion_tokens"], row["tokens_estimated"]) == (10, 20, 0)
    assert row["tokens_per_second"] == pytest.approx(40.0)
    assert (row["status"], row["error_kind"], row["cost"]) == (
        "incomplete", "StreamInterrupted", 0.25)
    body = rows(db, "SELECT * FROM bodies")[0]
    assert body["id"] == row["id"]
    assert json.loads(body["response"]) == {"choices": [{"text": "héllo"}]}


def test_local_time_is_stored_as_utc(db):
    tz = timezone(timedelta(hours=2))
    db.record(record(time=datetime(2026, 1, 1, 1, 30, tzinfo=tz)))
    assert db.flush(10)
    assert rows(db)[0]["time"] == "2025-12-31 23:30:00.000000"


def test_concurrent_records_from_twenty_threads_are_all_kept(db):
    start = threading.Barrier(20)

    def worker(thread: int) -> None:
        start.wait()
        for i in range(50):
            db.record(record(page=f"t{thread}", prompt_tokens=i))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.flush(30)
    found = rows(db, "SELECT page, prompt_tokens FROM requests")
    assert len(found) == 1000
    assert {(r["page"], r["prompt_tokens"]) for r in found} == {
        (f"t{t}", i) for t in range(20) for i in range(50)}


def test_two_ledgers_on_one_file_lose_nothing(tmp_path):
    """Two app processes sharing a file: two writers contend for SQLite's lock."""
    first, second = Ledger(tmp_path / "h.sqlite3"), Ledger(tmp_path / "h.sqlite3")

    def worker(target: Ledger, tag: str) -> None:
        for i in range(200):
            target.record(record(page=tag, prompt_tokens=i))

    threads = [threading.Thread(target=worker, args=(target, f"{n}"))
               for n, target in enumerate([first, second] * 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.flush(30) and second.flush(30)
    assert first.count() == 1200
    first.close(), second.close()


def test_record_does_not_wait_for_a_locked_database(tmp_path):
    """While another connection holds the write lock, record() still returns at once."""
    target = Ledger(tmp_path / "h.sqlite3", busy_timeout=0.05)
    blocker = sqlite3.connect(target.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        target.record(record())  # starts the writer, which now waits on the lock
        started = time.perf_counter()
        for _ in range(200):
            target.record(record())
        spent = time.perf_counter() - started
        assert not target.flush(timeout=0.5)  # the writer is stuck behind the lock...
        assert target.pending == 201
        assert spent < 0.5  # ...yet 200 records took well under the time it has been stuck
        assert isinstance(target.last_error, sqlite3.OperationalError)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert target.flush(timeout=30)  # retried after the lock went: nothing lost
    assert target.count() == 201 and target.last_error is None
    target.close()


def test_a_record_can_be_queued_as_the_function_that_makes_it(db):
    db.record(lambda: record(model="made-by-the-writer"))
    assert db.flush(10)
    assert [row["model"] for row in rows(db)] == ["made-by-the-writer"]


def test_a_record_that_cannot_be_made_is_dropped_and_the_writer_goes_on(db, caplog):
    def broken() -> UsageRecord:
        raise KeyError("the prompt's text")

    db.record(broken)
    db.record(record())
    assert db.flush(10) and db.count() == 1
    assert "could not be made: KeyError" in caplog.text
    assert "the prompt's text" not in caplog.text  # a row's content never reaches the log


def test_flush_with_nothing_recorded_returns_at_once(db):
    assert db.flush(timeout=0) is True


def test_close_writes_what_is_queued_and_refuses_more(tmp_path):
    target = Ledger(tmp_path / "h.sqlite3")
    for _ in range(100):
        target.record(record())
    assert target.close() is True
    assert Ledger(tmp_path / "h.sqlite3").count() == 100
    with pytest.raises(errors.PlaygroundError, match="closed"):
        target.record(record())


def test_insert_many_writes_synchronously(db):
    assert db.insert_many((record(prompt_tokens=i) for i in range(2500)), batch=1000) == 2500
    assert db.count() == 2500


def test_a_real_request_is_recorded_with_the_servers_usage(db, local_base_url):
    conn = Connection("Local", base_url=local_base_url, max_retries=0, timeout=60,
                      api_key="local-test-key-abcdef")
    request = build_request("chat", MODEL, {"max_tokens": 3, "temperature": 0, "stream": True},
                            messages=[{"role": "user", "content": "Say hi."}])
    result = run(conn, "chat", request)
    db.record(UsageRecord.from_result(result, page="Chat", connection=conn))
    assert db.flush(10)
    row = rows(db)[0]
    assert row["prompt_tokens"] == result.usage["prompt_tokens"] > 0
    assert row["completion_tokens"] == result.usage["completion_tokens"] > 0
    assert row["tokens_estimated"] == 0 and row["status"] == "ok"
    assert row["time_to_first_token"] is not None and row["latency"] >= row["time_to_first_token"]
    assert row["cost"] == 0.0  # the local models are free in the seed price list
    assert row["host"] == local_base_url.removesuffix("/v1")
    assert json.loads(row["params"]) == {"max_tokens": 3, "temperature": 0, "stream": True,
                                         "stream_options": {"include_usage": True}}


# --- schema -----------------------------------------------------------------------------

def test_a_new_file_gets_the_latest_schema(db):
    with db.reading() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        applied = conn.execute("SELECT version FROM schema_migrations "
                               "WHERE schema = 'ledger' ORDER BY version").fetchall()
        assert applied == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_file_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE requests (id INTEGER PRIMARY KEY, shape TEXT)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(errors.PlaygroundError, match="newer version"):
        Ledger(path)
    assert path.read_bytes() == before


def test_another_applications_database_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(errors.PlaygroundError, match="some other application"):
        Ledger(path)
    assert path.read_bytes() == before


def test_an_empty_file_becomes_a_ledger(tmp_path):
    path = tmp_path / "empty.sqlite3"
    path.touch()
    opened = Ledger(path)
    assert opened.count() == 0
    opened.close()


def test_a_file_deleted_under_the_ledger_is_a_clear_error_when_read(tmp_path):
    opened = Ledger(tmp_path / "h.sqlite3")
    for name in ("h.sqlite3", "h.sqlite3-wal", "h.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with pytest.raises(errors.PlaygroundError, match="could not be read"):
        opened.query(queries.totals)
    opened.close()


def test_opening_twice_does_not_migrate_twice(tmp_path):
    Ledger(tmp_path / "h.sqlite3").close()
    again = Ledger(tmp_path / "h.sqlite3")
    assert again.count() == 0
    again.close()


def test_rows_survive_reopening(tmp_path):
    first = Ledger(tmp_path / "h.sqlite3")
    first.record(record())
    first.close()
    assert Ledger(Path(tmp_path / "h.sqlite3")).count() == 1


# The schema of the first release, written out as it was, to build old files from.
SCHEMA_V1 = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, page TEXT NOT NULL,
    connection TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}', prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, tokens_estimated INTEGER NOT NULL DEFAULT 0,
    latency REAL, time_to_first_token REAL, tokens_per_second REAL, status TEXT NOT NULL,
    error_kind TEXT, error_message TEXT, cost REAL);
CREATE INDEX requests_by_time ON requests (time);
CREATE TABLE bodies (id INTEGER PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
                     request TEXT, response TEXT);
INSERT INTO requests VALUES
    (1, '2025-01-02 03:04:05.000000', 'Chat', 'OpenAI', 'chat', 'gpt-4o-mini',
     '{"temperature":0.7}', 12, 34, 0, 1.5, 0.25, 22.6667, 'ok', NULL, NULL, 0.0000222),
    (2, '2025-01-03 00:00:00.000000', 'Completions', 'Local models', 'completions',
     'gemma-3-270m', '{}', 0, 0, 0, 0.01, NULL, NULL, 'error', 'ModelNotFound', 'gone', 0.0);
INSERT INTO bodies VALUES (1, '{"model":"gpt-4o-mini"}', '{"choices":[]}');
PRAGMA user_version = 1;
"""


def make_v1_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.close()


def test_migrations_are_numbered_one_by_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_1_file_is_migrated_and_its_rows_survive(tmp_path):
    path = tmp_path / "old.sqlite3"
    make_v1_file(path)
    upgraded = Ledger(path)
    with upgraded.reading() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        applied = conn.execute("SELECT version FROM schema_migrations "
                               "WHERE schema = 'ledger' ORDER BY version").fetchall()
        assert applied == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        conn.row_factory = sqlite3.Row
        old = conn.execute("SELECT * FROM requests ORDER BY id").fetchall()
        assert [(r["id"], r["model"], r["prompt_tokens"], r["status"], r["session"], r["host"])
                for r in old] == [(1, "gpt-4o-mini", 12, "ok", None, None),
                                  (2, "gemma-3-270m", 0, "error", None, None)]
        assert conn.execute("SELECT request FROM bodies WHERE id = 1").fetchone()[0] == \
            '{"model":"gpt-4o-mini"}'
        indexes = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests'")}
        assert {"requests_by_time", "requests_by_session", "requests_by_model",
                "requests_by_connection", "requests_by_page"} <= indexes
    upgraded.record(record(session="browser-1"))
    assert upgraded.flush(10)
    assert rows(upgraded, "SELECT id, session FROM requests WHERE id = 3")[0]["session"] == \
        "browser-1"
    upgraded.close()


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "odd.sqlite3"
    make_v1_file(path)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE requests ADD COLUMN session TEXT")  # someone added it by hand
    conn.commit()
    conn.close()
    with pytest.raises(errors.PlaygroundError, match="could not be opened"):
        Ledger(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 2
    conn.close()
