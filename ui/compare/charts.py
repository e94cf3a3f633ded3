"""A Compare run's charts: a metric against one varying setting, a heatmap of the metric
over two settings (averaged over any third), when each cell ran, and its tokens.

The figures come from ``ui.compare.figures``; this module picks what to draw.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.compare import GridResult, format_value
from ui.common.text import plain
from ui.compare import figures

METRICS = {
    "distinct_2": "Distinct-2", "distinct_1": "Distinct-1", "repetition": "Repetition rate",
    "chars": "Characters", "words": "Words", "tokens": "Tokens",
    "mean_logprob": "Mean log-probability", "perplexity": "Perplexity",
    "identical_share": "Identical samples (share of pairs)",
    "mean_similarity": "Sample similarity", "cell_latency": "Request time (s)",
    "completion_tokens": "Completion tokens",
}
NEEDS = {"mean_logprob": "log-probabilities: switch logprobs on in the fixed settings",
         "perplexity": "log-probabilities: switch logprobs on in the fixed settings",
         "identical_share": "two samples per cell or more",
         "mean_similarity": "two samples per cell or more"}


def varying_axes(result: GridResult) -> list[str]:
    return [axis.name for axis in result.grid.axes if len(axis) > 1]


def show(result: GridResult) -> None:
    frame = figures.frame_of(result)
    varying = varying_axes(result)
    if varying:
        _metric_charts(result, frame, varying)
    else:
        st.caption("Only one cell: there is no setting to chart a metric against.")
    names = figures.cell_names(frame, varying)
    left, right = st.columns(2)
    left.plotly_chart(figures.timing_figure(frame, names))
    left.caption("Grey: waiting on this side for a free slot (the local models answer one "
                 "request per model at a time). Blue: the request; a server that takes "
                 "one request at a time queues the others, and that wait is part of it.")
    right.plotly_chart(figures.tokens_figure(frame, names))


def _metric_charts(result: GridResult, frame: pd.DataFrame, varying: list[str]) -> None:
    pickers = st.columns(2)
    metric = pickers[0].selectbox("Metric", list(METRICS), format_func=METRICS.get,
                                  key="compare.chart_metric")
    against = pickers[1].selectbox("Against", varying, key="compare.chart_against")
    measured = frame.dropna(subset=[metric])
    if measured.empty:
        st.info(plain(f"No cell has a value for {METRICS[metric]}; it needs "
                      f"{NEEDS.get(metric, 'cells that ran')}."))
        return
    order = list(result.grid.axis(against).values)
    st.plotly_chart(figures.metric_figure(measured, metric, METRICS[metric], against,
                                                  varying, order))
    others = [name for name in varying if name != against]
    if others:
        _heatmap(result, measured, metric, against, others)


def _heatmap(result: GridResult, measured: pd.DataFrame, metric: str, across: str,
             others: list[str]) -> None:
    down = others[0] if len(others) == 1 else st.selectbox(
        "Heatmap rows", others, key="compare.heatmap_rows",
        help="The heatmap shows two settings; the cells of any other setting are averaged.")
    averaged = [name for name in others if name != down]
    grid = measured.assign(**{name: measured[name].map(format_value) for name in (down, across)})
    grid = grid.pivot_table(index=down, columns=across, values=metric, aggfunc="mean")
    grid = grid.reindex(index=[v for v in result.grid.axis(down).labels() if v in grid.index],
                        columns=[v for v in result.grid.axis(across).labels()
                                 if v in grid.columns])
    title = f"{METRICS[metric]}: {across} × {down}"
    if averaged:
        title += f" (mean over {', '.join(averaged)})"
    st.plotly_chart(figures.heatmap_figure(grid, across, down, METRICS[metric], title))
