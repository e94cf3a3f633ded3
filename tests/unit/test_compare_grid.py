"""Compare grids before they run: axes read from text, expansion into cells, validation,
the cell limit and the cost estimate."""

from __future__ import annotations

import time

import pytest

from playground import errors
from playground.catalog import Price
from playground.compare import DEFAULT_MAX_CELLS, Axis, Grid, ModelRef, estimate

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def chat_grid(*axes: Axis, **kwargs) -> Grid:
    kwargs.setdefault("base_values", {"max_tokens": 5})
    kwargs.setdefault("model", "fault-model")
    kwargs.setdefault("connection", "fault")
    return Grid("chat", axes=list(axes), messages=MESSAGES, **kwargs)


def messages_of(raised) -> list[str]:
    return [problem.message for problem in raised.value.errors]


# -- axes ---------------------------------------------------------------------------------

class TestAxisParsing:
    def test_list_text(self):
        assert Axis.parse("temperature", "0, 0.5, 1").values == (0.0, 0.5, 1.0)
        assert Axis.parse("top_p", " 0.9;1 ").values == (0.9, 1.0)
        assert Axis.parse("presence_penalty", "-1 0 1").values == (-1.0, 0.0, 1.0)

    def test_whole_number_axes_keep_ints(self):
        axis = Axis.parse("max_tokens", "16, 32, 64")
        assert axis.values == (16, 32, 64)
        assert all(type(v) is int for v in axis.values)
        assert Axis.parse("seed", "9223372036854775807").values == (2**63 - 1,)

    def test_range_with_float_steps_is_exact_and_inclusive(self):
        assert Axis.from_range("temperature", 0, 1, 0.1).values == (
            0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
        assert Axis.from_range("top_p", 0.7, 1.0, 0.15).values == (0.7, 0.85, 1.0)

    def test_range_stop_not_on_a_step(self):
        assert Axis.from_range("temperature", 0, 1, 0.3).values == (0.0, 0.3, 0.6, 0.9)

    def test_descending_and_single_value_ranges(self):
        assert Axis.from_range("frequency_penalty", 2, 0, -0.5).values == (2.0, 1.5, 1.0, 0.5, 0.0)
        assert Axis.from_range("temperature", 0.7, 0.7, 0.1).values == (0.7,)

    def test_range_text(self):
        assert Axis.parse("top_p", "0:1:0.25").values == (0.0, 0.25, 0.5, 0.75, 1.0)
        assert Axis.parse("seed", "1:4:1").values == (1, 2, 3, 4)

    @pytest.mark.parametrize("start, stop, step, expected", [
        (0, 1, 0, "step must not be 0"),
        (0, 1, -0.1, "goes away from 1"),
        (0, 100000, 0.01, "at most 1000"),
    ])
    def test_bad_ranges_are_refused(self, start, stop, step, expected):
        with pytest.raises(errors.InvalidParameters, match=expected):
            Axis.from_range("temperature", start, stop, step)

    def test_not_a_number_names_the_axis(self):
        with pytest.raises(errors.InvalidParameters) as raised:
            Axis.parse("temperature", "0.5, warm")
        assert messages_of(raised) == ["temperature: 'warm' is not a number."]
        assert raised.value.errors[0].field == "temperature"

    def test_unknown_axis_and_empty_axis(self):
        with pytest.raises(errors.InvalidParameters, match="'top_k' cannot be an axis"):
            Axis("top_k", (1, 2))
        with pytest.raises(errors.InvalidParameters, match="needs at least one value"):
            Axis.parse("temperature", " , ")

    def test_repeated_values_are_dropped(self):
        assert Axis.parse("temperature", "0.5, 1, 0.5").values == (0.5, 1.0)

    def test_model_axis(self):
        axis = Axis.parse("model", "smollm2-135m-instruct, gpt-4o-mini @ OpenAI")
        assert axis.values == (ModelRef("smollm2-135m-instruct"), ModelRef("gpt-4o-mini", "OpenAI"))
        assert axis.labels() == ["smollm2-135m-instruct", "gpt-4o-mini @ OpenAI"]
        assert Axis("model", ("a",)).values == (ModelRef("a"),)
        with pytest.raises(errors.InvalidParameters, match="not a range"):
            Axis.from_range("model", 0, 1, 1)


# -- expansion ----------------------------------------------------------------------------

class TestExpansion:
    def test_cartesian_product_in_axis_order_last_fastest(self):
        grid = chat_grid(Axis.parse("temperature", "0, 0.5, 1"), Axis.parse("top_p", "0.5, 1"))
        cells = grid.cells()
        assert grid.size() == len(cells) == 6
        assert [(c.settings["temperature"], c.settings["top_p"]) for c in cells] == [
            (0.0, 0.5), (0.0, 1.0), (0.5, 0.5), (0.5, 1.0), (1.0, 0.5), (1.0, 1.0)]
        assert [c.id for c in cells] == ["c1", "c2", "c3", "c4", "c5", "c6"]
        assert cells[1].values == {"max_tokens": 5, "temperature": 0.0, "top_p": 1.0}
        assert cells[1].label == "temperature=0, top_p=1"

    def test_ids_are_padded_and_unique(self):
        cells = chat_grid(Axis.from_range("seed", 1, 12, 1)).cells()
        assert [c.id for c in cells][:2] == ["c01", "c02"] and cells[-1].id == "c12"

    def test_counts_multiply(self):
        grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis.parse("seed", "1, 2, 3"),
                         Axis.parse("max_tokens", "4, 8"), Axis.parse("presence_penalty", "0, 1"))
        assert grid.size() == len(grid.cells()) == 24

    def test_no_axes_is_one_cell_of_fixed_values(self):
        cells = chat_grid(base_values={"temperature": 0.3, "n": 4}).cells()
        assert len(cells) == 1
        assert cells[0].values == {"temperature": 0.3}, "n comes from the samples setting"
        assert cells[0].label == "fixed settings"

    def test_model_axis_chooses_model_and_connection(self):
        grid = chat_grid(Axis("model", ("fault-model", ModelRef("gpt-4o-mini", "OpenAI"))))
        first, second = grid.cells()
        assert (first.model, first.connection) == ("fault-model", "fault")
        assert (second.model, second.connection) == ("gpt-4o-mini", "OpenAI")
        assert "model" not in first.values

    def test_fixed_seed_unless_a_seed_axis(self):
        assert chat_grid(fixed_seed=42).cells()[0].values["seed"] == 42
        cells = chat_grid(Axis.parse("seed", "1, 2"), fixed_seed=42).cells()
        assert [c.values["seed"] for c in cells] == [1, 2]


# -- validation ---------------------------------------------------------------------------

class TestValidation:
    def test_messages_name_axis_and_value(self):
        grid = chat_grid(Axis.parse("temperature", "0, 2.5, 3"), Axis.parse("top_p", "1, 1.5"))
        with pytest.raises(errors.InvalidParameters) as raised:
            grid.check()
        assert messages_of(raised) == [
            "top_p axis value 1.5: top_p must be 0 to 1; got 1.5.",
            "temperature axis value 2.5: temperature must be 0 to 2; got 2.5.",
            "temperature axis value 3: temperature must be 0 to 2; got 3.",
        ]
        assert {p.field for p in raised.value.errors} == {"temperature", "top_p"}

    def test_whole_number_axis(self):
        grid = chat_grid(Axis.from_range("max_tokens", 1, 2, 0.5))
        assert [p.message for p in grid.problems()] == [
            "max_tokens axis value 1.5: max_tokens must be a whole number, 1 to 131072."]

    def test_fixed_values_and_fixed_seed(self):
        grid = chat_grid(base_values={"frequency_penalty": 5}, fixed_seed=-1)
        assert [p.message for p in grid.problems()] == [
            "frequency_penalty must be -2 to 2; got 5.",
            "fixed seed: seed must be 0 or more; got -1."]

    def test_prompt_model_and_connection_are_needed(self):
        grid = Grid("completions", axes=[Axis.parse("temperature", "0, 1")])
        assert [p.message for p in grid.problems()] == [
            "prompt must not be empty.", "Choose a model, or add a model axis."]
        grid.model, grid.prompt = "m", "Once"
        assert [p.message for p in grid.problems()] == ["Choose a connection for the model 'm'."]

    @pytest.mark.parametrize("samples", [0, 21, 2.5])
    def test_samples_per_cell(self, samples):
        assert "Samples per cell must be a whole number from 1 to 20" in \
            chat_grid(samples_per_cell=samples).problems()[0].message

    def test_repeated_axis(self):
        grid = chat_grid(Axis.parse("seed", "1"), Axis.parse("seed", "2"))
        assert grid.problems()[0].message == \
            "The seed axis is given twice; merge its values into one axis."

    def test_a_valid_grid_has_no_problems(self):
        chat_grid(Axis.parse("temperature", "0:2:0.5"), samples_per_cell=20).check()


class TestLimit:
    def test_refusal_names_size_shape_and_limit(self):
        grid = chat_grid(Axis.from_range("temperature", 0, 1.2, 0.2),
                         Axis.from_range("top_p", 0.4, 1, 0.1))
        assert grid.size() == 49 > DEFAULT_MAX_CELLS
        expected = ("The grid has 49 cells (7 temperature × 7 top_p), over the limit of 48. "
                    "Remove some values or raise the cell limit.")
        assert [p.message for p in grid.problems()] == [expected]
        with pytest.raises(errors.InvalidParameters) as raised:
            grid.cells()
        assert messages_of(raised) == [expected] and raised.value.errors[0].field == "grid"

    def test_limit_is_configurable(self):
        grid = chat_grid(Axis.from_range("seed", 1, 60, 1), max_cells=60)
        assert grid.problems() == [] and len(grid.cells()) == 60
        grid.max_cells = 10
        assert "over the limit of 10" in grid.problems()[0].message

    def test_huge_grid_is_refused_without_expanding(self):
        grid = chat_grid(*(Axis.from_range(name, 0, 1, 0.002) for name in
                           ("temperature", "top_p", "presence_penalty")))
        started = time.perf_counter()
        assert "125,751,501 cells (501 temperature × 501 top_p × 501 presence_penalty)" \
            in grid.problems()[0].message
        assert estimate(grid, 10).cells == 501 ** 3
        assert time.perf_counter() - started < 1


# -- estimate -----------------------------------------------------------------------------

class TestEstimate:
    def test_tokens_and_cost_with_n(self):
        grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis.parse("max_tokens", "10, 20, 30"),
                         samples_per_cell=2)
        result = estimate(grid, 50, {"fault-model": (1.0, 2.0)})
        # 6 cells, one request each (n=2): prompt 6 x 50; completion 2 x (10+20+30) x 2
        assert (result.cells, result.requests, result.samples) == (6, 6, 12)
        assert result.prompt_tokens == 300 and result.max_completion_tokens == 240
        assert result.max_total_tokens == 540
        assert result.cost == pytest.approx((300 * 1.0 + 240 * 2.0) / 1e6)
        assert result.summary() == ("6 cells, 6 requests, 12 samples, up to 540 tokens "
                                    "(300 prompt + 240 completion), at most $0.0008")

    def test_repeated_requests_send_the_prompt_each_time(self):
        grid = chat_grid(Axis.parse("max_tokens", "10, 20, 30"), samples_per_cell=2,
                         sampling="repeat")
        result = estimate(grid, 50, {"fault-model": (1.0, 2.0)})
        assert (result.requests, result.prompt_tokens,
                result.max_completion_tokens) == (6, 300, 120)

    def test_n_above_eight_takes_more_requests(self):
        result = estimate(chat_grid(Axis.parse("seed", "1, 2"), samples_per_cell=10), 5)
        assert result.requests == 4 and result.samples == 20 and result.prompt_tokens == 20

    def test_completions_default_and_best_of(self):
        grid = Grid("completions", {"best_of": 3}, prompt="Once", model="m", connection="c")
        result = estimate(grid, 2)
        assert result.max_completion_tokens == 16 * 3

    def test_chat_without_max_tokens_is_unbounded(self):
        grid = chat_grid(Axis.parse("temperature", "0, 1"), base_values={})
        result = estimate(grid, 10, {"fault-model": (1.0, 1.0)})
        assert result.max_completion_tokens is None and result.unbounded_cells == 2
        assert result.cost is None and result.max_total_tokens is None
        assert "completion unbounded in 2 cells (set max_tokens)" in result.summary()

    def test_prices_per_model_and_unpriced_models(self):
        grid = chat_grid(Axis("model", ("gpt-4o-mini-2024-07-18", "gpt-4o", "mystery")))
        result = estimate(grid, 1000, {"gpt-4o-mini": Price(0.15, 0.60), "gpt-4o": (2.5, 10.0)})
        expected = (1000 * 0.15 + 5 * 0.60 + 1000 * 2.5 + 5 * 10.0) / 1e6
        assert result.cost == pytest.approx(expected)
        assert result.unpriced_models == ("mystery",)
        assert "no price for mystery" in result.summary()

    def test_no_prices_no_cost(self):
        assert estimate(chat_grid(), 10).cost is None

    def test_over_limit_grid_still_estimates(self):
        grid = chat_grid(Axis.from_range("seed", 1, 50, 1))
        result = estimate(grid, 10)
        assert result.cells == 50 and "over the limit of 48" in result.over_limit
