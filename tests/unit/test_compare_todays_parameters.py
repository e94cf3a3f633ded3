"""Compare with today's parameters: reasoning effort and verbosity as axes, grids sent as each
model takes them, refusals foreseen before sending and remembered after, against the
emulator of today's OpenAI API."""

from __future__ import annotations

import pytest

from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator
from playground import capabilities
from playground.compare import Axis, Grid, accepts_of, axis_names, estimate, run_grid
from playground.connection import Connection
from playground.errors import InvalidParameters
from playground.refusals import RefusalStore

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
HOUSE_CHAT = EmulatedModel("house-chat")  # no built-in profile: learned from the server only


@pytest.fixture
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_CHAT))
    with server:
        yield server


def connection(emulator) -> Connection:
    return Connection("Emulator", base_url=emulator.base_url, api_key="sk-test", max_retries=0)


def grid(model: str, axes: list[Axis], **fixed) -> Grid:
    return Grid("chat", fixed, axes, model=model, connection="Emulator", messages=MESSAGES)


# --- axes ----------------------------------------------------------------------------------

def test_reasoning_effort_and_verbosity_are_axes_of_words():
    assert Axis.parse("reasoning_effort", "low, HIGH; \"none\"").values == ("low", "high", "none")
    assert Axis.parse("verbosity", "low medium high").values == ("low", "medium", "high")
    assert Axis.parse("max_completion_tokens", "256, 1024.0").values == (256, 1024)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("reasoning_effort", "low, extreme", "'extreme' is not one of none, minimal, low"),
    ("verbosity", "0:2:1", "'0:2:1' is not one of low, medium, high"),
    ("verbosity", "", "needs at least one value"),
])
def test_a_word_the_parameter_does_not_take_is_refused_by_name(name, text, message):
    with pytest.raises(InvalidParameters) as caught:
        Axis.parse(name, text)
    assert message in caught.value.errors[0].message


def test_the_completions_endpoint_has_no_chat_only_axes():
    assert {"reasoning_effort", "verbosity", "max_completion_tokens"} & set(
        axis_names("completions")) == set()
    completions = Grid("completions", {}, [Axis.parse("reasoning_effort", "low")], model="m",
                       connection="c", prompt="Once")
    with pytest.raises(InvalidParameters, match="/v1/completions does not take reasoning_effort"):
        completions.check()


def test_the_estimate_bounds_tokens_by_max_completion_tokens():
    figures = estimate(grid("gpt-5", [Axis.parse("max_completion_tokens", "100, 300")],
                            max_tokens=64), prompt_tokens=10)
    assert figures.max_completion_tokens == 400
    fixed = estimate(grid("gpt-5", [Axis.parse("reasoning_effort", "low, high")],
                          max_completion_tokens=500), prompt_tokens=10)
    assert fixed.max_completion_tokens == 1000


# --- sending -------------------------------------------------------------------------------

def test_an_effort_by_verbosity_grid_on_a_reasoning_model(emulator, tmp_path):
    conn = connection(emulator)
    effort_by_verbosity = grid("gpt-5", [Axis.parse("reasoning_effort", "minimal, high"),
                                         Axis.parse("verbosity", "low, high")], max_tokens=500)
    result = run_grid(effort_by_verbosity, lambda name: conn,
                      refusals=RefusalStore(tmp_path / "h.sqlite3"))
    assert [cell.status for cell in result.cells] == ["ok"] * 4, [c.error for c in result.cells]
    sent = emulator.posts()
    assert sorted((body["reasoning_effort"], body["verbosity"]) for body in sent) == [
        ("high", "high"), ("high", "low"), ("minimal", "high"), ("minimal", "low")]
    assert all(body["max_completion_tokens"] == 500 and "max_tokens" not in body
               for body in sent)
    reasoning = [cell.usage["completion_tokens"] for cell in result.cells]
    assert reasoning[0] < reasoning[2]  # more effort, more (billed) tokens


def test_a_cells_refusal_is_remembered_and_foreseen_next_time(emulator, tmp_path):
    conn = connection(emulator)
    store = RefusalStore(tmp_path / "h.sqlite3")
    hot = grid("house-chat", [Axis.parse("reasoning_effort", "low")])
    assert capabilities.foreseen("chat", [("house-chat", hot.first_request_values(
        hot.cells()[0]))], lambda model: accepts_of(conn, model, store)) == []
    (cell,) = run_grid(hot, lambda name: conn, refusals=store).cells
    assert cell.status == "failed" and cell.error.kind == "BadRequest"
    (learned,) = store.for_model(conn, "house-chat")
    assert (learned.param, learned.code) == ("reasoning_effort", "unsupported_parameter")
    (again,) = capabilities.foreseen(
        "chat", [("house-chat", hot.first_request_values(hot.cells()[0]))],
        lambda model: accepts_of(conn, model, store))
    assert again.refusal.param == "reasoning_effort" and again.refusal.learned


def test_without_a_store_the_built_in_profile_still_applies(emulator):
    conn = connection(emulator)
    (cell,) = run_grid(grid("o4-mini", [Axis.parse("max_tokens", "300")]),
                       lambda name: conn).cells
    assert cell.status == "ok", cell.error
    assert emulator.posts()[-1]["max_completion_tokens"] == 300


# --- foreseen refusals ---------------------------------------------------------------------

def test_foreseen_refusals_count_the_cells_and_skip_what_is_not_sent():
    conn = Connection("OpenAI", kind="openai", base_url="https://api.openai.com/v1")

    def known(model):
        return capabilities.Capabilities(model, capabilities.profile_for(conn, model))

    requests = [
        ("gpt-5.1", {"temperature": 0.5, "reasoning_effort": "none"}),
        ("gpt-5.1", {"temperature": 0.5, "reasoning_effort": "low"}),
        ("gpt-5.1", {"temperature": 0.5, "reasoning_effort": "high"}),
        ("o4-mini", {"temperature": 1.0, "max_tokens": 64}),  # a default, and a rename
        ("o4-mini", {"reasoning_effort": "minimal"}),
    ]
    found = capabilities.foreseen("chat", requests, known)
    assert [(item.model, item.refusal.param, item.requests) for item in found] == [
        ("gpt-5.1", "temperature", 1), ("gpt-5.1", "temperature", 1),
        ("o4-mini", "reasoning_effort", 1)]
    assert 'Set reasoning effort to "none"' in found[0].refusal.way_forward
    assert found[2].refusal.way_forward == "Use one of low, medium, high."
