"""The distribution view's plotly figures, built from ``playground.distribution.Reshaped``.

``distribution_figure`` draws what the sampler would draw from: one bar per known token,
most likely first, the chosen one pointed at, those outside the nucleus greyed out behind a
dashed top_p line, those a penalty or bias moved in orange with a dash at their probability
before. ``samples_figure`` is the histogram of a seeded draw.

Plotly validates every value it is given, one by one: a few traces with one colour each
and hover templates over numeric ``customdata`` build several times faster than per-bar
colours and hover texts, which keeps a slider move well inside its 100 ms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.distribution import Reshaped
from ui.common.token_view import quoted as label

KEPT = "#4c78a8"
MOVED = "#f58518"
OUTSIDE = "#ced4da"
CHOSEN = "#d62728"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
_HOVER = "%{x}<br>sampled with p = %{y:.2%}<br>reported log-probability %{customdata[0]:.3f}"


def bar_order(shaped: Reshaped) -> np.ndarray:
    """Token indices by the probability the sampler gives them, most likely first."""
    return np.argsort(-shaped.after, kind="stable")


def distribution_figure(shaped: Reshaped) -> go.Figure:
    order = bar_order(shaped)
    texts = shaped.alternatives.texts
    labels = np.array([label(texts[i]) for i in order], dtype=object)
    kept, moved = shaped.kept[order], shaped.moved[order]
    details = np.column_stack([shaped.alternatives.logprobs[order], shaped.before[order],
                               shaped.after[order]])
    kinds = (
        ("inside top_p", KEPT, kept & ~moved, _HOVER),
        ("moved by penalty or bias", MOVED, kept & moved,
         _HOVER + "<br>before penalty and bias %{customdata[1]:.2%}"),
        ("outside top_p: never drawn", OUTSIDE, ~kept,
         "%{x}<br>outside top_p (after temperature %{customdata[2]:.2%})"
         "<br>reported log-probability %{customdata[0]:.3f}"),
    )
    figure = go.Figure()
    for name, colour, mask, hover in kinds:
        if mask.any():
            figure.add_trace(go.Bar(
                x=labels[mask], y=shaped.distribution[order][mask], name=name,
                marker_color=colour, customdata=details[mask],
                hovertemplate=hover + "<extra></extra>"))
    if moved.any():
        figure.add_trace(go.Scatter(
            x=labels[moved], y=shaped.before[order][moved], mode="markers",
            name="before penalty and bias", hoverinfo="skip",
            marker={"symbol": "line-ew-open", "size": 22, "color": "#212529",
                    "line": {"width": 3}}))
    figure.update_layout(
        title="What the sampler draws from", margin=_MARGIN, height=380, bargap=0.15,
        barmode="overlay", shapes=_cut_off(shaped), annotations=_notes(shaped),
        yaxis={"title": "probability", "tickformat": ".0%", "rangemode": "tozero"},
        xaxis={"title": None, "type": "category", "tickangle": -45,
               "categoryorder": "array", "categoryarray": labels},
        legend={"orientation": "h", "y": -0.4})
    return figure


def _cut_off(shaped: Reshaped) -> list[dict]:
    if shaped.inside_top_p == len(shaped.after):
        return []
    x = shaped.inside_top_p - 0.5
    return [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
             "line": {"dash": "dash", "color": "#495057"}}]


def _notes(shaped: Reshaped) -> list[dict]:
    notes = []
    if shaped.inside_top_p < len(shaped.after):
        notes.append({"x": shaped.inside_top_p - 0.5, "xref": "x", "y": 1, "yref": "paper",
                      "text": f"top_p {shaped.settings.top_p:g} cut-off", "showarrow": False,
                      "xanchor": "left", "yanchor": "bottom"})
    chosen = shaped.alternatives.chosen
    if chosen is not None:
        notes.append({"x": label(shaped.alternatives.texts[chosen]),
                      "y": float(shaped.distribution[chosen]), "text": "chosen",
                      "showarrow": True, "arrowhead": 2, "ay": -30, "font": {"color": CHOSEN}})
    return notes


def samples_figure(shaped: Reshaped, drawn: Sequence[int]) -> go.Figure:
    counts = np.bincount(np.asarray(drawn, dtype=np.int64), minlength=len(shaped.after))
    order = [i for i in bar_order(shaped) if counts[i]]
    chosen = shaped.alternatives.chosen
    figure = go.Figure(go.Bar(
        x=[label(shaped.alternatives.texts[i]) for i in order], y=counts[order],
        marker_color=[CHOSEN if i == chosen else KEPT for i in order],
        hovertemplate="%{x}: %{y} of " + str(len(drawn)) + "<extra></extra>"))
    figure.update_layout(title=f"{len(drawn)} samples (red: the chosen token)", margin=_MARGIN,
                         height=260, yaxis={"title": "times drawn"},
                         xaxis={"title": None, "type": "category", "tickangle": -45})
    return figure
