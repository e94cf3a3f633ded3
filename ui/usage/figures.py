"""The Usage page's plotly figures, each built from one of ``UsageOverview``'s small frames.

Pure functions (no Streamlit): a frame in, a figure out, so they are tested on their own.
Times on the x axes are UTC bucket starts, as the ledger groups them.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

PROMPT_COLOUR, COMPLETION_COLOUR, COST_COLOUR = "#4c78a8", "#f58518", "#54a24b"
REASONING_COLOUR = "#b279a2"
HEIGHT = 320


def _layout(figure: go.Figure, *, x: str | None = None, y: str | None = None,
            height: int = HEIGHT, **layout) -> go.Figure:
    figure.update_layout(height=height, margin=dict(l=8, r=8, t=32, b=8),
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0,
                                     traceorder="normal"),
                         xaxis_title=x, yaxis_title=y, **layout)
    return figure


def _names(values: pd.Series) -> list[str]:
    return [str(value) if value else "(none)" for value in values]  # connection tests: no model


def token_parts(frame: pd.DataFrame) -> list[tuple[str, pd.Series, str]]:
    """The stacked parts of the tokens: prompt and completion; where a reasoning model
    thought, the completion split into its answer and its reasoning (the API counts the
    reasoning tokens inside the completion tokens: a third bar on top would count them
    twice)."""
    parts = [("prompt", frame["prompt_tokens"], PROMPT_COLOUR)]
    reasoning = frame["reasoning_tokens"]
    if not len(frame) or not reasoning.sum():
        return parts + [("completion", frame["completion_tokens"], COMPLETION_COLOUR)]
    return parts + [("completion: answer", frame["completion_tokens"] - reasoning,
                     COMPLETION_COLOUR),
                    ("completion: reasoning", reasoning, REASONING_COLOUR)]


def tokens_over_time(frame: pd.DataFrame, bucket: str) -> go.Figure:
    """Prompt and completion tokens per bucket, stacked (see ``token_parts``)."""
    hover = "%{x}<br>%{y:,} %{fullData.name} tokens<br>%{customdata:,} requests<extra></extra>"
    figure = go.Figure([
        go.Bar(x=frame["bucket"], y=values, name=name, marker_color=colour,
               customdata=frame["requests"], hovertemplate=hover)
        for name, values, colour in token_parts(frame)])
    return _layout(figure, x=f"{bucket} (UTC)", y="tokens", barmode="stack")


def tokens_by(frame: pd.DataFrame, column: str) -> go.Figure:
    """Prompt and completion tokens per model (or page, or connection), largest on top."""
    names = _names(frame[column])
    hover = ("%{y}<br>%{x:,} %{fullData.name} tokens<br>%{customdata[0]:,} requests, "
             "%{customdata[1]:,} failed<extra></extra>")
    extra = frame[["requests", "errors"]].to_numpy()
    figure = go.Figure([
        go.Bar(y=names, x=values, name=name, orientation="h", marker_color=colour,
               customdata=extra, hovertemplate=hover)
        for name, values, colour in token_parts(frame)])
    height = max(160, 60 + 28 * len(names))
    return _layout(figure, x="tokens", height=height, barmode="stack",
                   yaxis=dict(autorange="reversed", automargin=True))


def boxes(percentiles: pd.DataFrame, metric: str, unit: str) -> go.Figure:
    """One box per model from the percentiles of
    ``playground.ledger.queries.latency_by_model``: the box spans the quartiles around the
    median, the whiskers the 1st to 99th percentile (the extremes of a few thousand requests
    say little), the dashed line is the mean.

    Built from percentiles computed in the core, so the browser gets six numbers a model
    whatever the number of requests (its hover calls the whiskers' ends "fences"). A
    spread over two orders of magnitude or more (a cold start beside warm requests) is
    drawn on a log axis.
    """
    rows = percentiles.dropna(subset=[f"{metric}_p50"])
    names = _names(rows["model"])
    low, high = rows[f"{metric}_p1"], rows[f"{metric}_p99"]
    figure = go.Figure(go.Box(
        y=names, q1=rows[f"{metric}_p25"], median=rows[f"{metric}_p50"],
        q3=rows[f"{metric}_p75"], lowerfence=low, upperfence=high,
        mean=rows[f"{metric}_mean"], orientation="h", marker_color=PROMPT_COLOUR,
        name=unit, boxmean=True))
    logarithmic = bool(len(rows)) and low.min() > 0 and high.max() / low.min() >= 100
    height = max(160, 70 + 36 * len(names))
    return _layout(figure, x=f"{unit} (log scale)" if logarithmic else unit, height=height,
                   showlegend=False, xaxis_type="log" if logarithmic else "linear",
                   yaxis=dict(autorange="reversed", automargin=True))


def cost_over_time(frame: pd.DataFrame, bucket: str) -> go.Figure:
    """Estimated cost per bucket (bars) and its running sum (line, right axis).

    Both axes start at zero, so their zeros line up. When nothing cost anything (local
    models, or models without a price) the axes run from $0 to $1 and the chart says so,
    rather than plotly centring a flat zero between -1 and 1.
    """
    figure = go.Figure([
        go.Bar(x=frame["bucket"], y=frame["cost"], name="cost", marker_color=COST_COLOUR,
               customdata=frame["unpriced"],
               hovertemplate="%{x}<br>$%{y:.4g}<br>%{customdata:,} requests without a price"
                             "<extra></extra>"),
        go.Scatter(x=frame["bucket"], y=frame["cumulative_cost"], name="running total",
                   mode="lines", yaxis="y2", line=dict(color="#333333"),
                   hovertemplate="%{x}<br>$%{y:.4g} so far<extra></extra>"),
    ])
    free = not len(frame) or float(frame["cumulative_cost"].fillna(0).max()) <= 0
    scale = dict(range=[0, 1]) if free else dict(rangemode="tozero")
    if free:
        figure.add_annotation(text="No cost: every request was free or had no price",
                              xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False)
    return _layout(figure, x=f"{bucket} (UTC)", y="US dollars (estimated)",
                   yaxis=dict(tickprefix="$", **scale),
                   yaxis2=dict(overlaying="y", side="right", title="running total",
                               tickprefix="$", showgrid=False, **scale))
