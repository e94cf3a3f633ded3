"""Requests made on two pages, then counted, charted, listed and exported on the Usage page."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Page, expect

from e2e.streamlit_page import open_page, settle


def metric(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_requests_on_two_pages_are_counted_charted_and_exported(page: Page, tmp_path):
    sidebar = page.get_by_test_id("stSidebar")
    # A database of this test's own: other journeys share the server's default one.
    sidebar.get_by_text("Data", exact=True).click()
    database = sidebar.get_by_role("textbox", name="Usage database")
    database.fill(str(tmp_path / "journey.sqlite3"))
    database.press("Enter")
    settle(page)
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


def test_a_file_that_is_no_database_is_refused_and_the_page_keeps_working(page: Page, tmp_path):
    """The Usage page's fault: a usage database that cannot be used."""
    open_page(page, "Usage")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Data", exact=True).click()
    database = sidebar.get_by_role("textbox", name="Usage database")
    good = tmp_path / "kept.sqlite3"
    database.fill(str(good))
    database.press("Enter")
    settle(page)

    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list, not SQLite\n" * 50)
    database.fill(str(notes))
    database.press("Enter")
    settle(page)
    expect(sidebar.get_by_text("could not be opened: file is not a database")).to_be_visible()
    expect(database).to_have_value(str(good))  # the previous file is kept, and shown
    expect(page.get_by_text("No requests recorded yet")).to_be_visible()
    assert notes.read_text().startswith("shopping list")  # the user's file is untouched
