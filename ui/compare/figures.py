"""The Compare page's plotly figures, built from ``GridResult.cells_frame()`` (one row per
cell). Pure functions (no Streamlit), so their axes and traces are tested on their own.

What keeps them honest:

- A setting's values are categories, spaced evenly in the order the grid lists them: two or
  three values of top_p on a numeric axis would invent ticks such as 1.2.
- Series are dodged side by side (``scattermode="group"``) and each has its own marker, so
  two series with the same values stay visible; a line joins the points of a series only
  when the setting is ordered (a number), never across model names.
- Every value axis starts at zero.
- A cell is named by its settings. Its timing is drawn as two segments, the wait before its
  request was sent and the request itself, from the start of the run, so cells that ran at
  the same time can be seen doing so.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from playground.compare import GridResult, format_value

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon")
WAIT_COLOUR, REQUEST_COLOUR = "#c7c7c7", "#4c78a8"
PROMPT_COLOUR, COMPLETION_COLOUR = "#4c78a8", "#f58518"
ROW_HEIGHT = 26


def frame_of(result: GridResult) -> pd.DataFrame:
    """One row per cell; the model column names the model as the grid's axis does
    (``model @ connection`` for another connection's)."""
    frame = result.cells_frame()
    frame["model"] = [format_value(r.cell.settings.get("model", r.cell.model))
                      for r in result.cells]
    return frame


def cell_names(frame: pd.DataFrame, varying: list[str]) -> list[str]:
    """Each cell by the settings that vary in its grid, e.g. ``temperature 0.2 · seed 1``."""
    if not varying:
        return [f"{cell}" for cell in frame["cell"]]
    return [" · ".join(f"{name} {format_value(row[name])}" for name in varying)
            for _, row in frame.iterrows()]


def metric_figure(frame: pd.DataFrame, metric: str, label: str, against: str,
                  varying: list[str], order: list) -> go.Figure:
    """``metric`` against the setting ``against`` (its values in ``order``), one series per
    combination of the other varying settings."""
    others = [name for name in varying if name != against]
    categories = [format_value(value) for value in order]
    ordered = against != "model"
    figure = go.Figure()
    groups = frame.groupby(others, sort=False) if others else [((), frame)]
    for number, (key, rows) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{o}={format_value(v)}" for o, v in zip(others, key)) or "all cells"
        rows = rows.assign(_x=[format_value(v) for v in rows[against]])
        rows = rows.set_index("_x").reindex([c for c in categories if c in set(rows["_x"])])
        figure.add_trace(go.Scatter(
            x=list(rows.index), y=rows[metric], name=name, offsetgroup=str(number),
            mode="lines+markers" if ordered else "markers",
            marker=dict(symbol=SYMBOLS[number % len(SYMBOLS)], size=9),
            customdata=rows[["cell"]].to_numpy(),
            hovertemplate=f"{against} %{{x}}<br>{label} %{{y:.3g}}<br>%{{customdata[0]}}"
                          f"<extra>{name}</extra>"))
    figure.update_layout(
        title=f"{label} against {against}", scattermode="group", scattergap=0.6,
        showlegend=bool(others), legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(type="category", categoryorder="array", categoryarray=categories,
                   title=against),
        yaxis=dict(rangemode="tozero", title=f"{label} (axis from 0)"),
        margin=dict(l=8, r=8, t=64, b=8))
    return figure


def heatmap_figure(grid: pd.DataFrame, across: str, down: str, label: str,
                   title: str) -> go.Figure:
    """A metric over two settings; ``grid`` is the pivot table (rows ``down``)."""
    figure = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[format_value(v) for v in grid.columns],
        y=[format_value(v) for v in grid.index], colorbar=dict(title=label),
        texttemplate="%{z:.2f}",
        hovertemplate=f"{across} %{{x}}<br>{down} %{{y}}<br>{label} %{{z:.3g}}<extra></extra>"))
    figure.update_layout(title=title, xaxis=dict(type="category", title=across),
                         yaxis=dict(type="category", title=down),
                         margin=dict(l=8, r=8, t=48, b=8))
    return figure


def timing_figure(frame: pd.DataFrame, names: list[str]) -> go.Figure:
    """Per cell, from the start of the run: the wait before its request was sent, then the
    request (which includes any wait in the server's own queue)."""
    figure = go.Figure([
        go.Bar(y=names, x=frame["cell_queued"], name="waiting to be sent", orientation="h",
               marker_color=WAIT_COLOUR,
               hovertemplate="%{y}<br>sent after %{x:.2f} s<extra></extra>"),
        go.Bar(y=names, x=frame["cell_latency"], name="request (server queue included)",
               orientation="h", marker_color=REQUEST_COLOUR,
               hovertemplate="%{y}<br>request %{x:.2f} s<extra></extra>"),
    ])
    return _per_cell_layout(figure, names, "When each cell ran", "seconds since the run began")


def tokens_figure(frame: pd.DataFrame, names: list[str]) -> go.Figure:
    """Prompt and completion tokens per cell, stacked."""
    figure = go.Figure([
        go.Bar(y=names, x=frame[column], name=name, orientation="h", marker_color=colour,
               hovertemplate=f"%{{y}}<br>%{{x:,}} {name} tokens<extra></extra>")
        for column, name, colour in (("prompt_tokens", "prompt", PROMPT_COLOUR),
                                     ("completion_tokens", "completion", COMPLETION_COLOUR))])
    return _per_cell_layout(figure, names, "Tokens per cell", "tokens")


def _per_cell_layout(figure: go.Figure, names: list[str], title: str, x: str) -> go.Figure:
    figure.update_layout(
        title=title, barmode="stack", height=max(220, 110 + ROW_HEIGHT * len(names)),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(rangemode="tozero", title=x),
        yaxis=dict(type="category", autorange="reversed", automargin=True),
        margin=dict(l=8, r=8, t=64, b=8))
    return figure
