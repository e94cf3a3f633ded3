"""The Usage page's filters: a period, models, connections, pages, and the time grouping.

Days are UTC days, as the ledger stores time: a chart's day bucket and a filter's day are
the same day. Every choice survives a page switch; a value that is no longer in the ledger
(another database chosen in the sidebar) is dropped rather than refused by Streamlit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from playground.ledger import queries
from playground.ledger.queries import Filters
from ui.common import state
from ui.usage import keys

ALL_TIME, CUSTOM = "All time", "Custom dates"
PERIODS = {ALL_TIME: None, "Today": 0, "Last 7 days": 6, "Last 30 days": 29, CUSTOM: None}
AUTOMATIC = "Automatic"
BUCKETS = (AUTOMATIC, *queries.BUCKETS)
PICKERS = ((keys.USAGE_MODELS, "Models", "model"),
           (keys.USAGE_CONNECTIONS, "Connections", "connection"),
           (keys.USAGE_PAGES, "Pages", "page"))


def render(choices: dict[str, list[str]],
           span: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> tuple[Filters, str | None]:
    """Draw the filters; returns them and the chosen bucket (None: pick one to fit)."""
    for key, options in ((keys.USAGE_PERIOD, PERIODS), (keys.USAGE_BUCKET, BUCKETS)):
        if st.session_state.get(key) not in options:
            st.session_state.pop(key, None)  # a value from an older version of the page
    top = st.columns([1, 1, 1])
    period = top[0].selectbox("Period (UTC days)", list(PERIODS), key=keys.USAGE_PERIOD,
                              persist_state=state.PERSIST)
    start, end = _period(period, span, top[1])
    bucket = top[2].selectbox("Group time by", BUCKETS, key=keys.USAGE_BUCKET,
                              persist_state=state.PERSIST, format_func=str.capitalize,
                              help="Automatic picks a grouping that fits the period. One too "
                                   "fine for it (minutes over months) is made coarser.")
    picked = {}
    for cell, (key, label, column) in zip(st.columns(len(PICKERS)), PICKERS):
        options = choices.get(column, [])
        current = st.session_state.get(key) or []
        current = current if isinstance(current, (list, tuple)) else [current]
        kept = [value for value in current if value in options]
        st.session_state[key] = kept
        picked[column] = cell.multiselect(label, options, key=key, persist_state=state.PERSIST,
                                          placeholder="All", format_func=_named)
    filters = Filters(start=start, end=end, models=picked["model"],
                      connections=picked["connection"], pages=picked["page"])
    return filters, None if bucket == AUTOMATIC else bucket


def today() -> date:
    return datetime.now(UTC).date()


def _period(period: str, span, cell) -> tuple[date | None, date | None]:
    if period != CUSTOM:
        back = PERIODS.get(period)
        return (None, None) if back is None else (today() - timedelta(days=back), None)
    first, last = span
    default = (first.date() if first is not None else today(),
               last.date() if last is not None else today())
    if keys.USAGE_DATES in st.session_state and dates(st.session_state[keys.USAGE_DATES]) \
            == (None, None):
        del st.session_state[keys.USAGE_DATES]  # not dates: start again from the default
    chosen = cell.date_input("Dates", value=default, key=keys.USAGE_DATES,
                             persist_state=state.PERSIST,
                             format="YYYY-MM-DD",
                             help="From the first day to the last, both included.")
    return dates(chosen)


def dates(chosen) -> tuple[date | None, date | None]:
    """A date input's value as (start, end): a range being picked has one day so far,
    a cleared one none; either order is accepted."""
    days = [day for day in (chosen if isinstance(chosen, (tuple, list)) else [chosen])
            if isinstance(day, date)]
    if not days:
        return None, None
    return min(days), max(days)


def _named(value: str) -> str:
    return value or "(none)"  # a connection test has no model
