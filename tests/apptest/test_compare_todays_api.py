"""The Compare page against an emulator of today's OpenAI API: reasoning effort × verbosity
as a grid, limits sent as max_completion_tokens, today's parameters as fixed settings,
refusals foreseen before sending and remembered after a cell meets one."""

from __future__ import annotations

import pytest

from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator
from tests.apptest.test_todays_api import on_emulator
from ui.common import pages, response_format
from ui.compare.fixed_settings import RESPONSE_FORMAT

HOUSE_CHAT = EmulatedModel("house-chat")  # no built-in profile


@pytest.fixture
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_CHAT))
    with server:
        yield server


@pytest.fixture
def compare(app, emulator):
    def on(model: str, message: str = "What is the capital of France?"):
        page = on_emulator(app, emulator.base_url, pages.COMPARE, model)
        page.text_area(key="compare.user").input(message).run()
        return page
    return on


def run_grid(at):
    next(b for b in at.button if b.label == "Run grid").click().run()
    assert not at.exception, at.exception


def warnings(at) -> str:
    return "\n".join(w.value.replace("\\", "") for w in at.warning)


def vary(at, **axes: str):
    at.multiselect(key="compare.vary").set_value(list(axes)).run()
    for name, text in axes.items():
        at.text_input(key=f"compare.axis.{name}").input(text).run()
    assert not at.exception, at.exception


def test_reasoning_effort_by_verbosity_on_a_reasoning_model(compare, emulator):
    page = compare("gpt-5")
    vary(page, reasoning_effort="minimal, low", verbosity="low, high")
    assert page.number_input(key="compare.fixed.chat.max_tokens").value == 64
    assert not warnings(page)
    run_grid(page)
    sent = emulator.posts()
    assert sorted((body["reasoning_effort"], body["verbosity"]) for body in sent) == [
        ("low", "high"), ("low", "low"), ("minimal", "high"), ("minimal", "low")]
    assert all(body["max_completion_tokens"] == 64 and "max_tokens" not in body
               for body in sent)
    assert not page.error


def test_what_a_reasoning_model_refuses_is_said_before_sending(compare, emulator):
    page = compare("o4-mini")
    vary(page, temperature="1, 1.2", seed="1, 2")  # 1, the default, is not sent
    shown = warnings(page)
    assert "2 of 4 cells: o4-mini (o-series) refuses temperature while it reasons" in shown
    assert "Leave it at its default, or choose a model that does not reason" in shown
    assert not emulator.posts()


def test_todays_parameters_as_fixed_settings(compare, emulator):
    page = compare("gpt-5.1", "Name the capital of France, in JSON.")
    vary(page, temperature="0, 0.5")
    page.selectbox(key="compare.fixed.chat.reasoning_effort").set_value("none").run()
    page.radio(key=response_format.key(RESPONSE_FORMAT, "kind")).set_value("json_object").run()
    assert not warnings(page)  # temperature is taken at reasoning effort "none"
    run_grid(page)
    sent = emulator.posts()
    assert len(sent) == 2
    assert all(body["reasoning_effort"] == "none" and body["response_format"] ==
               {"type": "json_object"} for body in sent)
    assert sorted(body.get("temperature", 1) for body in sent) == [0, 0.5]


def test_a_schema_that_is_not_json_holds_the_grid_back_and_stays_typed(compare):
    page = compare("gpt-5.1")
    page.radio(key=response_format.key(RESPONSE_FORMAT, "kind")).set_value("json_schema").run()
    page.text_area(key=response_format.key(RESPONSE_FORMAT, "schema")).input("{oops").run()
    assert any("The schema is not JSON" in e.value for e in page.error)
    assert page.text_area(key=response_format.key(RESPONSE_FORMAT, "schema")).value == "{oops"
    assert next(b for b in page.button if b.label == "Run grid").disabled


def test_a_cells_refusal_is_remembered_and_foreseen_from_then_on(compare, emulator):
    page = compare("house-chat")
    vary(page, reasoning_effort="low, high")
    assert not warnings(page)  # nothing known yet about this model
    run_grid(page)
    assert len(emulator.posts()) == 2
    page.run()
    shown = warnings(page)
    assert "2 of 2 cells: The server refused reasoning_effort for house-chat" in shown


def test_a_value_beyond_the_models_range_is_named_before_sending(compare, emulator):
    page = compare("gpt-4.1")
    vary(page, max_tokens="100, 40000")
    run_grid(page)
    shown = "\n".join(e.value.replace("\\", "") for e in page.error)
    assert "max_tokens axis value 40000" in shown and "1 to 32768 for this model" in shown
    assert not emulator.posts()
