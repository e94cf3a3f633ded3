"""Every request sent through a Recorder lands in the ledger, failures included; the
record is made on the ledger's writer thread, dated when the request was sent."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from fault_server import FaultServer, closed_port_url
from playground import runner
from playground.connection import Connection
from playground.errors import ConnectionFailed
from playground.ledger.records import UsageRecord
from playground.recording import Recorder

WRITER_BUSY = 0.5  # seconds the writer takes before making a record, in the tests below


@pytest.fixture
def recorder(data_dir):
    return Recorder(page="Completions", session="s-1", ledger_path=data_dir / "ledger.sqlite3")


def test_a_successful_request_is_recorded_with_its_usage(recorder, local_base_url):
    conn = Connection("Test local", base_url=local_base_url, api_key="sk-secret-never-stored")
    request = runner.build_request("completions", "smollm2-135m-instruct",
                                   {"max_tokens": 3, "temperature": 0}, prompt="Hello")
    result = recorder.run(conn, "completions", request)
    assert recorder.usage_ledger.flush()
    rows = recorder.usage_ledger.requests()
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["page"], row["connection"], row["model"], row["status"]) == (
        "Completions", "Test local", "smollm2-135m-instruct", "ok")
    assert row["completion_tokens"] == result.usage["completion_tokens"]
    assert row["host"] == local_base_url.removesuffix("/v1")
    assert b"sk-secret-never-stored" not in recorder.usage_ledger.path.read_bytes()


def test_a_failed_request_is_recorded_and_still_raised(recorder):
    conn = Connection("Nowhere", base_url="http://127.0.0.1:9/v1", max_retries=0)
    request = runner.build_request("completions", "m", {}, prompt="Hello")
    with pytest.raises(ConnectionFailed):
        recorder.run(conn, "completions", request)
    assert recorder.usage_ledger.flush()
    row = recorder.usage_ledger.requests().iloc[0]
    assert (row["status"], row["error_kind"], row["host"]) == (
        "error", "ConnectionFailed", "http://127.0.0.1:9")


def test_a_ledger_that_cannot_be_opened_does_not_lose_the_answer(data_dir, local_base_url, caplog):
    not_a_folder = data_dir / "notes.txt"
    not_a_folder.write_text("a file where the ledger's folder should be\n")
    recorder = Recorder(page="Completions", ledger_path=not_a_folder / "inside" / "h.sqlite3")
    conn = Connection("Test local", base_url=local_base_url)
    request = runner.build_request("completions", "smollm2-135m-instruct",
                                   {"max_tokens": 2, "temperature": 0}, prompt="Hello")
    result = recorder.run(conn, "completions", request)
    assert result.usage["completion_tokens"] >= 1
    assert "Usage not recorded" in caplog.text


@pytest.fixture
def busy_writer(monkeypatch):
    """Each record is made WRITER_BUSY seconds late, as by a writer busy elsewhere; the names
    of the threads that made them are kept."""
    threads = []

    def late(make):
        def making(*args, **kwargs):
            threads.append(threading.current_thread().name)
            time.sleep(WRITER_BUSY)
            return make(*args, **kwargs)
        return making

    monkeypatch.setattr(UsageRecord, "from_result", late(UsageRecord.from_result))
    monkeypatch.setattr(UsageRecord, "from_error", late(UsageRecord.from_error))
    return threads


def test_the_record_is_made_by_the_writer_and_dated_when_the_request_was_sent(recorder,
                                                                              busy_writer):
    request = runner.build_request("chat", "fault-model", {"max_tokens": 3},
                                   messages=[{"role": "user", "content": "Hi"}])
    with FaultServer() as base_url:
        sent = datetime.now(UTC)
        started = time.perf_counter()
        result = recorder.run(Connection("Fault", base_url=base_url, max_retries=0), "chat",
                              request)
        assert time.perf_counter() - started < WRITER_BUSY  # the request did not wait for it
    assert result.text and recorder.usage_ledger.flush(10)
    assert busy_writer == ["ledger-writer:ledger.sqlite3"]
    row = recorder.usage_ledger.requests().iloc[0]
    assert (row["status"], row["completion_tokens"]) == ("ok", 3)
    assert sent - timedelta(milliseconds=5) <= row["time"] < sent + timedelta(seconds=0.25)


def test_a_failure_is_recorded_by_the_writer_with_the_requests_own_latency(recorder,
                                                                           busy_writer):
    conn = Connection("Nowhere", base_url=closed_port_url(), max_retries=0)
    request = runner.build_request("completions", "m", {}, prompt="Hello")
    sent = datetime.now(UTC)
    with pytest.raises(ConnectionFailed):
        recorder.run(conn, "completions", request)
    assert recorder.usage_ledger.flush(10)
    assert busy_writer == ["ledger-writer:ledger.sqlite3"]
    row = recorder.usage_ledger.requests().iloc[0]
    assert (row["status"], row["error_kind"]) == ("error", "ConnectionFailed")
    assert row["latency"] < WRITER_BUSY / 2
    assert sent - timedelta(milliseconds=5) <= row["time"] < sent + timedelta(seconds=0.25)
