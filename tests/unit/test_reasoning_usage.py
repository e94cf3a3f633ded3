"""Reasoning tokens in the usage ledger: recorded from the server's usage, summed on their own,
never added to the completion tokens they are part of, nor to the cost."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from openai_emulator import REASONING_TOKENS, OpenAIEmulator
from playground.catalog import Price
from playground.connection import Connection
from playground.ledger import queries
from playground.ledger.records import UsageRecord, reasoning_tokens_of
from playground.ledger.schema import SCHEMA_VERSION, schema_version
from playground.ledger.writer import Ledger
from playground.runner import Choice, RunResult, build_request, run
from tests.unit.test_history import make_v1_file
from ui.common.usage_total import describe
from ui.usage import figures, request_table

PRICES = {"o4-mini": Price(1.10, 4.40)}


def reasoning_result(prompt: int, completion: int, reasoning: int) -> RunResult:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion,
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    request = {"model": "o4-mini", "messages": [{"role": "user", "content": "Hi"}]}
    return RunResult("chat", request, [Choice(0, "Paris", "stop")], usage=usage, latency=1.0,
                     raw={"id": "c", "choices": [], "usage": usage})


@pytest.fixture
def db(tmp_path) -> Ledger:
    opened = Ledger(tmp_path / "h.sqlite3")
    yield opened
    opened.close()


@pytest.mark.parametrize(("usage", "expected"), [
    ({"completion_tokens_details": {"reasoning_tokens": 64}}, 64),
    ({"completion_tokens_details": {"reasoning_tokens": None}}, 0),
    ({"completion_tokens_details": None}, 0),
    ({"completion_tokens_details": {"reasoning_tokens": True}}, 0),
    ({}, 0),
    (None, 0),
])
def test_reasoning_tokens_are_read_from_the_usage_details(usage, expected):
    assert reasoning_tokens_of(usage) == expected


def test_the_cost_counts_reasoning_tokens_once_as_output():
    entry = UsageRecord.from_result(reasoning_result(10, 80, 64), page="Chat",
                                    connection="OpenAI", prices=PRICES)
    assert (entry.completion_tokens, entry.reasoning_tokens) == (80, 64)
    assert entry.cost == pytest.approx((10 * 1.10 + 80 * 4.40) / 1e6)


def test_a_server_claiming_more_reasoning_than_completion_is_held_to_the_completion():
    entry = UsageRecord.from_result(reasoning_result(10, 5, 64), page="Chat", connection="OpenAI",
                                    prices=PRICES)
    assert entry.reasoning_tokens == 5


def test_totals_and_models_show_reasoning_within_the_completion_tokens(db):
    when = datetime(2026, 11, 2, 10, tzinfo=UTC)
    db.insert_many([
        UsageRecord.from_result(reasoning_result(10, 80, 64), page="Chat", connection="OpenAI",
                                prices=PRICES),
        UsageRecord(page="Chat", connection="OpenAI", endpoint="chat", model="gpt-4.1",
                    prompt_tokens=5, completion_tokens=7, time=when),
    ])
    totals = db.query(queries.totals).iloc[0]
    assert (totals["completion_tokens"], totals["reasoning_tokens"], totals["total_tokens"]) == \
        (87, 64, 102)
    by_model = db.query(queries.by_model).set_index("model")
    assert by_model.loc["o4-mini", "reasoning_tokens"] == 64
    assert by_model.loc["gpt-4.1", "reasoning_tokens"] == 0
    assert db.query(queries.tokens_over_time, bucket="month")["reasoning_tokens"].sum() == 64
    assert db.session_total().reasoning_tokens == 64
    assert sorted(db.requests()["reasoning_tokens"].tolist()) == [0, 64]


def test_the_charts_split_the_completion_so_the_bars_add_up_to_the_total(db):
    db.insert_many([UsageRecord.from_result(reasoning_result(10, 80, 64), page="Chat",
                                            connection="OpenAI", prices=PRICES)])
    figure = figures.tokens_by(db.query(queries.by_model), "model")
    parts = {trace.name: sum(trace.x) for trace in figure.data}
    assert parts == {"prompt": 10, "completion: answer": 16, "completion: reasoning": 64}
    assert sum(parts.values()) == db.query(queries.totals)["total_tokens"].iloc[0]


def test_charts_without_reasoning_keep_prompt_and_completion(db):
    db.insert_many([UsageRecord(page="Chat", connection="OpenAI", endpoint="chat",
                                model="gpt-4.1", prompt_tokens=5, completion_tokens=7)])
    figure = figures.tokens_over_time(db.query(queries.tokens_over_time), "hour")
    assert [trace.name for trace in figure.data] == ["prompt", "completion"]


def test_the_per_model_table_and_the_words_say_reasoning_is_not_added(db):
    db.insert_many([UsageRecord.from_result(reasoning_result(10, 80, 64), page="Chat",
                                            connection="OpenAI", prices=PRICES)])
    table = request_table.by_model(db.query(queries.by_model))
    assert table.loc[0, "of which reasoning"] == 64 and table.loc[0, "Completion tokens"] == 80
    note = request_table.reasoning_note(64, 80)
    assert "64 of the 80 completion tokens" in note and "not added again" in note
    assert describe(db.session_total()) == \
        "This session: 1 request · 90 tokens (64 reasoning) · $0.000363"


def test_an_older_file_gains_the_column_with_zero_for_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    make_v1_file(path)
    upgraded = Ledger(path)
    with upgraded.reading() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        assert [row[0] for row in conn.execute(
            "SELECT reasoning_tokens FROM requests ORDER BY id")] == [0, 0]
    assert upgraded.query(queries.totals)["reasoning_tokens"].iloc[0] == 0
    assert upgraded.overview().request_count == 2  # read from the index the upgrade adds
    upgraded.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_reasoning_models_answer_is_recorded_with_its_reasoning_tokens(db, stream):
    with OpenAIEmulator() as base_url:
        conn = Connection("Emulator", base_url=base_url, api_key="sk-test", max_retries=0)
        request = build_request("chat", "o4-mini", {"stream": stream},
                                messages=[{"role": "user", "content": "Capital of France?"}])
        result = run(conn, "chat", request)
    db.record(UsageRecord.from_result(result, page="Chat", connection=conn, prices=PRICES))
    assert db.flush(10)
    with db.reading() as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM requests").fetchone()
    assert row["reasoning_tokens"] == REASONING_TOKENS["medium"]
    assert row["completion_tokens"] > row["reasoning_tokens"]
    assert row["cost"] == pytest.approx(
        (row["prompt_tokens"] * 1.10 + row["completion_tokens"] * 4.40) / 1e6)
