"""The Compare page's figures, checked on their plotly specs: category axes for settings,
every series visible, value axes from zero, cells named by their settings, the queue wait
apart from the request. Built from results made here, through the functions the page uses."""

from __future__ import annotations

import pandas as pd
import pytest

from playground.compare import Axis, CellResult, Grid, GridResult, Sample
from ui.compare import figures as compare_figures
from ui.usage import figures as usage_figures


def result_of(grid: Grid, text_of) -> GridResult:
    """Every cell ok, one sample whose text ``text_of(cell)`` chooses; the n-th cell waited
    n * 0.5 s and its request took 0.5 s."""
    cells = []
    for cell in grid.cells():
        text = text_of(cell)
        cells.append(CellResult(cell, status="ok", samples=[Sample(0, text, "stop")],
                                latency=0.5, queued=0.5 * cell.index,
                                usage={"prompt_tokens": 5, "completion_tokens": len(text)}))
    return GridResult(grid, cells, wall_time=0.5 * len(cells))


def chat_grid(*axes: Axis) -> Grid:
    return Grid("chat", {"max_tokens": 8}, list(axes), model="m", connection="c",
                messages=[{"role": "user", "content": "Hi"}])


@pytest.fixture
def two_settings() -> GridResult:
    """top_p 0.5 and 1 × seed 1 and 2, where the seeds give the same texts: equal series."""
    grid = chat_grid(Axis.parse("top_p", "0.5, 1"), Axis.parse("seed", "1, 2"))
    return result_of(grid, lambda cell: "word " * int(cell.settings["top_p"] * 4))


def metric_figure(result: GridResult, metric: str, against: str):
    frame = compare_figures.frame_of(result)
    varying = [axis.name for axis in result.grid.axes if len(axis) > 1]
    return compare_figures.metric_figure(frame, metric, metric, against, varying,
                                         list(result.grid.axis(against).values))


def test_setting_values_are_categories_in_grid_order(two_settings):
    figure = metric_figure(two_settings, "words", "top_p")
    assert figure.layout.xaxis.type == "category"
    assert list(figure.layout.xaxis.categoryarray) == ["0.5", "1"]
    assert all(list(trace.x) == ["0.5", "1"] for trace in figure.data)


def test_equal_series_are_dodged_with_their_own_markers(two_settings):
    figure = metric_figure(two_settings, "words", "top_p")
    first, second = figure.data
    assert list(first.y) == list(second.y), "the seeds gave the same texts"
    assert figure.layout.scattermode == "group"
    assert first.offsetgroup != second.offsetgroup
    assert first.marker.symbol != second.marker.symbol
    assert {first.name, second.name} == {"seed=1", "seed=2"}
    assert figure.layout.showlegend


def test_value_axes_start_at_zero_and_say_so(two_settings):
    figure = metric_figure(two_settings, "distinct_1", "top_p")
    assert figure.layout.yaxis.rangemode == "tozero"
    assert "from 0" in figure.layout.yaxis.title.text


def test_no_line_across_model_names():
    grid = chat_grid(Axis("model", ("m-a", "m-b @ other")), Axis.parse("temperature", "0, 1"))
    result = result_of(grid, lambda cell: "a b c")
    by_model = metric_figure(result, "words", "model")
    assert all(trace.mode == "markers" for trace in by_model.data)
    assert list(by_model.layout.xaxis.categoryarray) == ["m-a", "m-b @ other"]
    assert all(list(trace.x) == ["m-a", "m-b @ other"] for trace in by_model.data)
    by_temperature = metric_figure(result, "words", "temperature")
    assert all(trace.mode == "lines+markers" for trace in by_temperature.data)


def test_timing_draws_the_wait_apart_from_the_request_per_named_cell(two_settings):
    frame = compare_figures.frame_of(two_settings)
    names = compare_figures.cell_names(frame, ["top_p", "seed"])
    assert names == ["top_p 0.5 · seed 1", "top_p 0.5 · seed 2", "top_p 1 · seed 1",
                     "top_p 1 · seed 2"]
    figure = compare_figures.timing_figure(frame, names)
    wait, request = figure.data
    assert (wait.name, request.name) == ("waiting to be sent", "request (server queue included)")
    assert list(wait.x) == [0.0, 0.5, 1.0, 1.5] and list(request.x) == [0.5] * 4
    assert list(wait.y) == names and figure.layout.barmode == "stack"
    assert figure.layout.yaxis.type == "category"
    assert figure.layout.xaxis.rangemode == "tozero"


def test_tokens_per_cell_are_named_by_settings_and_start_at_zero(two_settings):
    frame = compare_figures.frame_of(two_settings)
    names = compare_figures.cell_names(frame, ["top_p", "seed"])
    figure = compare_figures.tokens_figure(frame, names)
    assert [trace.name for trace in figure.data] == ["prompt", "completion"]
    assert list(figure.data[1].y) == names
    assert figure.layout.xaxis.rangemode == "tozero"


def test_heatmap_axes_are_categories(two_settings):
    frame = compare_figures.frame_of(two_settings)
    grid = frame.pivot_table(index="seed", columns="top_p", values="words")
    figure = compare_figures.heatmap_figure(grid, "top_p", "seed", "Words", "Words")
    assert (figure.layout.xaxis.type, figure.layout.yaxis.type) == ("category", "category")
    assert list(figure.data[0].x) == ["0.5", "1"] and list(figure.data[0].y) == ["1", "2"]


def cost_frame(costs: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"bucket": pd.date_range("2026-01-01", periods=len(costs)),
                         "cost": costs, "cumulative_cost": pd.Series(costs).cumsum(),
                         "unpriced": [0] * len(costs)})


def test_a_free_cost_chart_runs_from_zero_and_says_why():
    figure = usage_figures.cost_over_time(cost_frame([0.0, 0.0]), "day")
    assert list(figure.layout.yaxis.range) == [0, 1] == list(figure.layout.yaxis2.range)
    assert "No cost" in figure.layout.annotations[0].text


def test_a_priced_cost_chart_has_both_axes_from_zero():
    figure = usage_figures.cost_over_time(cost_frame([0.5, 0.25]), "day")
    assert figure.layout.yaxis.rangemode == "tozero" == figure.layout.yaxis2.rangemode
    assert not figure.layout.annotations
