"""The Completions page in a real browser: choices with token probabilities, Stop, links."""

from __future__ import annotations

from urllib.parse import urlencode

from playwright.sync_api import Page, expect

from e2e.streamlit_page import settle
from playground import presets

GEMMA = "gemma-3-270m"


def choose_model(page: Page, model: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("combobox", name="Model", exact=True).click()
    page.get_by_role("option", name=model, exact=True).click()
    settle(page)


def number(page: Page, label: str, value: int) -> None:
    page.get_by_role("spinbutton", name=label, exact=True).fill(str(value))


def test_two_choices_with_token_probabilities(page: Page):
    choose_model(page, GEMMA)
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("The capital of France is")
    number(page, "Max tokens", 5)
    number(page, "Choices (n)", 2)
    page.get_by_text("More parameters").click()
    number(page, "Seed", 1)
    number(page, "Log-probabilities", 3)
    prompt.press("Control+Enter")  # runs the form from the keyboard

    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Choice 1", exact=True)).to_be_visible()
    expect(main.get_by_text("Choice 2", exact=True)).to_be_visible()
    views = page.get_by_test_id("stHtml")
    expect(views).to_have_count(2)
    settle(page)
    for view in views.all():
        tokens = view.locator("span.token.generated")
        expect(tokens).to_have_count(5)
        title = tokens.first.get_attribute("title")
        assert "p = " in title and "Most likely here:" in title
    expect(main.get_by_text("mean log-probability")).to_have_count(2)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_stop_keeps_what_a_stream_had_sent(page: Page):
    choose_model(page, GEMMA)
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Chapter one. It was a dark")
    number(page, "Max tokens", 400)
    page.get_by_text("Stream", exact=True).click()
    page.get_by_role("button", name="Run").click()
    live = page.get_by_test_id("stCode").first
    expect(live).to_contain_text(" ")  # a few words have arrived
    page.get_by_role("button", name="Stop", exact=True).click()
    settle(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Stopped. What arrived before Stop is shown.")).to_be_visible()
    text = page.get_by_test_id("stCode").first.inner_text()
    assert text.strip()
    expect(main.get_by_text("finish_reason: none (cut short)")).to_be_visible()


def test_a_link_restores_prompt_and_settings(page: Page, app_url):
    preset = presets.Preset("Linked", "completions", model=GEMMA, prompt="Linked prompt",
                            values={"temperature": 0.4, "stop": ["\n"]})
    page.goto(f"{app_url}/?{urlencode(presets.to_query_params(preset))}")
    settle(page)
    expect(page.get_by_role("textbox", name="Prompt", exact=True)).to_have_value("Linked prompt")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Model", exact=True)).to_have_value(GEMMA)
    expect(page.get_by_role("slider", name="Temperature")).to_have_value("0.4")
