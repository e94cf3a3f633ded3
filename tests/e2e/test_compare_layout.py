"""The Compare results stay readable from 2 to 24 cells side by side: every output block
measured in the browser is at least 200 px wide, and a screenshot of each goes to
test-results/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.test_compare import set_up, settle

ROOT = Path(__file__).resolve().parents[2]
MIN_TEXT_WIDTH = 200


@pytest.mark.parametrize("cells, temperatures, seeds", [
    (2, "0, 1", "1"),
    (8, "0:1.4:0.2", "1"),
    (24, "0:1.4:0.2", "1, 2, 3"),
])
def test_side_by_side_text_is_never_squeezed(page: Page, cells, temperatures, seeds):
    set_up(page, temperatures=temperatures, seeds=seeds, max_tokens=6)
    expect(page.get_by_test_id("stMetric").filter(has_text="Cells")).to_contain_text(str(cells))
    page.get_by_role("button", name="Run grid").click()
    expect(page.get_by_text(f"{cells} cells: {cells} ok")).to_be_visible(timeout=300_000)
    settle(page)
    expect(page.get_by_role("radiogroup").filter(has_text="Side by side")
           .get_by_role("radio", name="Side by side")).to_be_checked()
    blocks = page.get_by_test_id("stCode")
    expect(blocks).to_have_count(cells)
    widths = [box["width"] for box in (block.bounding_box() for block in blocks.all())]
    assert min(widths) >= MIN_TEXT_WIDTH, widths
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 6000})  # the main area scrolls itself
    page.screenshot(path=shots / f"compare-{cells}-cells.png")
