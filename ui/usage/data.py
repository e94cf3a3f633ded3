"""The usage ledger as this session sees it: its file, its notices, and its figures, cached.

The file is the machine's choice (``PLAYGROUND_DB``, else the data folder's), never the
browser's. Loads are cached with ``st.cache_data`` (figures with ``st.cache_resource``) keyed
on the file, how many times a damaged one was replaced (the ``generation``) and its newest
row id (the ``stamp``; the app only ever adds rows). A new request makes a new key, so the
page never shows stale figures, while a rerun that changes nothing (a row picked in the
table, another page of it) costs one index lookup instead of the whole load, about half a
second at 100,000 rows. The cache is shared by every session on the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from playground.ledger import queries
from playground.ledger.damage import set_aside_files
from playground.ledger.queries import Filters, UsageOverview
from playground.ledger.schema import DB_VARIABLE
from playground.ledger.writer import shared_ledger
from ui.common.recording import default_ledger
from ui.usage import figures

TABLE_ROWS = 100  # requests per page of the table


def location(path: str) -> str:
    """Where the ledger is, and the damaged files set aside beside it, in words."""
    text = (f"Recorded in {path} (set where the app runs: {DB_VARIABLE}, else the "
            "data folder).")
    aside = set_aside_files(Path(path))
    if aside:
        text += (" Damaged files set aside beside it, kept for you: "
                 f"{', '.join(p.name for p in aside)}.")
    return text


@dataclass(frozen=True)
class Snapshot:
    """One ledger file as it was when the page started drawing, with its filter choices."""

    path: str
    generation: int  # how many damaged files the ledger has replaced
    stamp: int  # the newest row's id: 0 when the ledger is empty
    choices: dict[str, list[str]]  # the values each filter offers (models, connections, pages)
    span: tuple[pd.Timestamp | None, pd.Timestamp | None]  # the first and last request

    @property
    def empty(self) -> bool:
        return self.stamp == 0

    def overview(self, filters: Filters, bucket: queries.Bucket | None) -> UsageOverview:
        return _overview(self.path, self.generation, self.stamp, filters, bucket)

    def charts(self, filters: Filters, bucket: queries.Bucket | None) -> Charts:
        return _charts(self.path, self.generation, self.stamp, filters, bucket)

    def requests(self, filters: Filters, page: int) -> pd.DataFrame:
        """One page (from 0) of the table, newest first."""
        return _requests(self.path, self.generation, self.stamp, filters, page)

    def detail(self, request_id: int) -> dict[str, Any] | None:
        return shared_ledger(self.path).request_detail(request_id)

    def csv(self, filters: Filters, with_bodies: bool) -> Callable[[], bytes]:
        """The export, made only when the download button is clicked (in its own thread)."""
        path = self.path
        return lambda: shared_ledger(path).to_csv(filters, with_bodies=with_bodies)


def snapshot() -> Snapshot:
    """The session's ledger now. Raises ``PlaygroundError`` when it cannot be read."""
    opened = default_ledger()
    path, generation, stamp = str(opened.path), len(opened.notices), opened.last_id()
    return Snapshot(path, generation, stamp, _choices(path, generation, stamp),
                    _span(path, generation, stamp))


# The cached loads. ``generation`` and ``stamp`` are only parts of the cache key.

@st.cache_data(max_entries=16, show_spinner=False)
def _choices(path: str, generation: int, stamp: int) -> dict[str, list[str]]:
    opened = shared_ledger(path)
    return {column: opened.distinct_values(column) for column in queries.FILTER_COLUMNS}


@st.cache_data(max_entries=16, show_spinner=False)
def _span(path: str, generation: int,
          stamp: int) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    return shared_ledger(path).span()


@st.cache_data(max_entries=32, show_spinner="Adding up the usage…")
def _overview(path: str, generation: int, stamp: int, filters: Filters,
              bucket: queries.Bucket | None) -> UsageOverview:
    return shared_ledger(path).overview(filters, bucket, limit=TABLE_ROWS)


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


class FrozenFigure(go.Figure):
    """A figure that is never changed once built, so its dict is made once.

    ``st.plotly_chart`` turns the figure it is given into a dict on every rerun (a deep copy,
    every array encoded again); for this page's seven cached figures that was a fifth of
    a rerun that changed nothing.
    """

    _as_dict: dict | None = None

    def to_dict(self) -> dict:
        if self._as_dict is None:
            self._as_dict = super().to_dict()
        return self._as_dict


def _frozen(figure: go.Figure | None) -> FrozenFigure | None:
    return None if figure is None else FrozenFigure(figure)


# Figures are kept as objects (cache_resource: never copied, never changed once built):
# building the seven of them was most of a rerun's time.
@st.cache_resource(max_entries=32, show_spinner=False)
def _charts(path: str, generation: int, stamp: int, filters: Filters,
            bucket: queries.Bucket | None) -> Charts:
    view = _overview(path, generation, stamp, filters, bucket)
    speed = view.latency_by_model
    streamed = not speed.empty and speed["time_to_first_token_count"].sum() > 0
    return Charts(
        tokens_over_time=_frozen(figures.tokens_over_time(view.tokens_over_time, view.bucket)),
        tokens_by_model=_frozen(figures.tokens_by(view.by_model, "model")),
        tokens_by_page=_frozen(figures.tokens_by(view.by_page, "page")),
        cost_over_time=_frozen(figures.cost_over_time(view.cost_over_time, view.bucket)),
        latency=None if speed.empty else _frozen(figures.boxes(speed, "latency", "s")),
        time_to_first_token=(_frozen(figures.boxes(speed, "time_to_first_token", "s"))
                             if streamed else None),
        tokens_per_second=(None if speed.empty else _frozen(
            figures.boxes(speed, "tokens_per_second", "tokens/s"))),
    )


@st.cache_data(max_entries=32, show_spinner=False)
def _requests(path: str, generation: int, stamp: int, filters: Filters,
              page: int) -> pd.DataFrame:
    return shared_ledger(path).requests(filters, limit=TABLE_ROWS, offset=page * TABLE_ROWS)

