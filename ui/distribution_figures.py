"""The distribution view's plotly figures, built from ``playground.distribution.Reshaped``.

``distribution_figure`` draws what the sampler would draw from: one bar per known token,
most likely first, the chosen one outlined, those outside the nucleus greyed out behind a
dashed top_p line, those a penalty or bias moved in orange with a marker at their
probability before. ``samples_figure`` is the histogram of a seeded draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.distribution import Reshaped
from ui.token_view import quoted as label

KEPT = "#4c78a8"
MOVED = "#f58518"
OUTSIDE = "#ced4da"
CHOSEN_OUTLINE = "#d62728"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def bar_order(shaped: Reshaped) -> np.ndarray:
    """Token indices by the probability the sampler gives them, most likely first."""
    return np.argsort(-shaped.after, kind="stable")


def distribution_figure(shaped: Reshaped) -> go.Figure:
    order = bar_order(shaped)
    texts = shaped.alternatives.texts
    labels = [label(texts[i]) for i in order]
    chosen = shaped.alternatives.chosen
    colours = [OUTSIDE if not shaped.kept[i] else MOVED if shaped.moved[i] else KEPT
               for i in order]
    hover = [_hover(shaped, i) for i in order]
    figure = go.Figure(go.Bar(
        x=labels, y=shaped.distribution[order], name="sampled from",
        marker={"color": colours,
                "line": {"color": [CHOSEN_OUTLINE if i == chosen else "rgba(0,0,0,0)"
                                   for i in order], "width": 3}},
        hovertext=hover, hoverinfo="text"))
    moved = [i for i in order if shaped.moved[i]]
    if moved:
        figure.add_trace(go.Scatter(
            x=[label(texts[i]) for i in moved], y=shaped.before[moved], mode="markers",
            name="before penalty and bias",
            marker={"symbol": "line-ew-open", "size": 22, "color": "#212529",
                    "line": {"width": 3}},
            hovertext=[_hover(shaped, i) for i in moved], hoverinfo="text"))
    inside = shaped.inside_top_p
    if inside < len(order):
        figure.add_vline(x=inside - 0.5, line_dash="dash", line_color="#495057",
                         annotation_text=f"top_p {shaped.settings.top_p:g} cut-off",
                         annotation_position="top right")
    if chosen is not None:
        figure.add_annotation(x=label(texts[chosen]), y=float(shaped.distribution[chosen]),
                              text="chosen", showarrow=True, arrowhead=2, ay=-30,
                              font={"color": CHOSEN_OUTLINE})
    figure.update_layout(
        title="What the sampler draws from", margin=_MARGIN, height=360, bargap=0.15,
        yaxis={"title": "probability", "tickformat": ".0%", "rangemode": "tozero"},
        xaxis={"title": None, "type": "category", "tickangle": -45},
        legend={"orientation": "h", "y": -0.35}, showlegend=bool(moved))
    return figure


def _hover(shaped: Reshaped, index: int) -> str:
    text = label(shaped.alternatives.texts[index])
    logprob = shaped.alternatives.logprobs[index]
    lines = [text, f"sampled with p = {shaped.distribution[index]:.2%}"
             + ("" if shaped.kept[index] else " (outside top_p)"),
             f"reported log-probability {logprob:.3f}"]
    if shaped.moved[index]:
        lines.append(f"penalty and bias: {shaped.before[index]:.2%} → {shaped.after[index]:.2%}")
    return "<br>".join(lines)


def samples_figure(shaped: Reshaped, drawn: Sequence[int]) -> go.Figure:
    counts = np.bincount(np.asarray(drawn, dtype=np.int64), minlength=len(shaped.after))
    order = [i for i in bar_order(shaped) if counts[i]]
    chosen = shaped.alternatives.chosen
    figure = go.Figure(go.Bar(
        x=[label(shaped.alternatives.texts[i]) for i in order], y=counts[order],
        marker={"color": [CHOSEN_OUTLINE if i == chosen else KEPT for i in order]},
        hovertemplate="%{x}: %{y} of " + str(len(drawn)) + "<extra></extra>"))
    figure.update_layout(title=f"{len(drawn)} samples", margin=_MARGIN, height=260,
                         yaxis={"title": "times drawn"},
                         xaxis={"title": None, "type": "category", "tickangle": -45})
    return figure
