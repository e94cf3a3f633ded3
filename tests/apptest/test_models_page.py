"""The Model explorer: table, search, details, prices, and sending a model to a page."""

from __future__ import annotations

import csv
import re

import pytest

from ui.common import pages, state


@pytest.fixture
def models_page(app):
    app.switch_page(pages.MODELS).run()
    assert not app.exception, app.exception
    return app


def _button(at, label: str):
    return next(button for button in at.button if button.label == label)


def test_lists_the_local_models_with_what_is_known(models_page):
    table = models_page.dataframe[0].value
    assert {"smollm2-135m-instruct", "gemma-3-270m"} <= set(table["id"])
    smollm = table.set_index("id").loc["smollm2-135m-instruct"]
    assert smollm["context_length"] > 0
    assert "chat" in smollm["endpoints"] and "completions" in smollm["endpoints"]
    assert smollm["input_per_million"] == 0.0


def test_search_filters_the_table(models_page):
    models_page.text_input(key="models.search").input("GEMMA").run()
    assert list(models_page.dataframe[0].value["id"]) == ["gemma-3-270m"]
    models_page.text_input(key="models.search").input("no such model").run()
    assert models_page.dataframe[0].value.empty
    assert not models_page.exception


def test_details_show_retrieve_and_gguf_metadata(models_page):
    models_page.selectbox[-1].select("gemma-3-270m").run()
    details = models_page.json[0].value
    assert '"id": "gemma-3-270m"' in details
    assert '"context_length"' in details
    metrics = {metric.label: metric.value for metric in models_page.metric}
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", metrics["Context length"])
    assert metrics["Input $/1M tokens"] == "$0.000"
    captions = " ".join(caption.value.replace("\\", "") for caption in models_page.caption)
    assert "Endpoints: completions" in captions
    gguf = models_page.dataframe[1].value
    assert list(gguf.columns) == ["key", "value"] and len(gguf) > 0


def test_a_model_without_chat_cannot_be_sent_to_chat(models_page, recorder):
    assert not _button(models_page, "Open in Chat").disabled
    models_page.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    models_page.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        recorder.base_url).run()
    assert list(models_page.dataframe[0].value["id"]) == ["recorded-model"]
    assert _button(models_page, "Open in Chat").disabled
    assert not _button(models_page, "Open in Completions").disabled


@pytest.mark.parametrize("label, title", [("Open in Completions", "Completions"),
                                          ("Open in Compare", "Compare")])
def test_send_a_model_to_another_page(models_page, label, title):
    models_page.selectbox[-1].select("gemma-3-270m").run()
    _button(models_page, label).click().run()
    assert not models_page.exception, models_page.exception
    assert models_page.title[0].value == title
    assert models_page.sidebar.selectbox(key=state.MODEL).value == "gemma-3-270m"


def test_prices_are_seeded_editable_and_saved_to_the_data_folder(models_page, data_dir):
    editor = models_page.dataframe[-1].value
    assert {"gpt-4o", "gpt-4o-mini"} <= set(editor["model"])
    _button(models_page, "Save prices").click().run()
    assert not models_page.exception
    assert "Prices saved" in models_page.success[0].value
    with open(data_dir / "prices.csv", newline="") as file:
        rows = {row["model"]: row for row in csv.DictReader(file)}
    assert float(rows["gpt-4o"]["output_per_million"]) == 10.0


def test_a_broken_price_file_is_reported_and_the_page_still_works(app, data_dir):
    (data_dir / "prices.csv").write_text("model,input_per_million,output_per_million\nx,y,z\n")
    app.switch_page(pages.MODELS).run()
    assert not app.exception
    assert "could not be read" in app.error[0].value.replace("\\", "")
    assert "smollm2-135m-instruct" in set(app.dataframe[0].value["id"])
