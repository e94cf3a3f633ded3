"""The Usage page's figures, checked against values computed by hand on a known data set."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground.ledger import queries
from playground.ledger.queries import Filters
from playground.ledger.records import UsageRecord
from playground.ledger.schema import insert_rows, migrate
from playground.ledger.writer import Ledger


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(time, page, connection, model, prompt, completion, latency, ttft=None,
          status="ok", cost=None, estimated=False, error_kind=None, session=None):
    return UsageRecord(
        page=page, connection=connection,
        endpoint="completions" if page == "Completions" else "chat",
        model=model, status=status, params={"temperature": 0.5}, prompt_tokens=prompt,
        completion_tokens=completion, tokens_estimated=estimated, latency=latency,
        time_to_first_token=ttft, error_kind=error_kind, cost=cost, time=at(time),
        request={"model": model, "temperature": 0.5}, response={"choices": [{"text": "hi"}]},
        session=session, host=HOSTS.get(connection))


HOSTS = {"Local models": "http://127.0.0.1:8000", "OpenAI": "https://api.openai.com:443",
         "vLLM": "http://gpu-box:8001"}


# Six requests; every expected figure below is worked out from this table by hand.
KNOWN = [
    entry("2026-03-01 10:15:00", "Chat", "Local models", "gpt-4o-mini", 100, 50, 1.0, 0.2,
          cost=0.01, session="a"),
    entry("2026-03-01 10:45:00", "Chat", "Local models", "gpt-4o-mini", 200, 100, 2.0, 0.4,
          cost=0.02, session="a"),
    entry("2026-03-01 11:05:00", "Completions", "OpenAI", "davinci-002", 10, 30, 3.0,
          cost=0.5, session="b"),
    entry("2026-03-02 09:00:00", "Compare", "OpenAI", "gpt-4o-mini", 0, 0, 0.1, status="error",
          cost=0.0, error_kind="RateLimited", session="b"),
    entry("2026-03-02 09:30:00", "Chat", "vLLM", "unknown-model", 40, 8, 4.0, 1.0,
          status="incomplete", estimated=True, error_kind="StreamInterrupted", session="a"),
    entry("2026-03-03 23:59:59.999999", "Chat", "Local models", "gpt-4o-mini", 1, 3, 0.5, 0.1,
          cost=0.001, session="a"),
]


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    opened = Ledger(tmp_path / "h.sqlite3")
    opened.insert_many(KNOWN)
    yield opened
    opened.close()


def ids(frame: pd.DataFrame) -> list[int]:
    return frame["id"].tolist()


# --- filters ----------------------------------------------------------------------------

def test_no_filters_is_everything(ledger):
    assert ledger.request_count() == 6
    assert Filters().where() == ("1", [])


@pytest.mark.parametrize("filters, expected", [
    (Filters(models=["gpt-4o-mini"]), [6, 4, 2, 1]),
    (Filters(models="davinci-002"), [3]),
    (Filters(connections=["OpenAI", "vLLM"]), [5, 4, 3]),
    (Filters(pages=["Chat"]), [6, 5, 2, 1]),
    (Filters(pages=["Chat"], connections=["Local models"], models=["gpt-4o-mini"]), [6, 2, 1]),
    (Filters(start=date(2026, 3, 2), end=date(2026, 3, 2)), [5, 4]),  # the whole UTC day
    (Filters(end=date(2026, 3, 3)), [6, 5, 4, 3, 2, 1]),  # includes 23:59:59.999999
    (Filters(end=at("2026-03-03 23:59:59.999999")), [5, 4, 3, 2, 1]),  # end is exclusive
    (Filters(start=at("2026-03-01 10:45:00"), end=at("2026-03-02 09:30:00")), [4, 3, 2]),
    (Filters(start=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=2)))),
     [6, 5, 4, 3]),  # 13:00 at UTC+2 is 11:00 UTC
    (Filters(start=datetime(2026, 3, 1, 10, 30)), [6, 5, 4, 3, 2]),  # naive means UTC
    (Filters(models=["nothing"]), []),
])
def test_filters_pick_the_right_requests(ledger, filters, expected):
    assert ids(ledger.requests(filters)) == expected
    assert ledger.request_count(filters) == len(expected)
    assert ledger.overview(filters).request_count == len(expected)  # the sums agree


@pytest.mark.parametrize("filters", [
    Filters(), Filters(models=["gpt-4o-mini"]), Filters(pages=["Chat"]),
    Filters(connections=["vLLM"]), Filters(start=date(2026, 3, 2), end=date(2026, 3, 2))])
def test_the_sums_and_samples_are_read_from_the_covering_index_alone(ledger, filters):
    statements = []
    with ledger.reading() as db:
        db.set_trace_callback(statements.append)
        queries.cube(db, filters)
        queries.samples(db, filters)
        db.set_trace_callback(None)
        plans = [" ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
                 for sql in statements if sql.lstrip().startswith("SELECT")]
    assert len(plans) == 2
    for plan in plans:
        assert "USING COVERING INDEX requests_summed" in plan
    if filters == Filters():  # every row: in group order, with no sort of its own
        assert "TEMP B-TREE" not in plans[0]


def test_filter_values_cannot_inject_sql(ledger):
    assert ledger.request_count(Filters(models=["x') OR 1=1 --"])) == 0


def test_distinct_values_for_the_filters(ledger):
    assert ledger.distinct_values("model") == ["davinci-002", "gpt-4o-mini", "unknown-model"]
    assert ledger.distinct_values("page") == ["Chat", "Compare", "Completions"]
    assert ledger.distinct_values("error_kind") == ["RateLimited", "StreamInterrupted"]
    with pytest.raises(ValueError):
        ledger.distinct_values("params; DROP TABLE requests")


# --- figures ----------------------------------------------------------------------------

def test_totals(ledger):
    row = ledger.query(queries.totals).iloc[0]
    assert (row.requests, row.ok, row.errors, row.incomplete) == (6, 4, 1, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (351, 191, 542)
    assert row.estimated == 1 and row.unpriced == 1
    assert row.cost == pytest.approx(0.531)
    assert row.mean_latency == pytest.approx((1 + 2 + 3 + 0.5) / 4)  # ok requests only
    assert row.mean_time_to_first_token == pytest.approx((0.2 + 0.4 + 0.1) / 3)
    assert row.mean_tokens_per_second == pytest.approx((50 + 50 + 10 + 6) / 4)
    assert row["first"] == pd.Timestamp("2026-03-01 10:15:00", tz="UTC")
    assert row["last"] == pd.Timestamp("2026-03-03 23:59:59.999999", tz="UTC")


def test_totals_of_nothing_are_zero(ledger):
    row = ledger.query(queries.totals, Filters(models=["nothing"])).iloc[0]
    assert (row.requests, row.total_tokens, row.cost) == (0, 0, 0.0)
    assert pd.isna(row.mean_latency) and pd.isna(row["first"])


def test_tokens_over_time_by_hour(ledger):
    frame = ledger.query(queries.tokens_over_time, bucket="hour")
    assert frame["bucket"].tolist() == [pd.Timestamp(t, tz="UTC") for t in (
        "2026-03-01 10:00", "2026-03-01 11:00", "2026-03-02 09:00", "2026-03-03 23:00")]
    assert frame["requests"].tolist() == [2, 1, 2, 1]
    assert frame["prompt_tokens"].tolist() == [300, 10, 40, 1]
    assert frame["completion_tokens"].tolist() == [150, 30, 8, 3]
    assert frame["estimated"].tolist() == [0, 0, 1, 0]


def test_tokens_over_time_by_day_week_and_month(ledger):
    day = ledger.query(queries.tokens_over_time, bucket="day")
    assert day["bucket"].dt.strftime("%Y-%m-%d").tolist() == ["2026-03-01", "2026-03-02",
                                                             "2026-03-03"]
    assert day["prompt_tokens"].tolist() == [310, 40, 1]
    assert day["completion_tokens"].tolist() == [180, 8, 3]
    week = ledger.query(queries.tokens_over_time, bucket="week")  # 2026-03-01 is a Sunday
    assert week["bucket"].dt.strftime("%Y-%m-%d").tolist() == ["2026-02-23", "2026-03-02"]
    assert week["requests"].tolist() == [3, 3]
    assert ledger.query(queries.tokens_over_time, bucket="month")["requests"].tolist() == [6]
    with pytest.raises(ValueError):
        ledger.query(queries.tokens_over_time, bucket="fortnight")


def test_cost_over_time_with_running_sum(ledger):
    frame = ledger.query(queries.cost_over_time, bucket="day")
    assert frame["cost"].tolist() == pytest.approx([0.53, 0.0, 0.001])
    assert frame["unpriced"].tolist() == [0, 1, 0]
    assert frame["cumulative_cost"].tolist() == pytest.approx([0.53, 0.53, 0.531])


def test_by_model(ledger):
    frame = ledger.query(queries.by_model).set_index("model")
    assert frame.index.tolist() == ["gpt-4o-mini", "unknown-model", "davinci-002"]  # by tokens
    mini = frame.loc["gpt-4o-mini"]
    assert (mini.requests, mini.prompt_tokens, mini.completion_tokens, mini.total_tokens) == (
        4, 301, 153, 454)
    assert mini.cost == pytest.approx(0.031) and mini.errors == 1 and mini.unpriced == 0
    assert mini.mean_latency == pytest.approx((1 + 2 + 0.5) / 3)
    assert mini.mean_tokens_per_second == pytest.approx((50 + 50 + 6) / 3)
    unknown = frame.loc["unknown-model"]
    assert (unknown.unpriced, unknown.incomplete, unknown.cost) == (1, 1, 0.0)
    assert pd.isna(unknown.mean_latency)
    assert frame.loc["davinci-002", "cost"] == pytest.approx(0.5)


def test_by_page_and_connection(ledger):
    pages = ledger.query(queries.by_page).set_index("page")
    assert pages["requests"].to_dict() == {"Chat": 4, "Completions": 1, "Compare": 1}
    assert pages.loc["Chat", "prompt_tokens"] == 341
    assert pages.loc["Chat", "completion_tokens"] == 161
    assert pages.loc["Compare", "errors"] == 1
    connections = ledger.query(queries.by_connection).set_index("connection")
    assert connections["total_tokens"].to_dict() == {"Local models": 454, "vLLM": 48, "OpenAI": 40}


def test_connection_tests_count_as_requests_but_not_in_latency(ledger):
    from playground.connection import ConnectionReport

    ledger.record(UsageRecord.from_connection_test(
        ConnectionReport(True, "ok", model_count=3, seconds=9.0), page="Chat",
        connection="Local models"))
    row = ledger.query(queries.totals).iloc[0]
    assert (row.requests, row.ok) == (7, 5)
    assert row.mean_latency == pytest.approx((1 + 2 + 3 + 0.5) / 4)  # 9.0 s left out
    assert "" not in set(ledger.query(queries.latency_by_model)["model"])


def test_latency_percentiles_by_model(ledger):
    frame = ledger.query(queries.latency_by_model).set_index("model")
    assert frame.index.tolist() == ["davinci-002", "gpt-4o-mini"]  # no ok request: no row
    mini = frame.loc["gpt-4o-mini"]  # ok latencies 0.5, 1.0, 2.0
    assert mini.latency_count == 3
    assert (mini.latency_min, mini.latency_p50, mini.latency_max) == (0.5, 1.0, 2.0)
    assert mini.latency_p90 == pytest.approx(1.8)  # position 0.9 * 2 = 1.8: 1.0 + 0.8 * 1.0
    assert mini.latency_p99 == pytest.approx(1.98)
    # The box plot's: p25 at position 0.5, p75 at 1.5, p1 at 0.02 (0.5 + 0.02 * 0.5).
    assert (mini.latency_p25, mini.latency_p75) == pytest.approx((0.75, 1.5))
    assert mini.latency_p1 == pytest.approx(0.51)
    assert mini.latency_mean == pytest.approx(3.5 / 3)
    assert mini.time_to_first_token_p50 == pytest.approx(0.2)  # 0.1, 0.2, 0.4
    assert mini.tokens_per_second_p50 == pytest.approx(50.0)  # 6, 50, 50
    davinci = frame.loc["davinci-002"]
    assert davinci.latency_p50 == davinci.latency_p99 == 3.0
    assert pd.isna(davinci.time_to_first_token_p50)  # not streamed


def test_distribution_shares_bins_across_models(ledger):
    # ok latencies 0.5..3.0: width 1.25
    frame = ledger.query(queries.distribution, "latency", bins=2)
    assert frame[["model", "bin", "count"]].values.tolist() == [
        ["davinci-002", 1, 1], ["gpt-4o-mini", 0, 2], ["gpt-4o-mini", 1, 1]]
    assert frame["bin_start"].tolist() == pytest.approx([1.75, 0.5, 1.75])
    assert frame["bin_end"].tolist() == pytest.approx([3.0, 1.75, 3.0])
    one = ledger.query(queries.distribution, "latency", Filters(models=["davinci-002"]), bins=5)
    assert one[["bin", "count"]].values.tolist() == [[0, 1]]  # a single value: one bin
    with pytest.raises(ValueError):
        ledger.query(queries.distribution, "prompt_tokens")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]),
                       st.lists(st.floats(0.001, 1000, allow_nan=False), min_size=1, max_size=40),
                       min_size=1))
def test_percentiles_match_numpy(latencies):
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    insert_rows(db, [UsageRecord(page="p", connection="c", endpoint="chat", model=model,
                                 latency=value).to_row()
                     for model, values in latencies.items() for value in values])
    frame = queries.latency_by_model(db).set_index("model")
    for model, values in latencies.items():
        for p in (1, 25, 50, 75, 90, 99):
            assert frame.loc[model, f"latency_p{p}"] == pytest.approx(
                np.percentile(values, p), rel=1e-9, abs=1e-9)
    db.close()


# --- the table, details, export, running total ------------------------------------------

def test_requests_are_newest_first_and_paged(ledger):
    frame = ledger.requests(limit=2, offset=1)
    assert ids(frame) == [5, 4]
    assert frame["time"].iloc[0] == pd.Timestamp("2026-03-02 09:30", tz="UTC")
    assert frame["tokens_estimated"].tolist() == [True, False]
    assert frame["host"].tolist() == ["http://gpu-box:8001", "https://api.openai.com:443"]
    assert "request" not in frame and "response" not in frame


def test_request_detail_has_the_bodies(ledger):
    detail = ledger.request_detail(3)
    assert detail["model"] == "davinci-002" and detail["connection"] == "OpenAI"
    assert detail["host"] == "https://api.openai.com:443"
    assert detail["params"] == {"temperature": 0.5}
    assert detail["request"] == {"model": "davinci-002", "temperature": 0.5}
    assert detail["response"] == {"choices": [{"text": "hi"}]}
    assert detail["time"] == at("2026-03-01 11:05:00")
    assert detail["tokens_estimated"] is False
    assert ledger.request_detail(999) is None


def test_csv_export(ledger):
    frame = pd.read_csv(io.BytesIO(ledger.to_csv(Filters(pages=["Chat"]))))
    assert frame["id"].tolist() == [1, 2, 5, 6]  # oldest first
    assert list(frame.columns) == list(queries.CSV_COLUMNS)
    assert frame["prompt_tokens"].sum() == 341
    assert frame["host"].tolist()[0] == "http://127.0.0.1:8000"
    with_bodies = pd.read_csv(io.BytesIO(ledger.to_csv(with_bodies=True)))
    assert len(with_bodies) == 6 and {"request", "response"} <= set(with_bodies.columns)
    empty = pd.read_csv(io.BytesIO(ledger.to_csv(Filters(models=["nothing"]))))
    assert empty.empty and list(empty.columns) == list(queries.CSV_COLUMNS)


def test_session_total(ledger):
    total = ledger.session_total(session="a")
    assert (total.requests, total.prompt_tokens, total.completion_tokens) == (4, 341, 161)
    assert total.total_tokens == 502
    assert total.cost == pytest.approx(0.031) and total.unpriced == 1 and total.estimated == 1
    since = ledger.session_total(since=at("2026-03-02 00:00:00"))
    assert (since.requests, since.prompt_tokens) == (3, 41)
    assert ledger.session_total(since=at("2026-03-02 00:00:00"), session="b").requests == 1


def test_session_total_includes_what_was_just_recorded(ledger):
    before = ledger.session_total(session="new")
    ledger.record(UsageRecord(page="Chat", connection="c", endpoint="chat", model="m",
                              prompt_tokens=7, completion_tokens=5, session="new"))
    after = ledger.session_total(session="new")
    assert (before.requests, after.requests, after.total_tokens) == (0, 1, 12)


def test_overview_holds_every_figure(ledger):
    view = ledger.overview()
    assert view.bucket == "hour"  # the data spans two and a half days
    assert view.request_count == 6 and len(view.requests) == 6
    assert view.totals["requests"].iloc[0] == 6
    assert view.tokens_over_time["prompt_tokens"].sum() == 351
    assert set(view.latency_by_model["model"]) == {"davinci-002", "gpt-4o-mini"}
    assert view.latency_by_model.set_index("model").loc["gpt-4o-mini", "latency_p25"] == 0.75
    narrow = ledger.overview(Filters(start=date(2026, 3, 1), end=date(2026, 3, 1)), limit=1)
    assert narrow.bucket == "hour" and narrow.request_count == 3 and len(narrow.requests) == 1


@pytest.mark.parametrize("span, bucket", [
    (timedelta(hours=1), "minute"), (timedelta(days=2), "hour"), (timedelta(days=30), "day"),
    (timedelta(days=400), "week"), (timedelta(days=2000), "month")])
def test_suggest_bucket(span, bucket):
    start = at("2026-01-01 00:00:00")
    assert queries.suggest_bucket(start, start + span) == bucket
    assert queries.suggest_bucket(None, None) == "hour"


@pytest.mark.parametrize("bucket, span, expected", [
    ("minute", timedelta(hours=20), "minute"),   # 1,200 bars
    ("minute", timedelta(days=2), "hour"),       # 2,880 minutes: too many; 48 hours
    ("hour", timedelta(days=90), "day"),         # 2,160 hours: too many
    ("minute", timedelta(days=3650), "week"),    # 521 weeks
    ("month", timedelta(days=1), "month"),       # coarser than needed is kept
    ("minute", timedelta(days=100_000), "month"),  # months always fit
])
def test_coarsen_keeps_the_bars_countable(bucket, span, expected):
    start = at("2026-01-01 00:00:00")
    assert queries.coarsen(bucket, start, start + span) == expected
    assert queries.coarsen(bucket, None, None) == bucket


def test_coarsen_refuses_an_unknown_bucket():
    with pytest.raises(ValueError, match="bucket must be one of"):
        queries.coarsen("fortnight", None, None)


def test_overview_coarsens_a_bucket_too_fine_for_the_span(ledger):
    assert ledger.overview(bucket="minute").bucket == "hour"  # 3 days of minutes: 3,600+
    assert ledger.overview(Filters(start=date(2026, 3, 1), end=date(2026, 3, 1)),
                           bucket="minute").bucket == "minute"  # one day: 1,440


def test_span_is_the_first_and_last_request(ledger, tmp_path):
    assert ledger.span() == (pd.Timestamp("2026-03-01 10:15:00", tz="UTC"),
                             pd.Timestamp("2026-03-03 23:59:59.999999", tz="UTC"))
    empty = Ledger(tmp_path / "empty.sqlite3")
    assert empty.span() == (None, None)
    empty.close()


def test_an_empty_ledger_gives_empty_figures(tmp_path):
    empty = Ledger(tmp_path / "empty.sqlite3")
    view = empty.overview()
    assert view.totals["requests"].iloc[0] == 0
    for frame in (view.tokens_over_time, view.cost_over_time, view.by_model, view.by_page,
                  view.latency_by_model, view.requests):
        assert frame.empty
    assert "prompt_tokens" in view.tokens_over_time.columns
    empty.close()


# --- staying fast: the plans SQLite follows ---------------------------------------------

def plan(ledger: Ledger, sql: str, params=()) -> str:
    with ledger.reading() as db:
        return " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_filter_choices_hop_through_an_index(ledger):
    statements: list[str] = []
    with ledger.reading() as db:
        db.set_trace_callback(statements.append)
        queries.distinct_values(db, "model")
    found = plan(ledger, statements[-1])
    assert "USING COVERING INDEX requests_by_model" in found and "SCAN requests" not in found


@pytest.mark.parametrize("filters, index", [
    (Filters(), None),
    (Filters(start=date(2026, 3, 1)), "requests_by_time"),
    (Filters(models=["gpt-4o-mini"], start=date(2026, 3, 1)), "requests_by_model"),
    (Filters(connections=["OpenAI"]), "requests_by_connection"),
    (Filters(pages=["Chat"]), "requests_by_page"),
])
def test_each_filter_reads_by_its_index_and_no_filter_scans_the_table(ledger, filters, index):
    where, params = filters.where()
    found = plan(ledger, f"SELECT COUNT(*) FROM {queries._source(filters)} WHERE {where}", params)
    if index is None:
        assert found == "SCAN requests"
    else:
        assert index in found


def test_the_request_table_is_read_newest_first_from_the_time_index(ledger):
    found = plan(ledger, f"SELECT id FROM {queries._source(Filters(), ordered=True)} "
                         "ORDER BY time DESC, id DESC LIMIT 10")
    assert "requests_by_time" in found and "TEMP B-TREE" not in found


def test_last_id_changes_when_a_row_is_added(ledger):
    assert ledger.last_id() == 6
    ledger.record(entry("2026-03-04 00:00:00", "Chat", "c", "m", 1, 1, 0.1))
    assert ledger.last_id() == 7
