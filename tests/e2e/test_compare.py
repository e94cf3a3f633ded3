"""Compare in a real browser, on the local model: a 2×2 grid, and a run cancelled halfway."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.streamlit_page import settle as wait_until_idle

ROOT = Path(__file__).resolve().parents[2]


def settle(page: Page) -> None:
    wait_until_idle(page, timeout_ms=120_000)


def open_compare(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare")
    settle(page)


def fill(page: Page, role: str, name: str, text: str) -> None:
    """Type into a field and leave it, which is when Streamlit takes the value."""
    field = page.get_by_role(role, name=name, exact=True)
    field.fill(text)
    field.press("Tab")
    settle(page)


def set_up(page: Page, *, temperatures: str, seeds: str, max_tokens: int) -> None:
    open_compare(page)
    fill(page, "textbox", "User message", "Name three colours.")
    fill(page, "textbox", "Temperature", temperatures)
    fill(page, "textbox", "Seed", seeds)
    page.get_by_text("Fixed settings: the same in every cell").click()
    fill(page, "spinbutton", "Max tokens", str(max_tokens))


def test_a_two_by_two_grid_on_the_local_model(page: Page):
    set_up(page, temperatures="0, 1.2", seeds="1, 2", max_tokens=12)
    expect(page.get_by_test_id("stMetric").filter(has_text="Cells")).to_contain_text("4")
    page.get_by_role("button", name="Run grid").click()
    expect(page.get_by_text("4 cells: 4 ok")).to_be_visible(timeout=120_000)
    settle(page)
    codes = page.get_by_test_id("stCode")
    expect(codes).to_have_count(4)  # Streamlit draws code blocks once their script has loaded
    texts = codes.all_inner_texts()
    assert len(texts) == 4, texts
    # Side by side, a column per temperature and a row per seed: cells 1 and 3 are greedy.
    assert texts[0] == texts[2] and texts[0].strip(), texts
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 4200})  # the main area scrolls itself
    page.screenshot(path=shots / "compare.png")


def test_cancel_keeps_the_finished_cells(page: Page):
    set_up(page, temperatures="1.2", seeds="1:6:1", max_tokens=40)
    # One cell at a time, so the run is surely halfway when Cancel is clicked (by default
    # the local model's batch takes all six at once).
    fill(page, "spinbutton", "Concurrent requests", "1")
    page.get_by_role("button", name="Run grid").click()
    # The progress line's pace counts the finished cell's tokens.
    first_done = re.compile(r"^1 of 6 cells done · [\d,.]+ tokens/s · \d+ s$")
    expect(page.get_by_text(first_done)).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Cancelled:")).to_be_visible(timeout=60_000)
    settle(page)
    summary = page.get_by_text("cells did not run").inner_text()
    assert "Cancelled" in summary
    expect(page.get_by_role("button", name="cells not run")).to_be_visible()
    expect(page.get_by_test_id("stCode").first).to_be_visible()
    codes = page.get_by_test_id("stCode").count()
    assert 1 <= codes < 6, codes
    expect(page.get_by_test_id("stException")).to_have_count(0)
