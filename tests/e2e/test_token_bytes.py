"""Tokens split inside a character, in a real browser: the local model continues a line of
Hebrew on Completions (SmolLM2 splits "ש" and "ם" over two tokens each), and the token view
draws each letter whole, with the tokens' bytes in the hover title, and no replacement mark.

Hebrew rather than an emoji because the browser here has a Hebrew font and no emoji font:
the screenshot shows the letters, not empty boxes."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.streamlit_page import ROOT, settle


def test_letters_split_over_tokens_are_drawn_whole_with_their_bytes_on_hover(page: Page):
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("שלום שלום שלום שלום")
    page.get_by_role("spinbutton", name="Max tokens", exact=True).fill("12")
    temperature = page.get_by_role("slider", name="Temperature").first
    temperature.focus()
    for _ in range(20):  # from 1.0 down to 0 (greedy), one 0.05 step a key
        temperature.press("ArrowLeft")
    expect(temperature).to_have_value("0")
    page.get_by_text("More parameters").click()
    page.get_by_role("spinbutton", name="Log-probabilities", exact=True).fill("1")
    prompt.press("Control+Enter")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("mean log-probability")).to_be_visible(timeout=120_000)
    settle(page)

    view = main.locator(".token-view").first
    joined = view.locator("span.token.joined")
    expect(joined.first).to_have_text(" ש")
    expect(view.locator("span.token.joined", has_text="ם").first).to_be_visible()
    title = joined.first.get_attribute("title")
    assert "2 tokens, each part of a character" in title
    assert "Together: 20 d7 a9" in title  # a space and ש, as UTF-8
    assert "\ufffd" not in view.inner_text()
    expect(page.get_by_test_id("stException")).to_have_count(0)

    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    view.scroll_into_view_if_needed()
    joined.first.hover()
    page.screenshot(path=shots / "token-bytes.png")
