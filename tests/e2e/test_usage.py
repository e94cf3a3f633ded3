"""Requests made on two pages, then counted, charted, listed and exported on the Usage page."""

from __future__ import annotations

import csv
import io
import os

import pytest
from playwright.sync_api import Page, expect

from e2e.streamlit_page import IDLE, open_page, settle, streamlit_app

DAMAGED = b"a page of garbage where the history was " * 200


@pytest.fixture(scope="module")
def own_app_url(local_base_url, tmp_path_factory):
    """An app of this module's own, whose history file starts out damaged: the requests
    counted here are then only this module's (other journeys share the session's app)."""
    folder = tmp_path_factory.mktemp("e2e-usage")
    (folder / "data").mkdir()
    (folder / "data" / "history.sqlite3").write_bytes(DAMAGED)
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("OPENAI_") and name != "PLAYGROUND_DB"}
    environment.update(PLAYGROUND_LOCAL_URL=local_base_url,
                       PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url, folder / "data"


@pytest.fixture
def own_page(browser, own_app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(own_app_url[0])
    page.wait_for_selector(IDLE, timeout=60_000)
    yield page
    context.close()


def metric(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_a_damaged_history_is_set_aside_and_told_once(own_page: Page, own_app_url):
    page, folder = own_page, own_app_url[1]
    expect.set_options(timeout=60_000)
    sidebar = page.get_by_test_id("stSidebar")
    [aside] = [path for path in folder.iterdir() if ".corrupt-" in path.name]
    assert aside.read_bytes() == DAMAGED  # kept whole
    expect(sidebar.get_by_text("was damaged")).to_be_visible()
    expect(sidebar.get_by_text(str(aside))).to_be_visible()
    sidebar.get_by_text("Data", exact=True).click()
    expect(sidebar.get_by_text(f"Usage history: {folder / 'history.sqlite3'}")).to_be_visible()
    expect(sidebar.get_by_role("textbox")).to_have_count(0)  # nothing to type a path into
    open_page(page, "Usage")
    expect(sidebar.get_by_text("was damaged")).to_have_count(0)  # told once
    expect(page.get_by_text("No requests recorded yet")).to_be_visible()
    expect(page.get_by_text(aside.name)).to_be_visible()


def test_requests_on_two_pages_are_counted_charted_and_exported(own_page: Page):
    page = own_page
    expect.set_options(timeout=60_000)
    sidebar = page.get_by_test_id("stSidebar")
    open_page(page, "Usage")
    expect(page.get_by_text("No requests recorded yet")).to_be_visible()

    open_page(page, "Completions")
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Three colours:")
    page.get_by_role("spinbutton", name="Max tokens", exact=True).fill("8")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Completion tokens")).to_be_visible()
    settle(page)

    open_page(page, "Models")
    sidebar.get_by_role("button", name="Test connection").click()
    expect(sidebar.get_by_text("Connected:")).to_be_visible()
    settle(page)
    expect(sidebar.get_by_text("This session: 2 requests")).to_be_visible()

    open_page(page, "Usage")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(metric(page, "Requests")).to_have_text("2")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()  # tokens over time
    page.get_by_role("tab", name="By model and page").click()
    by_page = page.locator(".js-plotly-plot").filter(has_text="Test connection")
    expect(by_page).to_contain_text("Completions")

    page.get_by_role("tab", name="Requests").click()
    table = page.get_by_test_id("stDataFrame").last
    expect(table).to_be_visible()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 35 + 17)  # the second row's checkbox
    settle(page)
    expect(page.get_by_role("heading", name="Request #1")).to_be_visible()
    expect(page.get_by_test_id("stJson").first).to_contain_text("Three colours:")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download 2 requests as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [row["page"] for row in rows] == ["Completions", "Test connection"]  # oldest first
    assert int(rows[0]["completion_tokens"]) > 0
