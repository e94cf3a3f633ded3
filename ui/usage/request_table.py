"""The Usage page's table of requests, one request in full, and the CSV export."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from playground.errors import PlaygroundError
from playground.ledger.queries import Filters
from ui.common import state
from ui.common.errors import show_error
from ui.common.text import plain
from ui.common.usage_format import count, money, rate, seconds
from ui.usage import keys
from ui.usage.data import TABLE_ROWS, Snapshot

COLUMNS = {
    "id": st.column_config.NumberColumn("#", format="%d", width="small"),
    "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "page": "Page",
    "connection": "Connection",
    "host": st.column_config.TextColumn("Host", help="Where the request went: scheme, host "
                                        "and port of the connection's base URL."),
    "endpoint": "Endpoint",
    "model": "Model",
    "status": "Status",
    "error_kind": "Error",
    "prompt_tokens": st.column_config.NumberColumn("Prompt tokens", format="localized"),
    "completion_tokens": st.column_config.NumberColumn("Completion tokens", format="localized"),
    "reasoning_tokens": st.column_config.NumberColumn(
        "Reasoning tokens", format="localized", help="Of the completion tokens: a reasoning "
        "model's hidden thinking, billed as output and already in the completion tokens."),
    "tokens_estimated": st.column_config.CheckboxColumn(
        "Estimated", help="The server reported no token counts: about 4 characters a token."),
    "latency": st.column_config.NumberColumn("Latency (s)", format="%.3f"),
    "time_to_first_token": st.column_config.NumberColumn("First token (s)", format="%.3f"),
    "tokens_per_second": st.column_config.NumberColumn("Tokens/s", format="%.1f"),
    "cost": st.column_config.NumberColumn("Cost ($)", format="%.3g",
                                          help="Estimated from the price table; None: no price."),
    "params": st.column_config.TextColumn("Parameters sent"),
}


REASONING_HELP = ("Reasoning tokens (a reasoning model's hidden thinking) are inside the "
                  "completion tokens, as the API counts them; they are billed as output and "
                  "counted once, here and in the cost.")


def reasoning_note(reasoning: float, completion: float) -> str:
    """``Reasoning: 320 of the 400 completion tokens …``: what the totals hold."""
    return (f"Reasoning: {count(reasoning)} of the {count(completion)} completion tokens were "
            "a reasoning model's hidden thinking. They are billed as output and are already "
            "in the completion tokens and the cost, not added again.")


def by_model(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-model figures a reader compares, reasoning tokens beside the completion."""
    columns = {"model": "Model", "requests": "Requests", "prompt_tokens": "Prompt tokens",
               "completion_tokens": "Completion tokens",
               "reasoning_tokens": "of which reasoning", "cost": "Cost ($)",
               "errors": "Failed"}
    table = frame[list(columns)].rename(columns=columns)
    table["Model"] = [name or "(none)" for name in table["Model"]]
    return table


def percentiles(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-model percentiles a reader compares: requests, median, p90 and p99 of each."""
    columns = {"model": "Model", "latency_count": "Requests"}
    for metric, label in (("latency", "latency s"), ("time_to_first_token", "first token s"),
                          ("tokens_per_second", "tokens/s")):
        columns |= {f"{metric}_{p}": f"{p} {label}" for p in ("p50", "p90", "p99")}
    return frame[list(columns)].rename(columns=columns).round(3)


def render(snapshot: Snapshot, filters: Filters, first_rows: pd.DataFrame, total: int) -> None:
    """The matching requests, newest first, a page at a time; a selected row in full."""
    pages = max(1, math.ceil(total / TABLE_ROWS))
    page = 0
    if pages > 1:
        chosen = st.session_state.get(keys.USAGE_TABLE_PAGE, 1)
        st.session_state[keys.USAGE_TABLE_PAGE] = min(max(1, chosen), pages)  # fewer now
        page = st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages,
                               key=keys.USAGE_TABLE_PAGE, width=180) - 1
    try:
        rows = first_rows if page == 0 else snapshot.requests(filters, page)
    except PlaygroundError as exc:
        show_error(exc)
        return
    if rows.empty:
        return
    event = st.dataframe(readable(rows), key=table_key(rows), on_select="rerun",
                         selection_mode="single-row", hide_index=True,
                         column_config=COLUMNS, column_order=list(COLUMNS))
    shown = page * TABLE_ROWS
    st.caption(f"Requests {shown + 1:,}–{shown + len(rows):,} of {total:,}, newest first. "
               "Select a row to see the request and response in full.")
    picked = [row for row in event.selection.rows if 0 <= row < len(rows)]
    if picked:
        try:
            detail = snapshot.detail(int(rows["id"].iloc[picked[0]]))
        except PlaygroundError as exc:
            show_error(exc)
            return
        if detail is not None:
            show_detail(detail)


def readable(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as the table shows them: a request that did not fail has an empty Error
    cell, where the table would print a grey "None"."""
    return rows.fillna({"error_kind": ""}) if "error_kind" in rows else rows


def table_key(rows: pd.DataFrame) -> str:
    """The table's widget key names the requests it shows, so a selection never moves to
    another request when new rows arrive or the filters change."""
    return f"{keys.USAGE_TABLE}.{rows['id'].iloc[0]}-{rows['id'].iloc[-1]}-{len(rows)}"


def show_detail(detail: dict[str, Any]) -> None:
    """One request: what it was, what it cost, and the bodies sent and received."""
    with st.container(border=True):
        st.subheader(f"Request #{detail['id']}")
        when = detail["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        st.caption(plain(" · ".join(str(part) for part in (
            when, detail["page"], detail["connection"], detail.get("host"), detail["endpoint"],
            detail["model"] or "no model", detail["status"]) if part)))
        if detail.get("error_kind") or detail.get("error_message"):
            st.error(plain(f"{detail.get('error_kind') or 'Error'}: "
                           f"{detail.get('error_message') or ''}"), icon=":material/error:")
        estimated = "≈" if detail["tokens_estimated"] else ""
        cells = st.columns(6)
        cells[0].metric("Prompt tokens", estimated + count(detail["prompt_tokens"]))
        reasoning = detail.get("reasoning_tokens") or 0
        cells[1].metric("Completion tokens", estimated + count(detail["completion_tokens"]),
                        help=REASONING_HELP if reasoning else None,
                        delta=f"{count(reasoning)} reasoning" if reasoning else None,
                        delta_color="off")
        cells[2].metric("Latency", seconds(detail["latency"]))
        cells[3].metric("First token", seconds(detail["time_to_first_token"]))
        cells[4].metric("Tokens per second", rate(detail["tokens_per_second"]))
        cells[5].metric("Cost", money(detail["cost"]))
        if estimated:
            st.caption("The server reported no token counts: these are estimated.")
        sent, received = st.columns(2)
        with sent:
            st.markdown("**Request sent**")
            _body(detail.get("request"), "The request body was not recorded.")
        with received:
            st.markdown("**Response**")
            _body(detail.get("response"), "No response was received.")


def _body(value: Any, missing: str) -> None:
    if value is None:
        st.caption(missing)
    elif isinstance(value, (dict, list)):
        st.json(value, expanded=2)
    else:  # st.json would parse a string as JSON
        st.code(json.dumps(value, ensure_ascii=False), language="json", wrap_lines=True)


def export(snapshot: Snapshot, filters: Filters, total: int) -> None:
    """A download of every matching request; the CSV is made only when clicked."""
    with_bodies = st.checkbox("With request and response bodies", key=keys.USAGE_CSV_BODIES,
                              persist_state=state.PERSIST,
                              help="Adds the JSON sent and received: a much larger file.")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    st.download_button(f"Download {total:,} requests as CSV", snapshot.csv(filters, with_bodies),
                       file_name=f"usage-{stamp}.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:")
