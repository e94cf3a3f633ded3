"""Compare grids run for real: results, failures, concurrency, interruption, recording,
saving, differences, timing and token counts.

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
from playground.compare import Axis, Difference, Grid, GridResult, ModelRef, rerun_failed, run_grid
from playground.connection import Connection
from playground.recording import Recorder

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def chat_grid(*axes: Axis, **kwargs) -> Grid:
    kwargs.setdefault("base_values", {"max_tokens": 5})
    kwargs.setdefault("model", "fault-model")
    kwargs.setdefault("connection", "fault")
    return Grid("chat", axes=list(axes), messages=MESSAGES, **kwargs)


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

    def test_a_value_beyond_the_cells_model_is_named_before_anything_is_sent(self, fault):
        grid = chat_grid(Axis.parse("max_tokens", "100, 20000"), model="gpt-4o")
        with pytest.raises(errors.InvalidParameters) as raised:
            run_grid(grid, connect(fault))
        (problem,) = raised.value.errors
        assert problem.field == "max_tokens"
        assert "max_tokens axis value 20000" in problem.message and "16384" in problem.message
        assert fault.request_count == 0

    def test_the_local_server_takes_its_larger_ranges_in_a_grid(self, fault, monkeypatch):
        monkeypatch.setenv("PLAYGROUND_LOCAL_URL", fault.base_url)
        grid = chat_grid(Axis.parse("temperature", "0, 1"), base_values={
            "max_tokens": 3, "logprobs": True, "top_logprobs": 50})
        with pytest.raises(errors.InvalidParameters) as raised:  # 0 to 20 elsewhere
            run_grid(grid, connect(fault))
        assert [problem.field for problem in raised.value.errors] == ["top_logprobs"]
        result = run_grid(grid, connect(fault, kind="local"))
        assert [r.status for r in result.cells] == ["ok", "ok"]
        assert [r.body["top_logprobs"] for r in fault.requests] == [50, 50]


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

    @pytest.mark.parametrize("batch_sizes, rounds", [
        (None, 4), ({("local", "fault-model"): 2}, 2), ({("local", "fault-model"): 4}, 1),
        ({("local", "other-model"): 4}, 4), ({("local", "fault-model"): 0}, 4)],
        ids=["unknown: one at a time", "batch of 2", "batch of 4", "another model's batch",
             "a batch of 0 is one"])
    def test_local_cells_fill_their_models_batch(self, monkeypatch, batch_sizes, rounds):
        server = FaultServer(latency=0.5)
        with server:
            monkeypatch.setenv("PLAYGROUND_LOCAL_URL", server.base_url)
            conn = Connection("local", kind="local", max_retries=0, timeout=10)
            grid = chat_grid(Axis.parse("seed", "1, 2, 3, 4"), connection="local")
            result = run_grid(grid, lambda name: conn, max_workers=8, batch_sizes=batch_sizes)
        assert len(result.ok) == 4
        assert rounds * 0.5 <= result.wall_time < (rounds + 1) * 0.5, (
            f"four cells, at most {4 // rounds} in flight")

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
