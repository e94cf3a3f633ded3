"""Usage: every recorded request, totalled and charted, filtered, listed and exported."""

import streamlit as st

from playground.errors import PlaygroundError
from ui.common import pages, sidebar
from ui.common.errors import show_error
from ui.common.text import plain
from ui.common.usage_format import count, money, rate, requests, seconds
from ui.usage import data, filter_bar, request_table

pages.within_app()  # first: a page opened by a link on a fresh server
sidebar.render(running_total=False)
st.title("Usage")

try:
    snapshot = data.snapshot()
except PlaygroundError as exc:
    show_error(exc)
    st.stop()
st.caption(plain(data.location(snapshot.path)))

if snapshot.empty:
    st.info("No requests recorded yet. Every request made from the playground lands here: "
            "run a prompt, or test the connection in the sidebar, and come back.",
            icon=":material/monitoring:")
    st.page_link(pages.COMPLETIONS, label="Run a completion", icon=":material/edit_note:")
    st.page_link(pages.CHAT, label="Chat with a model", icon=":material/forum:")
    st.stop()

filters, bucket = filter_bar.render(snapshot.choices, snapshot.span)
try:
    view = snapshot.overview(filters, bucket)
except PlaygroundError as exc:
    show_error(exc)
    st.stop()
charts = snapshot.charts(filters, bucket)
totals = view.totals.iloc[0]
if view.request_count == 0:
    st.info("No requests match these filters. Widen the period or clear a filter.",
            icon=":material/filter_alt_off:")
    st.stop()

first_row, second_row = st.columns(3), st.columns(3)
first_row[0].metric("Requests", count(totals["requests"]), help=(
    f"{count(totals['errors'])} failed, {count(totals['incomplete'])} cut short."))
first_row[1].metric("Prompt tokens", count(totals["prompt_tokens"]))
first_row[2].metric("Completion tokens", count(totals["completion_tokens"]),
                    help=request_table.REASONING_HELP)
second_row[0].metric("Estimated cost", money(totals["cost"]),
                     help="From the price table on the Models page, per million tokens. "
                          "Reasoning tokens count as output, once.")
second_row[1].metric("Mean latency", seconds(totals["mean_latency"]),
                     help="Over successful completions and chats.")
second_row[2].metric("Mean tokens/s", rate(totals["mean_tokens_per_second"]),
                     help="Completion tokens over the whole latency, successful requests.")
notes = []
if totals["reasoning_tokens"]:
    notes.append(request_table.reasoning_note(totals["reasoning_tokens"],
                                            totals["completion_tokens"]))
if totals["estimated"]:
    notes.append(f"Estimated tokens: {requests(totals['estimated'])} had no token counts from "
                 "the server (about 4 characters a token).")
if totals["unpriced"]:
    notes.append(f"Not in the cost: {requests(totals['unpriced'])} to models without a price "
                 "(prices are on the Models page).")
if bucket and view.bucket != bucket:
    notes.append(f"Grouped by {view.bucket}: by {bucket} this period would draw too many bars.")
for note in notes:
    st.caption(note)

tokens, breakdown, speed, cost, table = st.tabs(
    ["Tokens", "By model and page", "Latency", "Cost", "Requests"])
with tokens:
    st.plotly_chart(charts.tokens_over_time)
with breakdown:
    left, right = st.columns(2)
    left.markdown("**Tokens by model**")
    left.plotly_chart(charts.tokens_by_model)
    right.markdown("**Tokens by page**")
    right.plotly_chart(charts.tokens_by_page)
    with st.expander("Per model"):
        st.dataframe(request_table.by_model(view.by_model), hide_index=True)
with speed:
    if charts.latency is None:
        st.info("No successful completions or chats in this selection: latency is measured "
                "on those.", icon=":material/timer_off:")
    else:
        st.caption("Per model: the box spans the middle half of the requests around the "
                   "median, the whiskers reach the 1st and 99th percentiles, the dashed line "
                   "is the mean.")
        left, right = st.columns(2)
        left.markdown("**Latency**")
        left.plotly_chart(charts.latency)
        right.markdown("**Time to first token**")
        if charts.time_to_first_token is None:
            right.caption("Measured on streamed requests only; none in this selection.")
        else:
            right.plotly_chart(charts.time_to_first_token)
        st.markdown("**Completion tokens per second** (over the whole latency)")
        st.plotly_chart(charts.tokens_per_second)
        with st.expander("Percentiles per model"):
            st.dataframe(request_table.percentiles(view.latency_by_model), hide_index=True)
with cost:
    st.plotly_chart(charts.cost_over_time)
with table:
    request_table.render(snapshot, filters, view.requests, view.request_count)
    request_table.export(snapshot, filters, view.request_count)
