"""The usage ledger as this session sees it: which file, and its figures, cached.

Loads are cached with ``st.cache_data`` (figures with ``st.cache_resource``) keyed on the
file and its newest row id (the ``stamp``; the app only ever adds rows). A new request
makes a new key, so the page never shows stale figures, while a rerun that changes nothing
(a row picked in the table, another page of it) costs one index lookup instead of the
whole load, about half a second at 100,000 rows. The cache is shared by every session on the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from playground import history, usage
from playground.errors import PlaygroundError
from playground.usage import Filters, UsageOverview
from ui import state, usage_charts

TABLE_ROWS = 100  # requests per page of the table


def ledger() -> history.Ledger:
    """The ledger chosen in the sidebar, else ``PLAYGROUND_DB``, else the data folder's."""
    return history.ledger(st.session_state.get(state.LEDGER_PATH) or None)


@dataclass(frozen=True)
class Snapshot:
    """One ledger file as it was when the page started drawing, with its filter choices."""

    path: str
    stamp: int  # the newest row's id: 0 when the ledger is empty
    choices: dict[str, list[str]]  # the values each filter offers (models, connections, pages)
    span: tuple[pd.Timestamp | None, pd.Timestamp | None]  # the first and last request

    @property
    def empty(self) -> bool:
        return self.stamp == 0

    def overview(self, filters: Filters, bucket: usage.Bucket | None) -> UsageOverview:
        return _overview(self.path, self.stamp, filters, bucket)

    def charts(self, filters: Filters, bucket: usage.Bucket | None) -> Charts:
        return _charts(self.path, self.stamp, filters, bucket)

    def requests(self, filters: Filters, page: int) -> pd.DataFrame:
        """One page (from 0) of the table, newest first."""
        return _requests(self.path, self.stamp, filters, page)

    def detail(self, request_id: int) -> dict[str, Any] | None:
        return history.ledger(self.path).request_detail(request_id)

    def csv(self, filters: Filters, with_bodies: bool) -> Callable[[], bytes]:
        """The export, made only when the download button is clicked (in its own thread)."""
        path = self.path
        return lambda: history.ledger(path).to_csv(filters, with_bodies=with_bodies)


def snapshot() -> Snapshot:
    """The session's ledger now. Raises ``PlaygroundError`` when it cannot be read."""
    opened = ledger()
    path, stamp = str(opened.path), opened.last_id()
    return Snapshot(path, stamp, _choices(path, stamp), _span(path, stamp))


# The cached loads. ``stamp`` is only part of the cache key.

@st.cache_data(max_entries=16, show_spinner=False)
def _choices(path: str, stamp: int) -> dict[str, list[str]]:
    opened = history.ledger(path)
    return {column: opened.distinct_values(column) for column in usage.FILTER_COLUMNS}


@st.cache_data(max_entries=16, show_spinner=False)
def _span(path: str, stamp: int) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    return history.ledger(path).span()


@st.cache_data(max_entries=32, show_spinner="Adding up the usage…")
def _overview(path: str, stamp: int, filters: Filters,
              bucket: usage.Bucket | None) -> UsageOverview:
    return history.ledger(path).overview(filters, bucket, limit=TABLE_ROWS)


@dataclass(frozen=True)
class Charts:
    """The page's figures for one view; None where the selection has nothing to draw."""

    tokens_over_time: go.Figure
    tokens_by_model: go.Figure
    tokens_by_page: go.Figure
    cost_over_time: go.Figure
    latency: go.Figure | None
    time_to_first_token: go.Figure | None
    tokens_per_second: go.Figure | None


# Figures are kept as objects (cache_resource: never copied, never changed once built):
# building the seven of them was most of a rerun's time.
@st.cache_resource(max_entries=32, show_spinner=False)
def _charts(path: str, stamp: int, filters: Filters, bucket: usage.Bucket | None) -> Charts:
    view = _overview(path, stamp, filters, bucket)
    speed = view.latency_by_model
    streamed = not speed.empty and speed["time_to_first_token_count"].sum() > 0
    return Charts(
        tokens_over_time=usage_charts.tokens_over_time(view.tokens_over_time, view.bucket),
        tokens_by_model=usage_charts.tokens_by(view.by_model, "model"),
        tokens_by_page=usage_charts.tokens_by(view.by_page, "page"),
        cost_over_time=usage_charts.cost_over_time(view.cost_over_time, view.bucket),
        latency=None if speed.empty else usage_charts.boxes(speed, "latency", "s"),
        time_to_first_token=(usage_charts.boxes(speed, "time_to_first_token", "s")
                             if streamed else None),
        tokens_per_second=(None if speed.empty
                           else usage_charts.boxes(speed, "tokens_per_second", "tokens/s")),
    )


@st.cache_data(max_entries=32, show_spinner=False)
def _requests(path: str, stamp: int, filters: Filters, page: int) -> pd.DataFrame:
    return history.ledger(path).requests(filters, limit=TABLE_ROWS, offset=page * TABLE_ROWS)


# The sidebar's choice of file.

def choose_path() -> None:
    """``on_change`` of the sidebar's database field: use the typed file if it opens (it is
    created if need be), else keep the previous one, put it back in the field and say why."""
    typed = (st.session_state.get(state.LEDGER_INPUT) or "").strip()
    previous = st.session_state.get(state.LEDGER_PATH)
    if not typed:
        st.session_state[state.LEDGER_PATH] = None
        return
    try:
        chosen = history.ledger(typed)
    except PlaygroundError as exc:
        st.session_state[state.LEDGER_NOTICE] = f"{exc.message} {exc.hint}".strip()
        st.session_state[state.LEDGER_INPUT] = previous or ""
        return
    st.session_state[state.LEDGER_PATH] = str(chosen.path)
    st.session_state[state.LEDGER_INPUT] = str(chosen.path)


def default_path_text() -> str:
    """Where the ledger is when the field is empty (shown as its placeholder)."""
    try:
        return str(history.default_path())
    except (OSError, RuntimeError):
        return str(Path("~") / history.DB_FILENAME)
