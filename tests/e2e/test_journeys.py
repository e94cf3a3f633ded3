"""A person's journeys through the app in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.streamlit_page import open_page, settle
from ui.common import pages

ROOT = Path(__file__).resolve().parents[2]


def selectbox(scope, label: str):
    return scope.get_by_role("combobox", name=label, exact=True)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of an st.selectbox by its label."""
    selectbox(page.get_by_test_id("stMain"), label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def sidebar_model(page: Page):
    return selectbox(page.get_by_test_id("stSidebar"), "Model")


@pytest.mark.parametrize("title", [title for _, title, _ in pages.ALL])
def test_every_page_opens_with_the_sidebar(page: Page, title):
    open_page(page, title)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    sidebar = page.get_by_test_id("stSidebar")
    expect(selectbox(sidebar, "Connection")).to_have_value("Local models")
    expect(sidebar_model(page)).to_have_value("smollm2-135m-instruct")


def test_choose_a_model_on_the_models_page_and_send_it_to_completions(page: Page):
    open_page(page, "Models")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    choose(page, "Inspect model", "gemma-3-270m")
    expect(page.get_by_test_id("stJson")).to_contain_text("gemma-3-270m")
    page.get_by_role("button", name="Open in Completions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Completions")
    settle(page)
    expect(sidebar_model(page)).to_have_value("gemma-3-270m")


def test_run_one_completion_on_the_local_model(page: Page):
    page.get_by_role("textbox", name="Prompt", exact=True).fill("The three primary colours are")
    page.get_by_role("spinbutton", name="Max tokens", exact=True).fill("12")
    page.get_by_role("button", name="Run").click()
    output = page.get_by_test_id("stCode").first
    expect(output).not_to_be_empty()
    settle(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Completion tokens")).to_be_visible()
    assert output.inner_text().strip()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=shots / "completions.png", full_page=True)
