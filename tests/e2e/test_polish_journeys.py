"""A new user's stumbles, in a real browser: a dead connection told once, and a base model
that says what it is good for. Screenshots go to test-results/."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.streamlit_page import open_page, settle
from fault_server import closed_port_url

SHOTS = Path(__file__).resolve().parents[2] / "test-results"


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / f"polish-{name}.png", full_page=True)


def _combobox(page: Page, label: str, option: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def test_a_dead_openai_connection_is_told_once_in_the_sidebar_and_once_on_the_page(page: Page):
    sidebar = page.get_by_test_id("stSidebar")
    _combobox(page, "Connection", "OpenAI")
    sidebar.get_by_role("textbox", name="Base URL").fill(closed_port_url())
    sidebar.get_by_role("textbox", name="Base URL").press("Enter")
    settle(page)
    sidebar.get_by_role("textbox", name="API key").fill("sk-not-a-real-key")
    sidebar.get_by_role("textbox", name="API key").press("Enter")
    settle(page)
    sidebar.get_by_role("button", name="Test connection").click()
    settle(page)
    expect(sidebar.get_by_test_id("stAlertContentError")).to_have_count(1)
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Hello")
    page.get_by_role("button", name="Run anyway").or_(
        page.get_by_role("button", name="Run", exact=True)).first.click()
    settle(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("No model to send to: OpenAI could not list its models")
           ).to_be_visible()
    expect(main.get_by_text("Correct the marked fields")).to_have_count(0)
    expect(main.get_by_text("Choose a model.")).to_have_count(0)
    _shot(page, "dead-connection")


def test_a_base_model_chosen_for_chat_says_what_it_is_good_for(page: Page):
    open_page(page, "Chat")
    _combobox(page, "Model", "gemma-3-270m")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("A base model: trained to continue text")).to_be_visible()
    _shot(page, "base-model-in-chat")
