"""A Compare run's plotly charts, drawn from ``GridResult.cells_frame()`` (one row per cell).

A metric against one varying setting, one line per combination of the other settings; a
heatmap of the metric over that setting and another (averaged over any third); latency and
tokens per cell.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from playground.sweep import GridResult, format_value
from ui.text import plain

METRICS = {
    "distinct_2": "Distinct-2", "distinct_1": "Distinct-1", "repetition": "Repetition rate",
    "chars": "Characters", "words": "Words", "tokens": "Tokens",
    "mean_logprob": "Mean log-probability", "perplexity": "Perplexity",
    "identical_share": "Identical samples (share of pairs)",
    "mean_similarity": "Sample similarity", "cell_latency": "Latency (s)",
    "completion_tokens": "Completion tokens",
}
NEEDS = {"mean_logprob": "log-probabilities: switch logprobs on in the fixed settings",
         "perplexity": "log-probabilities: switch logprobs on in the fixed settings",
         "identical_share": "two samples per cell or more",
         "mean_similarity": "two samples per cell or more"}


def show(result: GridResult) -> None:
    frame = result.cells_frame()
    varying = [axis.name for axis in result.grid.axes if len(axis) > 1]
    if varying:
        _metric_charts(frame, varying)
    else:
        st.caption("Only one cell: there is no setting to chart a metric against.")
    left, right = st.columns(2)
    left.plotly_chart(px.bar(frame, x="cell", y="cell_latency", hover_name="label",
                             labels={"cell_latency": "Latency (s)", "cell": "Cell"},
                             title="Latency per cell"))
    tokens = px.bar(frame.rename(columns={"prompt_tokens": "prompt",
                                          "completion_tokens": "completion"}),
                    x="cell", y=["prompt", "completion"], hover_name="label",
                    title="Tokens per cell", labels={"value": "Tokens", "cell": "Cell",
                                                     "variable": ""})
    right.plotly_chart(tokens)


def _metric_charts(frame: pd.DataFrame, varying: list[str]) -> None:
    pickers = st.columns(2)
    metric = pickers[0].selectbox("Metric", list(METRICS), format_func=METRICS.get,
                                  key="compare.chart_metric")
    against = pickers[1].selectbox("Against", varying, key="compare.chart_against")
    measured = frame.dropna(subset=[metric])
    if measured.empty:
        st.info(plain(f"No cell has a value for {METRICS[metric]}; it needs "
                      f"{NEEDS.get(metric, 'cells that ran')}."))
        return
    others = [name for name in varying if name != against]
    series = measured[others].apply(
        lambda row: ", ".join(f"{name}={format_value(row[name])}" for name in others), axis=1) \
        if others else "all cells"
    figure = px.line(measured.assign(setting=series).sort_values(against), x=against, y=metric,
                     color="setting" if others else None, markers=True,
                     labels={metric: METRICS[metric]},
                     title=f"{METRICS[metric]} against {against}")
    st.plotly_chart(figure)
    if others:
        _heatmap(measured, metric, against, others)


def _heatmap(measured: pd.DataFrame, metric: str, across: str, others: list[str]) -> None:
    down = others[0] if len(others) == 1 else st.selectbox(
        "Heatmap rows", others, key="compare.heatmap_rows",
        help="The heatmap shows two settings; the cells of any other setting are averaged.")
    averaged = [name for name in others if name != down]
    grid = measured.pivot_table(index=down, columns=across, values=metric, aggfunc="mean")
    # Settings as categories: a numeric axis would space 0, 1.2 as a continuous scale.
    grid.index = [format_value(v) for v in grid.index]
    grid.columns = [format_value(v) for v in grid.columns]
    title = f"{METRICS[metric]}: {across} × {down}"
    if averaged:
        title += f" (mean over {', '.join(averaged)})"
    st.plotly_chart(px.imshow(grid, text_auto=".2f", aspect="auto",
                              labels={"x": across, "y": down, "color": METRICS[metric]},
                              title=title))
