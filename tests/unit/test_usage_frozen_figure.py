"""The Usage page's cached figures are turned into a dict once, not on every rerun."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import plotly.io

from ui.usage import figures
from ui.usage.data import FrozenFigure


def _tokens() -> go.Figure:
    frame = pd.DataFrame({
        "bucket": pd.date_range("2026-03-01", periods=48, freq="h", tz="UTC"),
        "requests": range(48), "prompt_tokens": range(0, 480, 10),
        "completion_tokens": range(0, 960, 20), "reasoning_tokens": [0] * 48,
        "estimated": [0] * 48})
    return figures.tokens_over_time(frame, "hour")


def test_a_frozen_figure_draws_as_the_figure_it_was_made_from():
    plain = _tokens()
    frozen = FrozenFigure(plain)
    assert json.loads(plotly.io.to_json(frozen.to_dict(), validate=False)) \
        == json.loads(plotly.io.to_json(plain.to_dict(), validate=False))


def test_its_dict_is_made_once():
    frozen = FrozenFigure(_tokens())
    assert frozen.to_dict() is frozen.to_dict()
