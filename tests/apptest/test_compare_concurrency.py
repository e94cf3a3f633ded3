"""Compare's concurrent requests: by default enough to fill the batch each local model
decodes together (as ``GET /v1/models/{id}`` says), 4 elsewhere, and a number the user
typed is kept."""

from __future__ import annotations

import httpx2
import pytest

from fault_server import FaultServer
from ui.common import pages, state

WORKERS = "compare.workers"
SMOLLM2, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


@pytest.fixture
def decodes_together(local_base_url):
    """What the local server says a model decodes together (``parallel_sequences``)."""
    def ask(model: str) -> int:
        answer = httpx2.get(f"{local_base_url}/models/{model}", timeout=60)
        answer.raise_for_status()
        return answer.json()["parallel_sequences"]
    return ask


def workers(at):
    return at.number_input(key=WORKERS)


def help_text(at) -> str:
    return workers(at).help.replace("\\", "")


@pytest.fixture
def compare(app):
    """The Compare page on the local models, the sidebar on SmolLM2."""
    app.switch_page(pages.COMPARE).run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key=state.MODEL).value == SMOLLM2
    return app


def test_the_local_default_fills_the_models_batch(compare, decodes_together):
    smol, gemma = decodes_together(SMOLLM2), decodes_together(GEMMA)
    assert smol > 1 and gemma >= 1
    assert workers(compare).value == smol
    assert f"{SMOLLM2} decodes {smol} requests together on the local server" \
        in help_text(compare)
    assert "Until you type a number" in help_text(compare)

    compare.sidebar.selectbox(key=state.MODEL).select(GEMMA).run()
    assert workers(compare).value == gemma

    compare.multiselect(key="compare.vary").set_value(["model", "temperature"]).run()
    compare.multiselect(key="compare.axis.model").set_value([SMOLLM2, GEMMA]).run()
    assert workers(compare).value == smol + gemma, "enough to fill each model's batch"
    assert f"{SMOLLM2} {smol} + {GEMMA} {gemma} = {smol + gemma}" in help_text(compare)
    assert not compare.exception and not compare.error


def test_a_model_whose_details_cannot_be_fetched_falls_back_to_four(compare):
    compare.multiselect(key="compare.vary").set_value(["model"]).run()
    compare.multiselect(key="compare.axis.model").set_value([SMOLLM2, "no-such-model"]).run()
    assert not compare.exception, compare.exception
    assert workers(compare).value == 4
    assert "did not say how many requests no-such-model decodes" in help_text(compare)


def test_a_typed_number_is_kept(compare, decodes_together):
    workers(compare).set_value(3).run()
    assert workers(compare).value == 3
    compare.run()
    compare.text_area(key="compare.user").input("Describe the sea.").run()
    compare.sidebar.selectbox(key=state.MODEL).select(GEMMA).run()
    assert workers(compare).value == 3, "a change of model leaves what was typed"
    assert f"You typed this number; by default it would be {decodes_together(GEMMA)}" \
        in help_text(compare)
    compare.switch_page(pages.CHAT).run()
    compare.switch_page(pages.COMPARE).run()
    assert workers(compare).value == 3, "and so does a visit to another page"
    assert not compare.exception, compare.exception


def test_another_endpoint_gets_four(app, decodes_together):
    server = FaultServer()
    with server:
        app.switch_page(pages.COMPARE).run()
        app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
        app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
            server.base_url).run()
        assert app.sidebar.selectbox(key=state.MODEL).value == "fault-model"
        assert workers(app).value == 4
        assert "4, for an endpoint that does not say" in help_text(app)
        assert not app.exception, app.exception

        app.sidebar.selectbox(key=state.CONNECTION_NAME).select("Local models").run()
        assert workers(app).value == decodes_together(SMOLLM2), \
        "back on the local models, their default again"
