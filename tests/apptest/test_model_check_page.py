"""Check this model on the Models page, against the emulator of today's OpenAI API: the cost
first, nothing sent before the confirmation, and what is found applied on Chat from then on."""

from __future__ import annotations

import pytest

from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator
from playground import model_check
from playground.ledger import queries
from playground.ledger.schema import DB_FILENAME
from playground.ledger.writer import shared_ledger
from tests.apptest.test_todays_api import control, on_emulator
from ui.common import pages

HOUSE_CHAT = EmulatedModel("house-chat")  # no built-in profile: only a check tells


@pytest.fixture
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_CHAT))
    with server:
        yield server


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_cost_comes_first_and_nothing_is_sent_before_the_confirmation(app, emulator):
    page = on_emulator(app, emulator.base_url, pages.MODELS, "house-chat")
    button(page, "Check this model").click().run()
    shown = "\n".join(w.value.replace("\\", "") for w in page.warning)
    assert "Checking house-chat sends 11 requests of one token each" in shown
    assert "cost unknown" in shown
    button(page, "Cancel").click().run()
    assert not page.warning and emulator.posts() == []


def test_a_check_finds_what_the_model_refuses_and_chat_applies_it(app, emulator, data_dir):
    page = on_emulator(app, emulator.base_url, pages.CHAT, "house-chat")
    assert not control(page, "reasoning_effort").disabled  # nothing known yet
    page = on_emulator(app, emulator.base_url, pages.MODELS, "house-chat")
    button(page, "Check this model").click().run()
    button(page, "Send 11 requests").click().run()
    assert not page.exception, page.exception
    assert len(emulator.posts()) == len(model_check.PROBES) - 1
    assert len(emulator.posts("/v1/completions")) == 1
    (table,) = [frame.value.set_index("Parameter") for frame in page.dataframe
                if "Parameter" in frame.value.columns]
    assert table.loc["reasoning_effort", "Verdict"] == "refused (remembered)"
    assert table.loc["temperature", "Verdict"] == "accepted"
    assert "unsupported_parameter" not in table.loc["reasoning_effort", "What the server said"]

    page = on_emulator(app, emulator.base_url, pages.CHAT, "house-chat")
    assert control(page, "reasoning_effort").disabled
    assert control(page, "verbosity").disabled
    assert not control(page, "temperature").disabled
    recorded = shared_ledger(data_dir / DB_FILENAME)
    assert recorded.query(queries.by_page).set_index("page").loc["Models", "requests"] == len(
        model_check.PROBES)
