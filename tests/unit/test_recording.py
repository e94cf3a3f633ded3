"""Every request sent through a Recorder lands in the ledger, failures included."""

from __future__ import annotations

import pytest

from playground import runner
from playground.connection import Connection
from playground.errors import ConnectionFailed
from playground.recording import Recorder


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
