"""A reply stopped mid-stream on the Chat page: kept, marked, and counted in the sidebar."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.streamlit_page import open_page, settle


def test_a_stopped_reply_is_kept_marked_and_counted_at_once(page: Page):
    sidebar = page.get_by_test_id("stSidebar")
    open_page(page, "Chat")
    expect(sidebar.get_by_text("This session: no requests yet")).to_be_visible()
    max_tokens = page.get_by_role("spinbutton", name="Max tokens", exact=True)
    max_tokens.fill("400")
    max_tokens.press("Enter")
    settle(page)
    # SmolLM2's end-of-text tokens banned: its story runs the whole 400 tokens, so a fast
    # machine cannot finish it before Stop is clicked
    page.get_by_text("More parameters").click()
    bias = page.get_by_role("textbox", name="Logit bias", exact=True)
    bias.fill("0 -100\n2 -100\n4 -100")
    bias.press("Control+Enter")
    settle(page)
    page.get_by_test_id("stChatInputTextArea").fill("Tell me a very long story about a fox.")
    page.get_by_test_id("stChatInputTextArea").press("Enter")
    live = page.get_by_test_id("stChatMessage").nth(1).get_by_test_id("stCode")
    expect(live).to_contain_text(" ")  # a few words have arrived
    page.get_by_role("button", name="Stop", exact=True).click()
    settle(page)
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply.get_by_text("Incomplete: stopped.")).to_be_visible()
    expect(reply.get_by_text("finish: none (stopped)")).to_be_visible()
    expect(sidebar.get_by_text("This session: 1 request")).to_be_visible(timeout=2_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
