"""The Usage page and the sidebar's part in it: totals, charts, filters, table, database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from playground.ledger.records import UsageRecord
from playground.ledger.schema import DB_FILENAME, DB_VARIABLE
from playground.ledger.writer import shared_ledger
from ui.common import pages
from ui.usage import keys as usage_keys

APP = Path(__file__).resolve().parents[2] / "app.py"


def _today(hour: int, minute: int) -> datetime:
    """A moment of today (UTC): "Today" keeps it whenever the test runs."""
    return datetime.combine(datetime.now(UTC).date(), time(hour, minute),
                            tzinfo=UTC)


def _row(when, page, connection, model, prompt, completion, latency, ttft=None,
         status="ok", cost=None, estimated=False, endpoint="chat"):
    return UsageRecord(
        page=page, connection=connection, endpoint=endpoint, model=model, status=status,
        params={"temperature": 0.5}, prompt_tokens=prompt, completion_tokens=completion,
        tokens_estimated=estimated, latency=latency, time_to_first_token=ttft, cost=cost,
        error_kind="RateLimited" if status == "error" else None,
        error_message="Too many requests" if status == "error" else None, time=when,
        request={"model": model, "messages": [{"role": "user", "content": "Hello"}]},
        response={"choices": [{"message": {"content": "Hi there"}}]} if status == "ok" else None)


# Figures below are worked out by hand from these three rows.
ROWS = [
    _row(_today(0, 1), "Chat", "Local models", "gpt-4o-mini", 100, 50, 1.0, 0.2, cost=0.01),
    _row(_today(0, 2), "Completions", "OpenAI", "davinci-002", 10, 30, 3.0, cost=0.5,
         endpoint="completions"),
    _row(_today(0, 0) - timedelta(days=10), "Chat", "vLLM", "qwen", 40, 8, 4.0,
         status="error", estimated=True),
]


@pytest.fixture
def seeded(data_dir):
    ledger = shared_ledger(data_dir / DB_FILENAME)
    ledger.insert_many(ROWS)
    return ledger


def _usage(app):
    app.switch_page(pages.USAGE).run()
    assert not app.exception, app.exception
    return app


def _metrics(app) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.main.metric}


def _charts(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.main.get("plotly_chart")]


def _trace(charts, name: str) -> list:
    return [trace for chart in charts for trace in chart["data"] if trace.get("name") == name]


def _values(data) -> list:
    """A figure's array as sent: a list, or plotly's base64 typed array."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_an_empty_ledger_is_a_friendly_empty_state(app):
    _usage(app)
    (notice,) = app.info
    assert "No requests recorded yet" in notice.value
    assert not app.main.metric and not app.main.get("plotly_chart") and not app.error


def test_totals_and_charts_of_everything(app, seeded):
    _usage(app)
    assert _metrics(app) == {"Requests": "3", "Prompt tokens": "150",
                             "Completion tokens": "88", "Estimated cost": "$0.51",
                             "Mean latency": "2.00 s", "Mean tokens/s": "30.0/s"}
    captions = " ".join(caption.value for caption in app.main.caption)
    assert "Estimated tokens: 1 request had no token counts" in captions
    assert "Not in the cost: 1 request to models without a price" in captions
    charts = _charts(app)
    assert len(charts) == 7  # tokens, by model, by page, latency, first token, tokens/s, cost
    prompt_over_time = _trace(charts[:1], "prompt")[0]
    assert sum(_values(prompt_over_time["y"])) == 150
    by_model = _trace(charts[1:2], "completion")[0]
    assert dict(zip(by_model["y"], _values(by_model["x"]))) == {
        "gpt-4o-mini": 50, "davinci-002": 30, "qwen": 8}
    by_page = _trace(charts[2:3], "prompt")[0]
    assert dict(zip(by_page["y"], _values(by_page["x"]))) == {"Chat": 140, "Completions": 10}
    (latency,) = charts[3]["data"]  # the failure's latency is no model's
    assert dict(zip(latency["y"], _values(latency["median"]))) == {"gpt-4o-mini": 1.0,
                                                                   "davinci-002": 3.0}
    (first_token,) = charts[4]["data"]
    assert first_token["y"] == ["gpt-4o-mini"]  # davinci-002 did not stream
    (speed,) = charts[5]["data"]
    assert dict(zip(speed["y"], _values(speed["mean"]))) == {"gpt-4o-mini": 50.0,
                                                             "davinci-002": 10.0}
    assert _values(charts[6]["data"][1]["y"])[-1] == pytest.approx(0.51)  # running cost


def test_filters_narrow_every_figure(app, seeded):
    _usage(app)
    app.multiselect(key=usage_keys.USAGE_MODELS).select("gpt-4o-mini").select("qwen").run()
    assert _metrics(app)["Requests"] == "2"
    assert _metrics(app)["Prompt tokens"] == "140"
    app.multiselect(key=usage_keys.USAGE_CONNECTIONS).select("vLLM").run()
    assert _metrics(app)["Requests"] == "1"
    assert len(_charts(app)) == 4  # no latency charts: the one request failed
    assert "No successful completions or chats" in app.info[0].value
    app.multiselect(key=usage_keys.USAGE_CONNECTIONS).unselect("vLLM").run()
    app.multiselect(key=usage_keys.USAGE_PAGES).select("Completions").run()
    assert "No requests match" in app.info[0].value
    assert not app.main.metric and not app.exception


def test_the_period_filter(app, seeded):
    _usage(app)
    app.selectbox(key=usage_keys.USAGE_PERIOD).select("Today").run()
    assert _metrics(app)["Requests"] == "2"
    app.selectbox(key=usage_keys.USAGE_PERIOD).select("Last 30 days").run()
    assert _metrics(app)["Requests"] == "3"
    app.selectbox(key=usage_keys.USAGE_PERIOD).select("Custom dates").run()
    dates = app.date_input(key=usage_keys.USAGE_DATES)
    first = ROWS[2].time.date()
    assert dates.value == (first, ROWS[0].time.date())
    dates.set_value((first, first)).run()
    assert _metrics(app)["Requests"] == "1"
    dates.set_value((first,)).run()  # half-picked range: that one day
    assert _metrics(app)["Requests"] == "1"


def test_a_grouping_too_fine_for_the_period_is_made_coarser(app, seeded):
    _usage(app)
    app.selectbox(key=usage_keys.USAGE_BUCKET).select("minute").run()
    captions = " ".join(caption.value for caption in app.main.caption)
    assert "Grouped by hour: by minute this period would draw too many bars" in captions
    app.selectbox(key=usage_keys.USAGE_PERIOD).select("Today").run()  # 1,440 minutes: fine
    assert "Grouped by" not in " ".join(caption.value for caption in app.main.caption)
    assert _charts(app)[0]["layout"]["xaxis"]["title"]["text"] == "minute (UTC)"


def test_a_filter_value_gone_from_the_ledger_is_dropped(app, seeded):
    app.session_state[usage_keys.USAGE_MODELS] = ["no-longer-there", "qwen"]
    _usage(app)
    assert app.multiselect(key=usage_keys.USAGE_MODELS).value == ["qwen"]
    assert _metrics(app)["Requests"] == "1"


def test_odd_values_in_the_session_do_not_break_the_page(app, seeded):
    app.session_state[usage_keys.USAGE_PERIOD] = "Yesterday"
    app.session_state[usage_keys.USAGE_BUCKET] = "fortnight"
    app.session_state[usage_keys.USAGE_PAGES] = "Chat"
    app.session_state[usage_keys.USAGE_MODELS] = 42
    _usage(app)
    assert app.selectbox(key=usage_keys.USAGE_PERIOD).value == "All time"
    assert app.selectbox(key=usage_keys.USAGE_BUCKET).value == "Automatic"
    assert _metrics(app)["Requests"] == "2"  # the string kept as the one page it names
    app.session_state[usage_keys.USAGE_DATES] = "last week"
    app.selectbox(key=usage_keys.USAGE_PERIOD).select("Custom dates").run()
    assert not app.exception, app.exception
    assert app.date_input(key=usage_keys.USAGE_DATES).value == (ROWS[2].time.date(),
                                                           ROWS[0].time.date())


def test_selecting_a_request_shows_it_in_full(app, seeded):
    _usage(app)
    (table,) = app.main.dataframe[-1:]
    assert table.value["id"].tolist() == [2, 1, 3]  # newest first
    app.session_state[table.key] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    app.run()
    assert not app.exception, app.exception
    assert any(header.value == "Request #3" for header in app.subheader)
    assert "RateLimited: Too many requests" in app.main.error[0].value.replace("\\", "")
    request_body = json.loads(app.json[0].proto.body)
    assert request_body["messages"][0]["content"] == "Hello"
    assert "No response was received." in [caption.value for caption in app.caption]
    assert any(button.label.startswith("Download 3 requests")
               for button in app.get("download_button"))


def test_the_database_is_shown_and_cannot_be_chosen_from_the_browser(app, seeded, data_dir):
    _usage(app)
    assert not app.sidebar.text_input  # the local connection has no fields; no path field
    path = str(data_dir / DB_FILENAME)
    assert f"Usage history: {path}" in _sidebar_captions(app)
    assert path in " ".join(caption.value.replace("\\", "") for caption in app.main.caption)
    assert _metrics(app)["Requests"] == "3"


def test_no_session_value_moves_the_database(app, seeded, data_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "usage.sqlite3"
    for key in ("ledger_path", "sidebar.ledger_path"):  # where earlier versions kept a choice
        app.session_state[key] = str(elsewhere)
    _usage(app)
    assert _metrics(app)["Requests"] == "3"
    assert f"Usage history: {data_dir / DB_FILENAME}" in _sidebar_captions(app)
    assert not elsewhere.parent.exists()


def test_the_environment_chooses_the_database(app, tmp_path, monkeypatch):
    chosen = tmp_path / "elsewhere" / "usage.sqlite3"
    monkeypatch.setenv(DB_VARIABLE, str(chosen))
    next(b for b in app.sidebar.button if b.label == "Test connection").click().run()
    assert f"Usage history: {chosen}" in _sidebar_captions(app)
    assert shared_ledger(chosen).count() == 1


def test_a_damaged_history_is_set_aside_and_told_once(local_env, data_dir, clean_environment,
                                                      navigation_mode):
    damaged = data_dir / DB_FILENAME
    damaged.write_bytes(b"overwritten " * 4000)
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    (warning,) = app.sidebar.warning
    told = warning.value.replace("\\", "")
    [aside] = [p for p in data_dir.iterdir() if ".corrupt-" in p.name]
    assert aside.read_bytes() == b"overwritten " * 4000
    assert f"set aside, not deleted, as {aside}" in told
    assert "saved conversations could not be read" in told
    app.run()
    assert not app.sidebar.warning  # once
    _usage(app)
    assert "No requests recorded yet" in app.info[0].value
    assert aside.name in " ".join(caption.value.replace("\\", "") for caption in app.main.caption)


def test_requests_show_the_host_they_went_to(app, local_env):
    next(b for b in app.sidebar.button if b.label == "Test connection").click().run()
    _usage(app)
    host = local_env.removesuffix("/v1")
    (table,) = app.main.dataframe[-1:]
    assert table.value["host"].tolist() == [host]
    app.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    assert not app.exception, app.exception
    assert host in " ".join(caption.value.replace("\\", "") for caption in app.main.caption)


def test_test_connection_is_recorded_and_counted_for_the_session(app, data_dir):
    assert "This session: no requests yet" in _sidebar_captions(app)
    next(b for b in app.sidebar.button if b.label == "Test connection").click().run()
    assert "This session: 1 request · 0 tokens · cost unknown" in _sidebar_captions(app)
    _usage(app)
    assert _metrics(app)["Requests"] == "1"
    assert app.multiselect(key=usage_keys.USAGE_PAGES).options == ["Test connection"]
    assert "This session" not in _sidebar_captions(app)  # the Usage page has the full totals


def _sidebar_captions(app) -> str:
    return " ".join(caption.value.replace("\\", "") for caption in app.sidebar.caption)


def test_the_table_pages_through_many_requests(app, data_dir):
    many = [_row(_today(0, 0) - timedelta(minutes=n), "Chat", "Local models", "m", 1, 1, 0.1)
            for n in range(150)]
    shared_ledger(data_dir / DB_FILENAME).insert_many(many)
    _usage(app)
    assert app.main.dataframe[-1].value["id"].tolist()[:2] == [1, 2]  # newest first
    app.number_input(key=usage_keys.USAGE_TABLE_PAGE).set_value(2).run()
    second = app.main.dataframe[-1].value["id"].tolist()
    assert (len(second), second[0], second[-1]) == (50, 101, 150)
    assert "Requests 101–150 of 150" in " ".join(caption.value for caption in app.main.caption)


def test_an_unusable_database_is_a_message_not_a_crash(app, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(DB_VARIABLE, str(tmp_path / "a-file" / "usage.sqlite3"))
    _usage(app)
    assert "could not be opened" in app.main.error[0].value.replace("\\", "")
    app.switch_page(pages.COMPLETIONS).run()
    assert not app.exception
    assert "Usage not recorded" in _sidebar_captions(app)


def test_the_running_total_in_words():
    from playground.ledger.queries import RunningTotal
    from ui.common.usage_total import describe

    assert describe(RunningTotal()) == "This session: no requests yet"
    assert describe(RunningTotal(requests=2, prompt_tokens=1000, completion_tokens=234,
                                 cost=0.0012, unpriced=1, estimated=1)) == \
        "This session: 2 requests · ≈1,234 tokens · $0.0012, plus 1 request with no price"
    assert describe(RunningTotal(requests=5, prompt_tokens=10, cost=0.0, unpriced=3)) == \
        "This session: 5 requests · 10 tokens · $0, plus 3 requests with no price"


@pytest.mark.parametrize("dollars, shown", [
    (0, "$0"), (1234.5, "$1,234.50"), (0.51, "$0.51"), (0.000123, "$0.000123"),
    (0.0000012, "$1.20e-06"), (None, "–"), (float("nan"), "–")])
def test_money(dollars, shown):
    from ui.common.usage_format import money

    assert money(dollars) == shown


def test_the_table_leaves_the_error_of_a_request_that_did_not_fail_empty(app, seeded):
    _usage(app)
    table = app.main.dataframe[-1]
    assert table.value["error_kind"].tolist() == ["", "", "RateLimited"]
    cost = json.loads(table.proto.columns)["cost"]
    assert cost["type_config"]["format"] == "%.3g"  # 0.01, not 0.010000
