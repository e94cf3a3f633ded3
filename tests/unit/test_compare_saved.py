"""Saved Compare runs: stored next to the usage ledger, read back whole, versioned apart."""

from __future__ import annotations

import json
import sqlite3

import pytest

from playground.compare import (
    Axis,
    CellResult,
    Grid,
    GridResult,
    RunStore,
    Sample,
    SavedError,
    form_of,
    saved,
)
from playground.connection import Connection
from playground.errors import PlaygroundError
from playground.ledger.records import UsageRecord
from playground.ledger.schema import SCHEMA_VERSION, schema_version
from playground.ledger.writer import Ledger

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def a_result(*, text: str = "Blue.") -> GridResult:
    """A finished two-cell run, built by hand: one cell ok, one failed."""
    grid = Grid("chat", {"max_tokens": 4}, [Axis.parse("temperature", "0, 1.2")],
                model="m", connection="Local models", messages=MESSAGES, fixed_seed=3)
    ok, failed = grid.cells()
    return GridResult(grid, [
        CellResult(ok, "ok", [Sample(0, text, "stop", [-0.5, -1.5], 2, 0.2)], latency=0.25,
                   usage={"prompt_tokens": 9, "completion_tokens": 2}, requests=1),
        CellResult(failed, "failed", error=SavedError("ServerFailed", "The server failed (503).",
                                                      "Try again later."), requests=1),
    ], wall_time=0.3)


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "history.sqlite3")


def test_save_list_load_delete(store):
    result = a_result()
    first = store.save(result, "  greedy   vs hot ")
    second = store.save(result, "")
    assert [(run.id, run.name) for run in store.runs()] == [(second, "Untitled run"),
                                                            (first, "greedy vs hot")]
    run = store.runs()[1]
    assert (run.endpoint, run.cells, run.ok, run.failed) == ("chat", 2, 1, 1)
    assert run.title.startswith(f"#{first} greedy vs hot · ")
    assert "2 cells, 1 ok, 1 failed" in run.title

    loaded = store.load(first)
    assert loaded.grid.to_dict() == result.grid.to_dict()
    assert loaded.cells_frame().equals(result.cells_frame())
    assert loaded.cells[0].samples[0].metrics.perplexity == pytest.approx(2.718281828)
    assert (loaded.cells[1].error.kind, loaded.cells[1].error.hint) == ("ServerFailed",
                                                                        "Try again later.")
    store.delete(first)
    assert [run.id for run in store.runs()] == [second]
    with pytest.raises(PlaygroundError, match=f"no saved run #{first}"):
        store.load(first)


def test_runs_share_the_ledger_file_without_touching_its_schema(tmp_path):
    path = tmp_path / "history.sqlite3"
    store = RunStore(path)
    store.save(a_result(), "before the ledger")
    ledger = Ledger(path)
    ledger.record(UsageRecord.from_error(
        PlaygroundError("refused"), endpoint="chat", request={"model": "m", "messages": MESSAGES},
        page="Compare", connection=Connection("Local models", kind="local")))
    assert ledger.flush()
    assert ledger.count() == 1 and len(store.runs()) == 1
    with sqlite3.connect(path) as db:
        assert schema_version(db) == SCHEMA_VERSION
        assert saved.schema_version(db) == saved.SCHEMA_VERSION
    ledger.close()


def test_a_file_from_a_newer_version_is_refused_not_changed(store):
    store.save(a_result(), "kept")
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 99, '')",
                   (saved.SCHEMA_NAME,))
    with pytest.raises(PlaygroundError, match="newer version") as raised:
        store.runs()
    assert raised.value.hint
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM compare_runs").fetchone() == (1,)


def test_secrets_never_reach_the_file(store):
    key = "sk-test-0123456789abcdefghij"
    result = a_result(text=f"my key is {key}")
    result.cells[1].error = SavedError("AuthenticationFailed", "The key secret-value-12 failed.")
    run_id = store.save(result, "leaky", secrets=["secret-value-12"])
    raw = store.path.read_bytes()
    assert key.encode() not in raw and b"secret-value-12" not in raw
    assert "[redacted]" in store.load(run_id).cells[1].error.message


def test_an_unreadable_run_or_file_is_a_clear_error(store, tmp_path):
    run_id = store.save(a_result(), "soon broken")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE compare_runs SET data = '{\"grid\": {}}' WHERE id = ?", (run_id,))
    with pytest.raises(PlaygroundError, match=f"run #{run_id} cannot be read") as raised:
        store.load(run_id)
    assert "Delete it" in raised.value.hint

    with pytest.raises(PlaygroundError, match="could not be opened"):
        RunStore(tmp_path).runs()  # a folder, not a database file


def test_the_form_of_a_grid_gives_back_what_was_typed():
    grid = Grid("chat", {"max_tokens": 12, "stop": ["\n"]},
                [Axis.parse("temperature", "0:1:0.5"), Axis("model", ("m", "n @ Other"))],
                samples_per_cell=3, sampling="repeat", fixed_seed=7, model="m",
                connection="Local", max_cells=60,
                messages=[{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Hi"}])
    form = form_of(grid)
    assert (form.system, form.user, form.messages_json) == ("Be brief.", "Hi", None)
    assert form.axes == {"temperature": "0, 0.5, 1", "model": ["m", "n @ Other"]}
    assert form.fixed == {"max_tokens": 12, "stop": ["\n"]}
    assert (form.samples_per_cell, form.sampling, form.fixed_seed, form.max_cells) == (
        3, "repeat", 7, 60)
    assert Axis.parse("temperature", form.axes["temperature"]) == grid.axes[0]


def test_a_longer_conversation_goes_back_as_json():
    few_shot = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}]
    form = form_of(Grid("chat", {}, [], model="m", connection="c", messages=few_shot))
    assert json.loads(form.messages_json) == few_shot and form.user == ""
    completion = form_of(Grid("completions", {}, [], model="m", connection="c", prompt="Once"))
    assert (completion.prompt, completion.messages_json) == ("Once", None)
