"""Compare grids: axes, expansion, validation, estimates, and running them for real.

Running is tested against real loopback servers (the fault server, and once the local
server), never against mocks of the SDK.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from fault_server import FaultServer
from playground import errors
from playground.catalog import Price
from playground.compare import (
    DEFAULT_MAX_CELLS,
    Axis,
    Difference,
    Grid,
    GridResult,
    ModelRef,
    estimate,
    rerun_failed,
    run_grid,
)
from playground.connection import Connection
from playground.recording import Recorder

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


# -- running against the fault server -----------------------------------------------------

@pytest.fixture
def fault():
    server = FaultServer()
    with server:
        yield server


def connect(server: FaultServer, **kwargs):
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10)
    conn = Connection("fault", base_url=server.base_url, **kwargs)
    return lambda name: conn


class TestRun:
    def test_results_metrics_and_callbacks_in_the_calling_thread(self, fault):
        grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis.parse("max_tokens", "3, 4"),
                         base_values={"logprobs": True}, samples_per_cell=2)
        seen = []
        result = run_grid(grid, connect(fault), max_workers=4,
                          on_cell_done=lambda r: seen.append((r.cell.id,
                                                              threading.current_thread())))
        assert sorted(cell_id for cell_id, _ in seen) == ["c1", "c2", "c3", "c4"]
        assert {thread for _, thread in seen} == {threading.current_thread()}
        assert [r.status for r in result.cells] == ["ok"] * 4
        assert fault.request_count == 4, "two samples come from one request with n=2"
        assert {r.body["n"] for r in fault.requests} == {2}
        first = result.cells[0]
        assert first.texts == ["The quick brown"] * 2
        assert first.usage["completion_tokens"] == 6 and first.requests == 1
        assert first.samples[0].logprobs == [-0.1, -0.2, -0.3]
        assert first.samples[0].metrics.mean_logprob == pytest.approx(-0.2)
        assert first.samples[0].metrics.tokens == 3
        assert (first.agreement.identical_share, first.agreement.mean_similarity) == (1.0, 1.0)

    def test_frames_and_exports(self, fault):
        grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis("model", ("fault-model", "nope")),
                         samples_per_cell=3)
        result = run_grid(grid, connect(fault))
        frame = result.to_frame()
        assert len(frame) == 2 * 3 + 2, "three rows per ok cell, one per failed cell"
        assert {"cell", "model", "connection", "temperature", "status", "error", "sample",
                "text", "chars", "distinct_1", "distinct_2", "repetition", "mean_logprob",
                "perplexity", "identical_share", "mean_similarity"} <= set(frame.columns)
        assert frame["distinct_1"].dtype.kind == "f" and frame["mean_logprob"].isna().all()
        failed = frame[frame["status"] == "failed"]
        assert set(failed["error_kind"]) == {"ModelNotFound"}
        cells = result.cells_frame()
        assert len(cells) == 4 and list(cells["samples"]) == [3, 0, 3, 0]
        exported = json.loads(result.to_json())
        assert [c["status"] for c in exported["cells"]] == ["ok", "failed", "ok", "failed"]
        assert exported["cells"][1]["error"]["kind"] == "ModelNotFound"
        assert exported["cells"][0]["samples"][0]["words"] == 5
        assert result.to_csv().splitlines()[0].startswith("cell,cell_index,label")

    def test_repeated_requests_with_a_fixed_seed(self, fault):
        grid = chat_grid(samples_per_cell=3, sampling="repeat", fixed_seed=7)
        result = run_grid(grid, connect(fault))
        assert [r.body.get("seed") for r in fault.requests] == [7, 8, 9]
        assert all("n" not in r.body for r in fault.requests)
        assert result.cells[0].requests == 3 and len(result.cells[0].samples) == 3
        assert [s.index for s in result.cells[0].samples] == [0, 1, 2]

    def test_an_endpoint_that_ignores_n_is_topped_up(self):
        server = FaultServer(ignore_n=True, reply=lambda body, i: f"seed {body.get('seed')}")
        with server:
            grid = chat_grid(samples_per_cell=3, fixed_seed=1)
            cell = run_grid(grid, connect(server)).cells[0]
        assert cell.status == "ok" and cell.n_ignored
        assert cell.texts == ["seed 1", "seed 2", "seed 3"]
        assert [r.body.get("n") for r in server.requests] == [3, 2, None]
        assert cell.agreement.identical_share == 0.0

    def test_stream_cells(self, fault):
        grid = chat_grid(Axis.parse("max_tokens", "2, 4"), base_values={"stream": True})
        result = run_grid(grid, connect(fault))
        assert [r.texts for r in result.cells] == [["The quick"], ["The quick brown fox"]]
        assert result.cells[0].usage["completion_tokens"] == 2

    def test_invalid_grid_sends_nothing(self, fault):
        with pytest.raises(errors.InvalidParameters):
            run_grid(chat_grid(Axis.parse("temperature", "5")), connect(fault))
        assert fault.request_count == 0


class TestFailures:
    def test_failed_cells_keep_their_error_and_the_rest_go_on(self):
        server = FaultServer(faults_by_model={"fault-model-b": "503"})
        with server:
            grid = chat_grid(Axis("model", ("fault-model", "fault-model-b", "missing")),
                             Axis.parse("temperature", "0, 1"))
            resolve = connect(server)
            result = run_grid(grid, resolve)
            assert [r.status for r in result.cells] == ["ok", "ok", "failed", "failed",
                                                        "failed", "failed"]
            kinds = [r.error.kind for r in result.failed]
            assert kinds == ["ServerFailed"] * 2 + ["ModelNotFound"] * 2
            assert all(isinstance(r.error, errors.PlaygroundError) and r.error.hint
                       for r in result.failed)
            assert server.request_count == 6

            server.faults_by_model.clear()  # the server recovers
            kept = result.cells[:2]
            again = rerun_failed(grid, result, resolve)
            assert server.request_count == 10, "only the four failed cells were sent again"
            assert {r.body["model"] for r in server.requests[6:]} == {"fault-model-b", "missing"}
        assert again.cells[:2] == kept, "cells that succeeded keep their results"
        assert [r.status for r in again.cells] == ["ok"] * 4 + ["failed"] * 2
        assert [r.cell.id for r in again.cells] == [r.cell.id for r in result.cells]

    def test_rerun_with_nothing_failed_sends_nothing(self, fault):
        grid = chat_grid()
        result = run_grid(grid, connect(fault))
        assert rerun_failed(grid, result, connect(fault)).cells == result.cells
        assert fault.request_count == 1

    def test_a_connection_that_cannot_be_resolved_fails_its_cells_only(self, fault):
        grid = chat_grid(Axis("model", ("fault-model", ModelRef("gpt-4o", "OpenAI"))))
        good = connect(fault)("fault")

        def resolve(name):
            if name == "OpenAI":
                raise errors.AuthenticationFailed("The connection 'OpenAI' needs an API key.")
            return good

        result = run_grid(grid, resolve)
        assert [r.status for r in result.cells] == ["ok", "failed"]
        assert result.cells[1].error.kind == "AuthenticationFailed"

    def test_a_broken_stream_fails_its_cell_and_keeps_what_arrived(self):
        with FaultServer(fault="cut") as url:
            conn = Connection("fault", base_url=url, max_retries=0)
            grid = chat_grid(base_values={"stream": True})
            cell = run_grid(grid, lambda name: conn).cells[0]
        assert cell.status == "failed" and cell.error.kind == "StreamInterrupted"
        assert cell.samples and cell.samples[0].text

    def test_a_429_pauses_and_requeues_the_cell(self):
        server = FaultServer(fail_first=1, fail_with="429-retry-after", retry_after=0.2)
        with server:
            result = run_grid(chat_grid(), connect(server))
        cell = result.cells[0]
        assert cell.status == "ok" and cell.attempts == 2
        first, second = server.requests
        assert second.at - first.at >= 0.2, "the pool waited for Retry-After"

    def test_a_429_without_requeues_fails_the_cell(self):
        server = FaultServer(fail_first=1, fail_with="429")
        with server:
            result = run_grid(chat_grid(), connect(server), rate_limit_requeues=0)
        assert result.cells[0].error.kind == "RateLimited"
        assert server.request_count == 1

    def test_the_sdk_retries_before_the_pool_does(self):
        server = FaultServer(fail_first=2, fail_with="429-retry-after", retry_after=0.05)
        with server:
            result = run_grid(chat_grid(), connect(server, max_retries=2))
        assert result.cells[0].status == "ok" and result.cells[0].attempts == 1
        assert server.request_count == 3


class TestConcurrency:
    def test_twelve_cells_take_about_one_latency(self):
        latency = 0.3
        server = FaultServer(latency=latency)
        with server:
            grid = chat_grid(Axis.from_range("temperature", 0, 1.1, 0.1))
            run_grid(chat_grid(), connect(server))  # first SDK use in a process is slow
            result = run_grid(grid, connect(server), max_workers=12)
        assert len(result.ok) == 12
        assert result.wall_time < 6 * latency, result.wall_time

    def test_the_pool_bounds_requests_in_flight(self):
        server = FaultServer(latency=0.2)
        with server:
            grid = chat_grid(Axis.from_range("seed", 1, 6, 1))
            result = run_grid(grid, connect(server), max_workers=2)
        assert len(result.ok) == 6 and result.wall_time >= 3 * 0.2

    def test_per_model_limit_queues_cells_of_one_model(self):
        server = FaultServer(latency=0.2)
        with server:
            grid = chat_grid(Axis("model", ("fault-model", "fault-model-b")),
                             Axis.parse("seed", "1, 2"))
            result = run_grid(grid, connect(server), max_workers=4, per_model_limit=1)
        assert len(result.ok) == 4
        assert 2 * 0.2 <= result.wall_time < 4 * 0.2, (
            "two models in parallel, cells of a model in turn")

    def test_cancel_stops_scheduling(self):
        server = FaultServer(latency=0.2)
        with server:
            grid = chat_grid(Axis.from_range("seed", 1, 12, 1))
            done = []
            result = run_grid(grid, connect(server), max_workers=2,
                              on_cell_done=done.append, should_cancel=lambda: len(done) >= 2)
        assert result.cancelled
        statuses = [r.status for r in result.cells]
        assert statuses.count("ok") in (2, 3, 4), "cells in flight when cancelled finish"
        assert statuses.count("cancelled") == 12 - statuses.count("ok")
        assert server.request_count == statuses.count("ok")

    def test_rerun_can_include_cancelled_cells(self):
        server = FaultServer()
        with server:
            grid = chat_grid(Axis.parse("seed", "1, 2, 3"))
            result = run_grid(grid, connect(server), max_workers=1, should_cancel=lambda: True)
            assert [r.status for r in result.cells] == ["cancelled"] * 3
            assert server.request_count == 0
            again = rerun_failed(grid, result, connect(server), include_cancelled=True)
        assert [r.status for r in again.cells] == ["ok"] * 3


class TestInterruption:
    def test_a_raising_callback_returns_at_once_and_sends_nothing_more(self):
        # The in-flight requests take 3 s; returning well before that shows they were not
        # waited for, with room for a busy machine's thread scheduling.
        server = FaultServer(latency=3.0)
        polls = []

        def should_cancel():
            polls.append(1)
            if len(polls) > 1:
                raise KeyboardInterrupt("the page reran")
            return False

        with server:
            grid = chat_grid(Axis.from_range("seed", 1, 6, 1))
            started = time.perf_counter()
            with pytest.raises(KeyboardInterrupt):
                run_grid(grid, connect(server), max_workers=2, should_cancel=should_cancel)
            assert time.perf_counter() - started < 1.5, "it did not wait for the two in flight"
            time.sleep(3.5)
            assert server.request_count == 2, "no cell was started after the interruption"


class TestRecording:
    def test_every_request_lands_in_the_ledger(self, fault, tmp_path):
        recorder = Recorder(page="Compare", session="s-1", ledger_path=tmp_path / "l.sqlite3")
        grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis("model", ("fault-model", "nope")),
                         samples_per_cell=2, sampling="repeat")
        run_grid(grid, connect(fault), recorder=recorder)
        assert recorder.usage_ledger.flush()
        rows = recorder.usage_ledger.requests()
        assert len(rows) == fault.request_count == 2 * 2 + 2, "failed cells stop at one request"
        assert set(rows["page"]) == {"Compare"}
        assert sorted(rows["status"]) == ["error"] * 2 + ["ok"] * 4


class TestSavingAndProgress:
    def test_a_run_round_trips_through_json(self, fault):
        grid = chat_grid(Axis.parse("temperature", "0, 1"),
                         Axis("model", ("fault-model", ModelRef("nope", "fault"))),
                         base_values={"logprobs": True, "max_tokens": 3}, samples_per_cell=2,
                         fixed_seed=4)
        result = run_grid(grid, connect(fault))
        again = GridResult.from_dict(json.loads(result.to_json()))
        assert again.grid.to_dict() == grid.to_dict()
        assert [c.cell.settings for c in again.cells] == [c.cell.settings for c in result.cells]
        assert again.to_frame().equals(result.to_frame())
        assert again.cells_frame().equals(result.cells_frame())
        failed = again.cells[1]
        assert (failed.status, failed.error.kind) == ("failed", "ModelNotFound")
        assert failed.error.hint == result.cells[1].error.hint
        assert again.cells[0].samples[0].metrics.mean_logprob == pytest.approx(-0.2)

    def test_a_reopened_run_reruns_its_failed_cells(self):
        server = FaultServer(faults_by_model={"fault-model-b": "503"})
        with server:
            grid = chat_grid(Axis("model", ("fault-model", "fault-model-b")))
            saved = json.loads(run_grid(grid, connect(server)).to_json())
            server.faults_by_model.clear()
            reopened = GridResult.from_dict(saved)
            again = rerun_failed(reopened.grid, reopened, connect(server))
        assert [r.status for r in again.cells] == ["ok", "ok"]
        assert server.request_count == 3

    def test_updates_while_running_and_settling_an_interrupted_run(self, fault):
        grid = chat_grid(Axis.parse("seed", "1, 2, 3"))
        live = GridResult.starting(grid, grid.cells())
        assert [r.status for r in live.cells] == ["pending"] * 3
        run_grid(grid, connect(fault), cells=grid.cells()[:1], on_cell_done=live.update)
        assert [r.status for r in live.cells] == ["ok", "pending", "pending"]
        assert live.settle() and live.cancelled
        assert [r.status for r in live.cells] == ["ok", "cancelled", "cancelled"]
        assert not live.settle()


class TestDifferences:
    def test_settings_and_texts_against_a_baseline(self):
        server = FaultServer(reply=lambda body, i: "same text" if body.get("temperature") == 0
                             else "other words entirely")
        with server:
            grid = chat_grid(Axis.parse("temperature", "0, 1"), Axis.parse("seed", "1, 2"))
            result = run_grid(grid, connect(server))
        found = result.differences("c1")
        assert found["c1"] == Difference({}, True, 1.0)
        assert found["c2"] == Difference({"seed": (2, 1)}, True, 1.0)
        far = found["c4"]
        assert far.settings == {"temperature": (1.0, 0.0), "seed": (2, 1)}
        assert far.same_text is False and 0 < far.similarity < 1

    def test_cells_without_samples_have_no_text_verdict(self, fault):
        grid = chat_grid(Axis("model", ("fault-model", "missing")))
        found = run_grid(grid, connect(fault)).differences("c1")
        assert (found["c2"].same_text, found["c2"].similarity) == (None, None)
        assert found["c2"].settings == {"model": (ModelRef("missing"), ModelRef("fault-model"))}


# -- running against the real local server ------------------------------------------------

def test_local_server_greedy_cells_agree_across_seeds(local_base_url):
    conn = Connection("local-test", kind="custom", base_url=local_base_url, max_retries=0,
                      timeout=120)
    grid = Grid("chat", {"temperature": 0, "max_tokens": 6},
                [Axis.parse("seed", "1, 2"), Axis.parse("top_p", "1, 0.9")],
                model="smollm2-135m-instruct", connection="local-test", messages=MESSAGES)
    result = run_grid(grid, lambda name: conn, max_workers=4)
    assert [r.status for r in result.cells] == ["ok"] * 4, [str(r.error) for r in result.failed]
    texts = {r.texts[0] for r in result.cells}
    assert len(texts) == 1 and texts.pop().strip()
    assert all(r.usage["completion_tokens"] <= 6 for r in result.cells)


# -- timing, token counts, likeness -------------------------------------------------------

def test_a_cell_waiting_for_its_turn_records_the_wait_apart_from_its_request():
    server = FaultServer(latency=0.2)
    with server:
        grid = chat_grid(Axis.parse("seed", "1, 2, 3"))
        result = run_grid(grid, connect(server), max_workers=3, per_model_limit=1)
    queued = [r.queued for r in result.cells]
    assert queued[0] < 0.1 and 0.15 < queued[1] < queued[2], queued
    assert queued[2] >= 2 * 0.2 - 0.02
    assert all(0.18 < r.latency < 0.4 for r in result.cells), [r.latency for r in result.cells]
    frame = result.cells_frame()
    assert list(frame["cell_queued"]) == queued and frame["cell_queued"].dtype.kind == "f"
    again = GridResult.from_dict(json.loads(result.to_json()))
    assert [r.queued for r in again.cells] == queued


def test_each_choice_of_one_request_counts_its_own_tokens_from_logprobs(fault):
    grid = chat_grid(samples_per_cell=3, base_values={"max_tokens": 9, "logprobs": True})
    (cell,) = run_grid(grid, connect(fault)).cells
    assert cell.requests == 1
    assert [s.tokens for s in cell.samples] == [len(s.text.split(" ")) for s in cell.samples]
    assert all("".join(s.token_texts) == s.text for s in cell.samples)


def test_without_logprobs_a_remote_choice_count_is_unknown_not_made_up(fault):
    (cell,) = run_grid(chat_grid(samples_per_cell=2), connect(fault)).cells
    assert [s.tokens for s in cell.samples] == [None, None]
    assert cell.usage["completion_tokens"] > 0


def words_by_seed(body: dict, index: int) -> str:
    return "the sea is calm" if body.get("seed") in (1, 3) else "the sea is rough today"


def test_cells_with_the_same_text_are_grouped_and_divergence_is_found_per_token():
    server = FaultServer(reply=words_by_seed)
    with server:
        grid = chat_grid(Axis.parse("seed", "1, 2, 3, 4, 5"),
                         base_values={"max_tokens": 9, "logprobs": True})
        result = run_grid(grid, connect(server))
    groups = [[r.cell.id for r in group] for group in result.same_text_groups()]
    assert groups == [["c2", "c4", "c5"], ["c1", "c3"]]
    found = result.differences("c1")
    assert found["c3"].divergence is None
    parted = found["c2"].divergence
    assert (parted.unit, parted.position, parted.prefix) == ("token", 3, "the sea is")
    assert (parted.this, parted.base) == (" rough", " calm")
    # The fault server gives the token at position p the log-probability -0.1 * (p % 5 + 1).
    assert parted.this_probability == pytest.approx(2.718281828 ** -0.4)
    assert parted.base_probability == pytest.approx(2.718281828 ** -0.4)


def test_local_choices_count_their_tokens_with_the_servers_tokenizer(local_env):
    from playground.connection import LOCAL_NAME
    conn = Connection(LOCAL_NAME, kind="local", max_retries=0, timeout=120)
    grid = Grid("chat", {"temperature": 1.0, "max_tokens": 5}, [], samples_per_cell=2,
                fixed_seed=3, model="smollm2-135m-instruct", connection=LOCAL_NAME,
                messages=MESSAGES)
    (cell,) = run_grid(grid, lambda name: conn).cells
    assert cell.status == "ok", cell.error
    assert cell.requests == 1
    assert all(isinstance(s.tokens, int) and 1 <= s.tokens <= 6 for s in cell.samples), \
        [s.tokens for s in cell.samples]
